// configure({ thread }): the loop on a thread of its own (the default), or on
// the JS thread. A process in either mode serves every byte
// intact, fires idle timeouts with nothing else happening, has closed its
// listening socket when close() returns, and ends by itself once closed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as tls from 'node:tls';
import * as path from 'node:path';

import { configure } from '../lib';
import { preloadWithShim } from './fault/build';
import { makeTestCertificate, TestCertificate } from './helpers/cert';
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

interface ExitingClient {
  env?: Record<string, string>;
  /** The client's first JS in its connect callback; the default writes 1,000 bytes. */
  writing?: string;
  /** JS run after the write; the default destroys the socket. */
  ending?: string;
  inWorker?: boolean;
  /** In a Worker: the main thread terminate()s it on its first message. */
  terminateOnMessage?: boolean;
  exitCode?: number;
  /** The client connects with TLS (verifying this certificate) to a node:tls server. */
  tlsCertificate?: TestCertificate;
  /** Gets what the server read from each connection, as well as its length. */
  contents?: Buffer[];
}

/**
 * Runs a child whose only socket writes 1,000 bytes once connected and then
 * `ending` (JS run in the connect callback: the process ends right after);
 * resolves with what a node:net (or node:tls) server read from each connection.
 */
async function bytesFromExitingClient(mode: string, { env = {}, writing = 'socket.write(Buffer.alloc(1000, 1));', ending = 'socket.destroy();', inWorker = false, terminateOnMessage = false, exitCode = 0, tlsCertificate, contents }: ExitingClient = {}): Promise<number[]> {
  const received: number[] = [];
  const onConnection = (socket: net.Socket): void => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const bytes = Buffer.concat(chunks);
      contents?.push(bytes);
      received.push(bytes.length);
    });
  };
  const server = tlsCertificate === undefined ? net.createServer(onConnection)
    // TLS 1.2: a TLS 1.3 server's session tickets come after the handshake,
    // and a client that exits before reading them closes with a reset, which
    // can take the bytes before it from the server (node:tls's client too).
    : tls.createServer({ key: tlsCertificate.key, cert: tlsCertificate.cert, maxVersion: 'TLSv1.2' }, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as net.AddressInfo;
    const tlsOption = tlsCertificate === undefined ? ''
      : `, tls: { ca: ${JSON.stringify(tlsCertificate.cert.toString())}, servername: 'localhost' }`;
    const client = `const { configure, connect } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
      configure({ thread: '${mode}' });
      const socket = connect({ port: ${port}, host: '127.0.0.1'${tlsOption} }, () => { ${writing} ${ending} });`;
    // In a Worker the main thread outlives it, and exits with its code.
    const script = inWorker
      ? `const { Worker } = require('node:worker_threads');
         const worker = new Worker(${JSON.stringify(client)}, { eval: true });
         worker.on('exit', (code) => { process.exitCode = code; });
         ${terminateOnMessage ? "worker.on('message', () => worker.terminate());" : ''}`
      : client;
    // stderr shown, but for an exit code the test expects (the uncaught exception's report).
    const stderr = exitCode === 0 ? 'inherit' : 'ignore';
    const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', stderr], env: { ...process.env, ...env } }));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = await once(child, 'exit');
    clearTimeout(killer);
    expect(code).toBe(exitCode);
    const deadline = Date.now() + 5000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return received;
  } finally {
    server.close();
  }
}

// A client that writes and then destroys its socket, with nothing else open:
// the process exits, and the bytes written before destroy() still reach the
// peer, as with node:net (its try-write hands them to the kernel at once).
test.each(['own', 'js'])("thread '%s': bytes written just before the last socket is destroyed reach the peer before the process ends", async (mode) => {
  expect(await bytesFromExitingClient(mode)).toEqual([1000]);
}, 20_000);

