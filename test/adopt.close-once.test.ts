// Each fd taken over from libuv is closed exactly once on each side: libuv
// closes its original once, on the main thread; the reactor thread closes its
// duplicate once; no close() fails with EBADF (which would mean an fd was
// closed twice, perhaps someone else's), and the takeover calls no shutdown().
//
// A child adopts one accepted socket and one listening server under strace.
// fd numbers are reused as soon as they are closed, so the trace is read in
// order as a series of fd lifetimes: a lifetime starts with the call that
// returned the fd (accept4, socket, the fcntl(F_DUPFD_CLOEXEC) that is the
// duplicate...) and ends with its close().
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { checkMustCalls } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const STRACE = '/usr/bin/strace';
const FIXTURE = path.join(__dirname, 'fixtures', 'adopt-close-once.js');

// close, dup, fcntl and shutdown are what the test is about; epoll_ctl shows
// which thread registered an fd with which epoll set; the rest are every call
// that can hand out an fd number, so that a reused number starts a new
// lifetime. A leading '?' lets strace skip a name this architecture lacks.
const TRACED = [
  'close', 'dup', '?dup2', 'dup3', 'fcntl', 'shutdown', 'epoll_ctl',
  'socket', '?accept', 'accept4', 'socketpair', '?open', 'openat', '?pipe', 'pipe2',
  '?eventfd', 'eventfd2', '?epoll_create', 'epoll_create1', 'memfd_create', 'timerfd_create',
  'signalfd4', 'inotify_init1', 'io_uring_setup', 'pidfd_open',
];

/** Calls whose non-negative result is a new fd. */
const RETURNS_FD = new Set([
  'socket', 'accept', 'accept4', 'open', 'openat', 'dup', 'dup2', 'dup3', 'eventfd', 'eventfd2',
  'epoll_create', 'epoll_create1', 'memfd_create', 'timerfd_create', 'signalfd4', 'inotify_init1',
  'io_uring_setup', 'pidfd_open',
]);

interface Call {
  index: number;
  tid: number;
  name: string;
  args: string;
  result: number;
  errno: string | undefined;
  text: string;
}

interface Lifetime {
  fd: number;
  createdBy: Call | undefined;
  closes: Call[];
  shutdowns: Call[];
  duplications: Call[];
  epollAdds: Call[];
}

