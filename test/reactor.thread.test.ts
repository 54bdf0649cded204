// configure({ thread }): the loop on a thread of its own (the default), or on
// the JS thread. A process in either mode serves every byte
// intact, fires idle timeouts with nothing else happening, has closed its
// listening socket when close() returns, and ends by itself once closed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';

import { configure } from '../lib';
import { startFixture } from './helpers/child';
import { track, releaseTracked } from './helpers/cleanup';

afterEach(releaseTracked);

interface Outcome {
  code: number | null;
  signal: string | null;
  report: Record<string, unknown>;
}

/** Runs the fixture (optionally under taskset) to its exit and merges its report lines; SIGKILLs it by pid after 20 s. */
async function runFixture(mode: string, env: Record<string, string> = {}, cpus?: string): Promise<Outcome> {
  const fixture = startFixture('thread-mode.js', { EPOLL_REACTOR_THREAD: '', THREAD_MODE: mode, ...env }, { cpus });
  // 'close', not 'exit': by then every line it wrote has been read.
  const exited = once(fixture.child, 'close') as Promise<[number | null, string | null]>;
  const killer = setTimeout(() => void fixture.kill(), 20_000);
  const [code, signal] = await exited;
  clearTimeout(killer);
  return { code, signal, report: Object.assign({}, ...fixture.lines) };
}

function expectServed(outcome: Outcome, reactorThreads: number): void {
  expect(outcome.report.error).toBeUndefined();
  expect(outcome.report.reactorThreads).toBe(reactorThreads);
  expect(outcome.report.echoIntact).toBe(50);
  expect(outcome.report.idleTimeoutMs).toBeGreaterThanOrEqual(45);
  expect(outcome.report.idleTimeoutMs).toBeLessThan(2000);
  expect(outcome.report.afterClose).toBe('ECONNREFUSED');
  // Nothing open, no process.exit(): it ended by itself.
  expect({ code: outcome.code, signal: outcome.signal }).toEqual({ code: 0, signal: null });
}

test("thread 'js': no reactor thread, and a server serves, times out idle sockets, closes and lets the process end", async () => {
  expectServed(await runFixture('js'), 0);
}, 30_000);

test("thread 'own': the loop on the thread named epoll-reactor, the same behaviour", async () => {
  expectServed(await runFixture('own'), 1);
}, 30_000);

test('the default is a thread of its own, also in a process pinned to one CPU', async () => {
  expectServed(await runFixture('env', {}, '0'), 1);
  expectServed(await runFixture('env', {}), 1);
}, 60_000);

test('EPOLL_REACTOR_THREAD sets the default; configure() overrides it', async () => {
  expectServed(await runFixture('env', { EPOLL_REACTOR_THREAD: 'js' }), 0);
  expectServed(await runFixture('env', { EPOLL_REACTOR_THREAD: 'own' }, '0'), 1);
  expectServed(await runFixture('own', { EPOLL_REACTOR_THREAD: 'js' }), 1);
}, 60_000);

// A client that writes and then destroys its socket, with nothing else open:
// the process exits, and the bytes written before destroy() still reach the
// peer, as with node:net (its try-write hands them to the kernel at once).
test.each(['own', 'js'])("thread '%s': bytes written just before the last socket is destroyed reach the peer before the process ends", async (mode) => {
  const received: number[] = [];
  const server = net.createServer((socket) => {
    let bytes = 0;
    socket.on('data', (chunk) => { bytes += chunk.length; });
    socket.on('error', () => undefined);
    socket.on('close', () => received.push(bytes));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as net.AddressInfo;
    const script = `const { configure, connect } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      configure({ thread: '${mode}' });
      const socket = connect(${port}, '127.0.0.1', () => { socket.write(Buffer.alloc(1000, 1)); socket.destroy(); });`;
    const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] }));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = await once(child, 'exit');
    clearTimeout(killer);
    expect(code).toBe(0);
    const deadline = Date.now() + 5000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received).toEqual([1000]);
  } finally {
    server.close();
  }
}, 20_000);

test('rejects an unknown thread mode with ERR_INVALID_ARG_VALUE, before anything changes', () => {
  expect(() => configure({ thread: 'main' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(() => configure({ thread: 'auto' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(() => configure({ thread: true as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
});