// The same with the reactor thread held for 2 s just after it woke JS
// for the connect (the shim's FAULT_WAKE_DELAY_US): JS writes, destroys and
// ends the process while that turn is still running, so the thread never
// comes back for the commands. What JS handed over is still done (ci210 lost
// these bytes once, on a loaded host).
test("thread 'own': commands handed over while the reactor thread finishes a turn are done when the process ends", async () => {
  const report = path.join(os.tmpdir(), `epoll-reactor-wake-delay-${process.pid}.json`);
  try {
    const env = { LD_PRELOAD: preloadWithShim(), FAULT_WAKE_DELAY_US: '2000000', FAULT_REPORT: report };
    expect(await bytesFromExitingClient('own', { env })).toEqual([1000]);
    // The hold happened (libuv woke JS with an 8-byte eventfd write).
    expect(JSON.parse(fs.readFileSync(report, 'utf8')).wakesDelayed).toBeGreaterThanOrEqual(1);
  } finally {
    fs.rmSync(report, { force: true });
  }
}, 20_000);

// worker.terminate() stops the Worker's JS wherever it is, here before the
// tick that would hand the reactor this tick's writes: node:net's try-write
// has sent them by then, and the environment's cleanup sends ours, the
// write log's copy of the small one and the large one staged by reference:
// through _writev when corked, and when the second is written behind the
// first, from write() itself (it used to wait in the Writable, JS memory no
// cleanup can read, for the first one's completion).
test.each([
  ['own', 'written behind the first'], ['js', 'written behind the first'], ['own', 'corked'], ['js', 'corked'],
])("thread '%s': bytes written just before worker.terminate() reach the peer (%s)", async (mode, how) => {
  const both = 'socket.write(Buffer.alloc(1000, 1)); socket.write(Buffer.alloc(20000, 2));';
  const writing = how === 'corked' ? `socket.cork(); ${both} socket.uncork();` : both;
  const ending = `require('node:worker_threads').parentPort.postMessage('written');
    for (const until = Date.now() + 10000; Date.now() < until;);`;
  const contents: Buffer[] = [];
  expect(await bytesFromExitingClient(mode, { inWorker: true, terminateOnMessage: true, writing, ending, exitCode: 1, contents }))
    .toEqual([21000]);
  expect(contents[0].equals(Buffer.concat([Buffer.alloc(1000, 1), Buffer.alloc(20000, 2)]))).toBe(true);
}, 20_000);

// process.exit() runs no environment cleanup, and node:net's write has
// handed the bytes to the kernel before it returns: ours must not lose them
// either, from the main thread or a Worker (whose exit unwinds through the
// connect callback the reactor is delivering).
test.each([
  ['own', false], ['js', false], ['own', true], ['js', true],
])("thread '%s' (in a Worker: %s): bytes written just before process.exit() reach the peer", async (mode, inWorker) => {
  expect(await bytesFromExitingClient(mode as string, { ending: 'process.exit(0);', inWorker: inWorker as boolean })).toEqual([1000]);
}, 20_000);

// A TLS client's bytes are encrypted and sent by the teardown's last pass.
test.each(['own', 'js'])("thread '%s': a TLS client's bytes written just before process.exit() reach the peer", async (mode) => {
  const certificate = makeTestCertificate();
  try {
    expect(await bytesFromExitingClient(mode, { ending: 'process.exit(0);', tlsCertificate: certificate })).toEqual([1000]);
  } finally {
    certificate.remove();
  }
}, 20_000);

// An uncaught exception ends the process through 'exit' too.
test.each(['own', 'js'])("thread '%s': bytes written just before an uncaught exception reach the peer", async (mode) => {
  const ending = "throw new Error('expected by the test');";
  expect(await bytesFromExitingClient(mode, { ending, exitCode: 1 })).toEqual([1000]);
}, 20_000);

// A second write waits in the Writable behind the first, then end():
// net has sent both before process.exit() returns.
test.each(['own', 'js'])("thread '%s': a write queued behind another and end() just before process.exit() are delivered", async (mode) => {
  expect(await bytesFromExitingClient(mode, { ending: 'socket.end(Buffer.alloc(24, 2)); process.exit(0);' })).toEqual([1024]);
}, 20_000);

