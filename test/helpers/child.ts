// Starting a child process that speaks JSON lines on stdout, and ending it by pid.
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

export interface JsonLineChild {
  child: ChildProcess;
  /** Resolves with the first line for which `match` returns true. */
  next<T = Record<string, unknown>>(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<T>;
  /** Every line received so far. */
  lines: Record<string, unknown>[];
  /** Sends SIGKILL to the child's pid if it is still running, and waits for it. */
  kill(): Promise<void>;
}

/**
 * `stdin`: a pipe the test writes to (child.stdin), instead of none.
 * `openFiles`: the child's fd limit, soft and hard (util-linux prlimit execs
 * node, so the pid stays the child's).
 * `cpus`: the CPUs the child may run on (util-linux taskset, which execs node too).
 */
export function startFixture(name: string, env: Record<string, string> = {},
  options: { stdin?: boolean; openFiles?: number; cpus?: string; processGroup?: boolean } = {}): JsonLineChild {
  const script = path.join(__dirname, '..', 'fixtures', name);
  let [command, args]: [string, string[]] = [process.execPath, [script]];
  if (options.openFiles !== undefined) {
    [command, args] = ['prlimit', [`--nofile=${options.openFiles}:${options.openFiles}`, command, ...args]];
  }
  if (options.cpus !== undefined) [command, args] = ['taskset', ['-c', options.cpus, command, ...args]];
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'],
    // A process group of its own, led by the child: process.kill(-pid) signals it all.
    detached: options.processGroup === true,
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: Array<{ match: (line: Record<string, unknown>) => boolean; resolve: (line: never) => void }> = [];
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].match(line)) {
        waiters[i].resolve(line as never);
        waiters.splice(i, 1);
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    lines,
    next(match, timeoutMs = 10000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen as never);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching line from ${name} in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ match, resolve: (line) => { clearTimeout(timer); resolve(line); } });
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGKILL');
        await exited;
      }
    },
  };
}
