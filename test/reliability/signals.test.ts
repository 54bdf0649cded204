// Signals: SIGPIPE must never reach a process that writes or splices into a
// reset peer, and a storm of signals (EINTR everywhere) must not surface as
// errors or lose bytes. Each server runs in a child process of its own.
import { once } from 'node:events';
import * as net from 'node:net';

import { randomBytes, seededRandom } from '../helpers/random';
import { releaseTracked, track } from '../helpers/cleanup';
import { echoThrough, sha256, startFaultServer } from './fault-child';

afterEach(releaseTracked);
jest.setTimeout(60000);

/** Connects, waits for `bytes` from the server, then resets the connection. */
async function readThenReset(port: number, bytes: number): Promise<void> {
  const socket = track(net.connect(port, '127.0.0.1'));
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= bytes) resolve();
    });
    socket.on('error', reject);
  });
  socket.resetAndDestroy();
  await once(socket, 'close');
}

// A forward that copies sends one chunk at a time (send()); one that splices
// uses splice(); the flood server's own writes queue several (sendmsg).
// Each in both thread modes (configure's `thread`): the reactor's own thread
// blocks every signal; on the JS thread the loop holds SIGPIPE back itself.
const THREADS = ['own', 'js'];
const FORWARDS_BY_THREAD = THREADS.flatMap((thread) => ['splice', 'copy'].map((mode) => [mode, thread]));

test.each(FORWARDS_BY_THREAD)("RELIABILITY #27: with a 'SIGPIPE' listener installed, writing (send, sendmsg) and forwarding (%s) into a reset peer never raises SIGPIPE (thread '%s')", async (mode, thread) => {
  const server = await startFaultServer({ shim: false, env: { UPSTREAM: 'flood', FORWARD_MODE: mode, EPOLL_REACTOR_THREAD: thread } });
  for (let round = 0; round < 5; round++) {
    await readThenReset(server.port, 256 * 1024); // the flood server's own writes
    await readThenReset(server.proxyPort, 256 * 1024); // spliced through a forward
  }
  // Every reset was seen, as errors on the writing side or a forward's outcome.
  await server.next(() => server.lines.filter((line) => line.event === 'forwardDone').length === 5);
  const forwards = server.lines.filter((line) => line.event === 'forwardDone');
  for (const forward of forwards) expect(['ECONNRESET', 'EPIPE']).toContain(forward.code);
  await server.next(() => server.lines.filter((line) => line.event === 'socketError' && line.role === 'upstream').length >= 5);
  server.send('stats');
  await server.next((line) => line.event === 'stats');
  const { code, signal } = await server.exit();
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(server.lines.filter((line) => line.event === 'sigpipe')).toEqual([]);
});

const LISTENERS_BY_THREAD = THREADS.flatMap((thread) => ['installed', 'removed'].map((listener) => [thread, listener]));

test.each(LISTENERS_BY_THREAD)("RELIABILITY #27: splicing into a socket whose write side is shut (EPIPE, which raises SIGPIPE in the calling thread) neither reaches a SIGPIPE listener nor ends the process (thread '%s', listener %s)", async (thread, listener) => {
  const server = await startFaultServer({
    shim: false,
    env: { END_UPSTREAM_FIRST: '1', UPSTREAM: 'sink', FORWARD_MODE: 'splice', EPOLL_REACTOR_THREAD: thread, SIGPIPE_LISTENER: listener },
  });
  for (let round = 0; round < 3; round++) {
    const client = track(net.connect(server.proxyPort, '127.0.0.1'));
    await once(client, 'connect');
    client.on('error', () => undefined); // the reset that ends it
    const closed = new Promise((resolve) => client.once('close', resolve));
    // Keep writing until the forward fails and closes the client.
    const writer = setInterval(() => client.write(Buffer.alloc(16 * 1024, 'p')), 5);
    try {
      await closed;
    } finally {
      clearInterval(writer);
    }
  }
  await server.next(() => server.lines.filter((line) => line.event === 'forwardDone').length === 3);
  for (const forward of server.lines.filter((line) => line.event === 'forwardDone')) {
    expect(forward).toMatchObject({ code: 'EPIPE', syscall: 'write' });
  }
  // Let a SIGPIPE, had one been delivered, reach the listener.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const { code, signal } = await server.exit();
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(server.lines.filter((line) => line.event === 'sigpipe')).toEqual([]);
});

test('RELIABILITY #28: an EINTR storm (SIGALRM every 1 ms, and every 5th reactor syscall interrupted): no spurious errors, every byte intact', async () => {
  const server = await startFaultServer({ env: { FAULT_SIGNAL_STORM_US: '1000', FAULT_EINTR_EVERY: '5', FORWARD_MODE: 'splice' } });
  const streams: Array<Promise<void>> = [];
  for (let i = 0; i < 12; i++) {
    const data = randomBytes(seededRandom(280 + i), 2 * 1024 * 1024);
    const port = i % 3 === 0 ? server.proxyPort : server.port;
    streams.push(echoThrough(port, data, 30000).then((back) => expect(sha256(back)).toBe(sha256(data))));
  }
  await Promise.all(streams);
  // A storm of at least a second's worth: the traffic above alone may be quicker.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await expect(echoThrough(server.port, Buffer.from('after the storm'))).resolves.toEqual(Buffer.from('after the storm'));
  const { code, signal, report } = await server.exit();
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(server.lines.filter((line) => line.event !== 'listening' && line.event !== 'forwardDone')).toEqual([]);
  for (const forward of server.lines.filter((line) => line.event === 'forwardDone')) expect(forward.code).toBeNull();
  expect(report!.signalsHandled).toBeGreaterThan(500);
  expect(report!.eintrInjected).toBeGreaterThan(100);
});