/** Parses `strace -f` output, joining the halves of calls other threads interrupted. */
function parseTrace(text: string): Call[] {
  const unfinished = new Map<number, string>();
  const calls: Call[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    const tidMatch = /^(\d+)\s+(.*)$/.exec(line);
    if (tidMatch === null) continue;
    const tid = Number(tidMatch[1]);
    let body = tidMatch[2];
    if (body.endsWith('<unfinished ...>')) {
      unfinished.set(tid, body.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(body);
    if (resumed !== null) {
      const start = unfinished.get(tid);
      unfinished.delete(tid);
      if (start === undefined) continue;
      body = start + resumed[2];
    }
    line = `${tid} ${body}`;
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)(?:\s+(E[A-Z0-9]+))?/.exec(body);
    if (call === null) continue;
    calls.push({
      index: calls.length,
      tid,
      name: call[1],
      args: call[2],
      result: call[3] === '?' ? NaN : Number(call[3]),
      errno: call[4],
      text: line,
    });
  }
  return calls;
}

function firstArgument(call: Call): number {
  return parseInt(call.args, 10);
}

/** Splits the trace into fd lifetimes, in order. */
function fdLifetimes(calls: Call[]): Lifetime[] {
  const all: Lifetime[] = [];
  const open = new Map<number, Lifetime>();
  const current = (fd: number): Lifetime => {
    let lifetime = open.get(fd);
    if (lifetime === undefined) {
      // An fd this trace did not see being made (inherited, or made by an
      // untraced call): a lifetime of unknown origin.
      lifetime = { fd, createdBy: undefined, closes: [], shutdowns: [], duplications: [], epollAdds: [] };
      open.set(fd, lifetime);
      all.push(lifetime);
    }
    return lifetime;
  };
  const start = (fd: number, call: Call): void => {
    const lifetime: Lifetime = { fd, createdBy: call, closes: [], shutdowns: [], duplications: [], epollAdds: [] };
    open.set(fd, lifetime);
    all.push(lifetime);
  };
  for (const call of calls) {
    if (call.name === 'close') {
      const fd = firstArgument(call);
      current(fd).closes.push(call);
      // Linux frees the number even when close() reports EINTR.
      if (call.result === 0 || call.errno === 'EINTR') open.delete(fd);
    } else if (call.name === 'shutdown') {
      current(firstArgument(call)).shutdowns.push(call);
    } else if (call.name === 'epoll_ctl') {
      const match = /^\d+, EPOLL_CTL_ADD, (\d+),/.exec(call.args);
      if (match !== null) current(Number(match[1])).epollAdds.push(call);
    } else if (call.name === 'fcntl' && /^\d+, F_DUPFD(_CLOEXEC)?\b/.test(call.args)) {
      if (call.result >= 0) {
        current(firstArgument(call)).duplications.push(call);
        start(call.result, call);
      }
    } else if (call.name === 'dup' || call.name === 'dup2' || call.name === 'dup3') {
      if (call.result >= 0) {
        current(firstArgument(call)).duplications.push(call);
        start(call.result, call);
      }
    } else if (call.name === 'pipe' || call.name === 'pipe2' || call.name === 'socketpair') {
      const pair = /\[(\d+), (\d+)\]/.exec(call.args);
      if (call.result === 0 && pair !== null) {
        start(Number(pair[1]), call);
        start(Number(pair[2]), call);
      }
    } else if (RETURNS_FD.has(call.name) && call.result >= 0) {
      start(call.result, call);
    }
  }
  return all;
}

interface FixtureReport {
  pid: number;
  socketFd: number;
  serverFd: number;
  clientEventsBeforeDestroy: string[];
  error?: string;
}

/** Runs the fixture under strace; resolves with its report and the trace. */
async function runTraced(traceFile: string): Promise<{ report: FixtureReport; trace: string }> {
  const child = track(spawn(STRACE, ['-f', '-e', `trace=${TRACED.join(',')}`, '-o', traceFile, process.execPath, FIXTURE], {
    // libuv may close files through io_uring, which strace cannot see.
    // Tells the reactor thread's calls from libuv's: a thread of its own.
    env: { ...process.env, UV_USE_IO_URING: '0', EPOLL_REACTOR_THREAD: 'own' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  if (code !== 0) {
    throw new Error(`strace or the fixture failed (code ${code}, signal ${signal}):\n${stderr}\n${stdout}`);
  }
  const report = JSON.parse(stdout.trim().split('\n').pop() as string) as FixtureReport;
  if (report.error !== undefined) throw new Error(`the fixture failed: ${report.error}`);
  return { report, trace: fs.readFileSync(traceFile, 'utf8') };
}

/** The lifetime of libuv's fd that was duplicated for the reactor, and the duplicate's. */
function takeover(lifetimes: Lifetime[], fd: number, madeBy: string[]): { original: Lifetime; duplicate: Lifetime } {
  const originals = lifetimes.filter((lifetime) => lifetime.fd === fd && lifetime.createdBy !== undefined &&
    madeBy.includes(lifetime.createdBy.name) && lifetime.duplications.length > 0);
  expect(originals.map((lifetime) => lifetime.createdBy!.text)).toHaveLength(1);
  const original = originals[0];
  expect(original.duplications.map((call) => call.text)).toHaveLength(1);
  const duplication = original.duplications[0];
  const duplicates = lifetimes.filter((lifetime) => lifetime.createdBy === duplication);
  expect(duplicates).toHaveLength(1);
  return { original, duplicate: duplicates[0] };
}

function describeCalls(calls: Call[], pid: number): string[] {
  return calls.map((call) => `${call.tid === pid ? 'main thread' : `thread ${call.tid}`}: ${call.name} = ${call.errno ?? call.result}`);
}

test('RELIABILITY #3: an adopted socket and an adopted server: each original closed once by libuv, each duplicate once by the reactor thread', async () => {
  if (!fs.existsSync(STRACE)) {
    throw new Error(`${STRACE} is not installed; this test needs strace to watch close() calls (apt-get install strace)`);
  }
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-strace-'));
  try {
    const { report, trace } = await runTraced(path.join(directory, 'trace.txt'));
    const calls = parseTrace(trace);
    const lifetimes = fdLifetimes(calls);
    const { pid } = report;

    // The plain client saw nothing of the handover: no FIN, no RST.
    expect(report.clientEventsBeforeDestroy).toEqual([]);

    // Not one close() anywhere in the process hit an fd that was not open.
    expect(calls.filter((call) => call.name === 'close' && call.errno === 'EBADF').map((call) => call.text)).toEqual([]);

    const reactorThreads = new Set<number>();
    for (const [what, fd, madeBy] of [
      ['socket', report.socketFd, ['accept', 'accept4']],
      ['server', report.serverFd, ['socket']],
    ] as Array<[string, number, string[]]>) {
      const { original, duplicate } = takeover(lifetimes, fd, madeBy);
      const duplication = original.duplications[0];
      expect({ what, duplicatedOn: duplication.tid === pid ? 'main thread' : 'another thread' })
        .toEqual({ what, duplicatedOn: 'main thread' });

      // libuv's original: closed once, by the main thread, after the duplicate was made.
      expect({ what, closes: describeCalls(original.closes, pid) }).toEqual({ what, closes: ['main thread: close = 0'] });
      expect(original.closes[0].index).toBeGreaterThan(duplication.index);

      // The duplicate: registered and closed by the reactor thread, once.
      expect(duplicate.epollAdds).toHaveLength(1);
      const reactorThread = duplicate.epollAdds[0].tid;
      expect(reactorThread).not.toBe(pid);
      reactorThreads.add(reactorThread);
      expect({ what, closes: describeCalls(duplicate.closes, pid) })
        .toEqual({ what, closes: [`thread ${reactorThread}: close = 0`] });

      // No shutdown() on either copy, and none at all while the fd changed hands.
      expect({ what, shutdowns: [...original.shutdowns, ...duplicate.shutdowns].map((call) => call.text) })
        .toEqual({ what, shutdowns: [] });
      const duringTakeover = calls.filter((call) => call.name === 'shutdown' &&
        call.index > duplication.index && call.index < original.closes[0].index);
      expect({ what, duringTakeover: duringTakeover.map((call) => call.text) }).toEqual({ what, duringTakeover: [] });
    }
    // One reactor thread served both.
    expect(reactorThreads.size).toBe(1);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}, 30000);
