// Starting test/fixtures/fault-server.js under a fault (an LD_PRELOAD shim, a
// low fd limit), talking to it, and measuring processes and threads through
// /proc. Shared by the reliability tests that need a process of their own.
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { track } from '../helpers/cleanup';
import { preloadWithShim } from '../fault/build';

export type Line = Record<string, unknown>;

export interface FaultServer {
  child: ChildProcess;
  pid: number;
  port: number;
  proxyPort: number;
  lines: Line[];
  next(match: (line: Line) => boolean, timeoutMs?: number): Promise<Line>;
  send(cmd: string): void;
  /** After an echo through each server, arms the shim's faults (FAULT_ARM_ON_SIGUSR2=1): calls count from here on. */
  arm(): Promise<void>;
  /** Asks the child to exit, waits for it, and returns the shim's report (null without the shim). */
  exit(): Promise<{ code: number | null; signal: string | null; report: ShimReport | null }>;
}

export interface ShimReport {
  calls: Record<string, { counted: number; failed: number }>;
  eintrInjected: number;
  signalsHandled: number;
  ebadf: number;
  fds: Record<string, { created: number; closed: number; closedByReactor: number; ebadf: number }>;
}

export interface FaultServerOptions {
  /** Environment for the child; FAULT_* variables configure the shim. */
  env?: Record<string, string>;
  /** Load the shim (default true). */
  shim?: boolean;
  /** Run under `prlimit --nofile=N:N`. */
  nofile?: number;
  fixture?: string;
  args?: string[];
}

export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  // The shim injects faults on the reactor's own thread (by its name), so
  // the loop runs on one, whatever EPOLL_REACTOR_THREAD says.
  const env: Record<string, string> = { ...process.env as Record<string, string>, EPOLL_REACTOR_THREAD: 'own', ...options.env };
  let reportPath: string | null = null;
  if (options.shim !== false) {
    reportPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fault-report-')), 'report.json');
    env.LD_PRELOAD = preloadWithShim();
    env.FAULT_REPORT = reportPath;
  }
  const script = path.join(__dirname, '..', 'fixtures', options.fixture ?? 'fault-server.js');
  const argv = [process.execPath, script, ...(options.args ?? [])];
  const command = options.nofile !== undefined ? ['prlimit', `--nofile=${options.nofile}:${options.nofile}`, ...argv] : argv;
  const child = track(spawn(command[0], command.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const lines: Line[] = [];
  const waiters: Array<() => void> = [];
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      lines.push({ event: 'unparsed', text });
    }
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      child.stdin!.destroy();
      for (const wake of waiters.splice(0)) wake();
      resolve({ code, signal });
    });
  });
  const next = async (match: (line: Line) => boolean, timeoutMs = 10000): Promise<Line> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = lines.find(match);
      if (line !== undefined) return line;
      if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`no matching line from the child within ${timeoutMs} ms; lines: ${JSON.stringify(lines)}; stderr: ${stderr}`);
      }
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  const listening = await next((line) => line.event === 'listening', 15000);
  return {
    child,
    pid: child.pid!,
    port: listening.port as number,
    proxyPort: listening.proxyPort as number,
    lines,
    next,
    async arm() {
      // 'listening' can come before the reactor has registered the listeners;
      // an echo through each proves it has, so the startup calls are behind us.
      await echoThrough(listening.port as number, Buffer.from('x'), 5000);
      await echoThrough(listening.proxyPort as number, Buffer.from('x'), 5000);
      process.kill(child.pid!, 'SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
    send(cmd) {
      child.stdin!.write(`${JSON.stringify({ cmd })}\n`);
    },
    async exit() {
      if (child.exitCode === null && child.signalCode === null) child.stdin!.write(`${JSON.stringify({ cmd: 'exit' })}\n`);
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([exited, new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the child did not exit; stderr: ${stderr}`)), 10000);
      })]).finally(() => clearTimeout(timer));
      const report = reportPath !== null && fs.existsSync(reportPath)
        ? JSON.parse(fs.readFileSync(reportPath, 'utf8')) as ShimReport : null;
      if (reportPath !== null) fs.rmSync(path.dirname(reportPath), { recursive: true, force: true });
      return { ...outcome, report };
    },
  };
}

/** Sends `data` (after `delayMs`) to 127.0.0.1:port in chunks of up to 64 KiB and resolves with what comes back, up to the same length. */
export async function echoThrough(port: number, data: Buffer, timeoutMs = 20000, delayMs = 0): Promise<Buffer> {
  const socket = track(net.connect(port, '127.0.0.1'));
  const received: Buffer[] = [];
  let length = 0;
  const done = new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo of ${data.length} bytes: only ${length} back in ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (length >= data.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Buffer.concat(received));
      }
    });
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    socket.on('close', () => { clearTimeout(timer); if (length < data.length) reject(new Error(`closed after ${length} of ${data.length} bytes`)); });
  });
  done.catch(() => undefined); // the caller gets the rejection; not unhandled meanwhile
  await once(socket, 'connect');
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  for (let offset = 0; offset < data.length; offset += 65536) socket.write(data.subarray(offset, offset + 65536));
  return done;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** CPU time (user + system) of a process or thread, in clock ticks, from its /proc stat file. */
export function cpuTicks(statPath: string): number {
  const text = fs.readFileSync(statPath, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

/** Clock ticks per second (USER_HZ); 100 on Linux. */
export const TICKS_PER_SECOND = 100;

/**
 * The /proc stat path of a reactor thread: in this process, the thread of
 * the reactor this test file uses (by its id: other files' reactors in the
 * same jest worker, idle or on their way out, have threads of the same
 * name); in a child, its one thread named 'epoll-reactor'.
 */
export function reactorThreadStat(pid: number | 'self' = 'self'): string {
  if (pid === 'self') {
    // Required here, not imported: the files that only start children load no addon.
    const { getReactor } = require('../../lib/reactor') as typeof import('../../lib/reactor');
    const threadId = getReactor().native.stats().threadId;
    if (!threadId) throw new Error('this reactor has no thread of its own (not started, ended, or on the JS thread)');
    return `/proc/self/task/${threadId}/stat`;
  }
  const [tid] = reactorThreadIds(pid);
  if (tid === undefined) throw new Error(`no thread named epoll-reactor in process ${pid}`);
  return `/proc/${pid}/task/${tid}/stat`;
}

/** The ids of a process's threads named 'epoll-reactor' (none with the loop on the JS thread). */
export function reactorThreadIds(pid: number | 'self' = 'self'): string[] {
  const tasks = `/proc/${pid}/task`;
  return fs.readdirSync(tasks).filter((tid) => {
    try {
      return fs.readFileSync(`${tasks}/${tid}/comm`, 'utf8').trim() === 'epoll-reactor';
    } catch {
      return false; // the thread ended while we looked
    }
  });
}

/** Fraction of one core `statPath` used over `ms` milliseconds. */
export async function cpuShareOver(statPath: string, ms: number): Promise<number> {
  const before = cpuTicks(statPath);
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const elapsed = (Date.now() - started) / 1000;
  return (cpuTicks(statPath) - before) / TICKS_PER_SECOND / elapsed;
}