// 'exit' listeners run in the order they were added; the package's came
// when the socket opened, so this one runs after it, when the reactor has
// already finished (Reactor.finishAtExit). net's try-write sends what it
// writes there, end()'s FIN included, and so must ours: the write waits in
// the Writable behind the 1,000 bytes, whose completion no turn brings.
test.each([
  ['own', 'process.exit(0);'], ['js', 'process.exit(0);'],
  // The process ends by itself: the socket is unref'd once it has sent.
  ['own', 'socket.unref();'], ['js', 'socket.unref();'],
])("thread '%s': what an 'exit' listener after the package's writes and ends with reaches the peer (%s)", async (mode, exit) => {
  const contents: Buffer[] = [];
  const ending = `process.on('exit', () => { socket.write(Buffer.alloc(24, 2)); socket.end(Buffer.alloc(8, 3)); }); ${exit}`;
  expect(await bytesFromExitingClient(mode, { ending, contents })).toEqual([1032]);
  expect(contents[0].equals(Buffer.concat([Buffer.alloc(1000, 1), Buffer.alloc(24, 2), Buffer.alloc(8, 3)]))).toBe(true);
}, 20_000);

// An 'exit' listener after the package's throws, and an 'uncaughtException'
// handler keeps the process going: node lets it. The reactor, which runs no
// turns after the exit began, must not then keep the process alive with its
// socket open; it ends by itself once the loop is empty.
test.each(['own', 'js'])("thread '%s': a process whose exit was abandoned by a throw still ends by itself", async (mode) => {
  const ending = "process.on('uncaughtException', () => {}); process.on('exit', () => { throw new Error('expected by the test'); }); process.exit(0);";
  expect(await bytesFromExitingClient(mode, { ending })).toEqual([1000]);
}, 20_000);

// A TLS client's write there is encrypted and sent on the JS thread.
// (node:tls's client sends only the 1,000 bytes written before the exit.)
test.each(['own', 'js'])("thread '%s': a TLS client's write in an 'exit' listener after the package's reaches the peer", async (mode) => {
  const certificate = makeTestCertificate();
  try {
    const ending = "process.on('exit', () => { socket.write(Buffer.alloc(24, 2)); }); process.exit(0);";
    expect(await bytesFromExitingClient(mode, { ending, tlsCertificate: certificate })).toEqual([1024]);
  } finally {
    certificate.remove();
  }
}, 20_000);

// What else a later 'exit' listener may do with a write: cork and uncork it
// (node:http's res.end() does), or destroy() the socket after it, which
// hands the Writable's waiting chunks over too, each only once. The peer
// gets the 1,000 bytes, then the 24, once.
test.each([
  ['own', 'socket.cork(); socket.write(Buffer.alloc(24, 2)); socket.uncork();'],
  ['js', 'socket.cork(); socket.write(Buffer.alloc(24, 2)); socket.uncork();'],
  ['own', 'socket.write(Buffer.alloc(24, 2)); socket.destroy();'],
  ['js', 'socket.write(Buffer.alloc(24, 2)); socket.destroy();'],
])("thread '%s': an 'exit' listener after the package's that does %s sends each byte once", async (mode, listener) => {
  const contents: Buffer[] = [];
  const ending = `process.on('exit', () => { ${listener} }); process.exit(0);`;
  expect(await bytesFromExitingClient(mode, { ending, contents })).toEqual([1024]);
  expect(contents[0].equals(Buffer.concat([Buffer.alloc(1000, 1), Buffer.alloc(24, 2)]))).toBe(true);
}, 20_000);

test('rejects an unknown thread mode with ERR_INVALID_ARG_VALUE, before anything changes', () => {
  expect(() => configure({ thread: 'main' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(() => configure({ thread: 'auto' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(() => configure({ thread: true as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
});
