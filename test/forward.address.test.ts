// forward() to an address: the reactor thread connects the upstream and
// forwards to it, with no upstream socket in JS (what a proxy accepting many
// short connections needs). Checked: every byte both ways, bytes JS read
// before the call going first, a refused or timed-out connect handing the
// client back untouched for another try, a client destroyed mid-connect
// taking the upstream along, Unix paths, host names, TLS termination, bad
// targets throwing Node's errors before anything changes, and the reactor's
// connection count back where it was after each.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import dns = require('node:dns');
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';

import { connect, createSecureServer, createServer, forward, ForwardResult, ForwardTarget, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { bulkBytes, checkMustCalls, listenLocal, mustCall, settledFdCount, thrownCode, waitFor } from './helpers';
import { startFixture } from './helpers/child';
import { blackholePort, closedPort } from './helpers/echo-client';
import { releaseTracked, temporaryDirectory, track } from './helpers/cleanup';
import { randomBytes, seededRandom } from './helpers/random';
import { connectTls, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const MiB = 1024 * 1024;

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolves with everything `socket` receives until 'end'. */
function receiveAll(socket: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => parts.push(chunk));
  return once(socket, 'end').then(() => Buffer.concat(parts));
}

/** A node:net echo upstream (half-close passed back); returns its port. */
async function startEcho(): Promise<number> {
  const server = track(net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  }));
  return listenLocal(server);
}

/** A node:net upstream that collects what one connection sends (`received`, once it connects). */
async function startCollector(): Promise<{ port: number; received?: Promise<Buffer> }> {
  const upstream: { port: number; received?: Promise<Buffer> } = { port: 0 };
  upstream.port = await listenLocal(track(net.createServer({ allowHalfOpen: true }, (socket) => {
    upstream.received = receiveAll(socket);
    socket.on('end', () => socket.end());
  })));
  return upstream;
}

/** A reactor server (paused on connect unless asked) whose sockets go to `take`; returns its port. */
async function startProxy(take: (client: Socket) => void, pauseOnConnect = true): Promise<number> {
  return listenLocal(track(createServer({ allowHalfOpen: true, pauseOnConnect }, take)));
}

function reactorConnections(): number {
  return getReactor().native.stats().connections;
}

test('carries 8 MB (2 under sanitizers) both ways intact and in order, with no socket and no round trip in JS for the upstream', async () => {
  const echoPort = await startEcho();
  const before = reactorConnections();
  let result: Promise<ForwardResult> | undefined;
  const onConnect = mustCall();
  const port = await startProxy((client) => {
    result = forward(client, { port: echoPort, host: '127.0.0.1', noDelay: true }, { onConnect });
  });
  const upload = randomBytes(seededRandom(52), bulkBytes(8 * MiB));
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const back = receiveAll(client);
  client.end(upload);
  const echoed = await back;
  expect(echoed.length).toBe(upload.length);
  expect(sha256(echoed)).toBe(sha256(upload));
  const outcome = await result!;
  expect(outcome).toEqual({ bytesFirstToSecond: upload.length, bytesSecondToFirst: upload.length, connected: true });
  await waitFor(() => reactorConnections() === before, 5000, 'both connections closed');
}, 30000);

test('bytes JS read before the call reach the upstream first, then the rest', async () => {
  const upstream = await startCollector();
  let first: Buffer | undefined;
  let result: Promise<ForwardResult> | undefined;
  const port = await startProxy((client) => {
    client.once('data', (chunk: Buffer) => {
      // The reactor read for JS: the forward must take what JS holds (the
      // readable buffer and what is in flight) before its own reads.
      first = chunk;
      result = forward(client, { port: upstream.port, host: '127.0.0.1' });
    });
  }, false);
  const upload = randomBytes(seededRandom(53), 4 * MiB);
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const back = receiveAll(client);
  client.end(upload);
  await waitFor(() => result !== undefined && upstream.received !== undefined, 10000, 'the forward');
  const got = await upstream.received!;
  expect(sha256(Buffer.concat([first!, got]))).toBe(sha256(upload));
  const outcome = await result!;
  expect(outcome.error).toBeUndefined();
  expect(outcome.connected).toBe(true);
  expect(outcome.bytesFirstToSecond).toBe(upload.length - first!.length);
  expect((await back).length).toBe(0);
}, 30000);

test('bytes put back with unshift() before the call reach the upstream first', async () => {
  const echoPort = await startEcho();
  let result: Promise<ForwardResult> | undefined;
  const port = await startProxy((client) => {
    // The reactor read nothing of it for JS, yet JS holds bytes: the forward
    // must not start before they are passed on.
    client.unshift(Buffer.from('put back; '));
    result = forward(client, { port: echoPort, host: '127.0.0.1' });
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const back = receiveAll(client);
  client.end('sent');
  expect((await back).toString()).toBe('put back; sent');
  expect(await result!).toEqual({ bytesFirstToSecond: 14, bytesSecondToFirst: 14, connected: true });
}, 15000);

// With the loop on the JS thread (EPOLL_REACTOR_THREAD=js) nothing moves while JS is blocked, by design.
const reactorOnOwnThread = process.env.EPOLL_REACTOR_THREAD !== 'js';

(reactorOnOwnThread ? test : test.skip)('a proxy that read a preamble forwards with no turn of its JS: the echo comes back while its JS thread is blocked', async () => {
  // Client and upstream live in a child process, so they run while this
  // thread waits. The proxy reads the preamble, puts the rest back and
  // forwards; the reactor had handed JS every byte it read, so it sends JS's
  // copy of the rest and starts at the connect, without asking JS first.
  const ends = startFixture('preamble-client.js', {}, { stdin: true });
  track(ends.child);
  const { echoPort } = await ends.next<{ echoPort: number }>((line) => 'echoPort' in line);
  let result: Promise<ForwardResult> | undefined;
  let blockedUntil = 0;
  const port = await startProxy((client) => {
    client.once('data', (chunk: Buffer) => {
      const end = chunk.indexOf('\n');
      expect(chunk.subarray(0, end).toString()).toBe('ROUTE echo');
      client.pause();
      client.unshift(chunk.subarray(end + 1));
      result = forward(client, { port: echoPort, host: '127.0.0.1' });
      // After this tick's flush has handed the forward to the reactor.
      setImmediate(() => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
        blockedUntil = Date.now();
      });
    });
  }, false);
  ends.child.stdin!.write(`${port}\n`);
  const { echoAt, echo } = await ends.next<{ echoAt: number; echo: string }>((line) => 'echoAt' in line, 15000);
  expect(echo).toBe('first message');
  expect(blockedUntil).toBeGreaterThan(0);
  expect(echoAt).toBeLessThan(blockedUntil);
  const { all } = await ends.next<{ all: string }>((line) => 'all' in line, 15000);
  expect(all).toBe('first message and the rest');
  expect(await result!).toEqual({ bytesFirstToSecond: 26, bytesSecondToFirst: 26, connected: true });
}, 30000);

test("bytes that came before 'connect' of a socket forward() was given while connecting go first", async () => {
  // They wait for 'connect' outside the readable buffer: JS passes them on at the connect.
  const upstream = await startCollector();
  const greeterPort = await listenLocal(track(net.createServer((socket) => socket.end('HELLO from a server that speaks first'))));
  const result = forward(track(connect(greeterPort, '127.0.0.1')), { port: upstream.port, host: '127.0.0.1' });
  expect((await result).connected).toBe(true);
  await waitFor(() => upstream.received !== undefined, 5000, 'the upstream connection');
  expect((await upstream.received!).toString()).toBe('HELLO from a server that speaks first');
}, 15000);

test("an onread callback that forwards mid-chunk: the bytes still waiting for it are passed on", async () => {
  const upstream = await startCollector();
  const sourcePort = await listenLocal(track(net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.write('0123456789AB');
    setTimeout(() => socket.end('tail'), 100);
  })));
  let result: Promise<ForwardResult> | undefined;
  const seen: string[] = [];
  // 4-byte pieces: the first call forwards, with 8 bytes of the chunk still queued for the callback.
  const client: Socket = track(connect({ port: sourcePort, host: '127.0.0.1', allowHalfOpen: true, onread: {
    buffer: Buffer.alloc(4),
    callback(length: number, buffer: Buffer) {
      seen.push(buffer.subarray(0, length).toString());
      result ??= forward(client, { port: upstream.port, host: '127.0.0.1' });
      return true;
    },
  } } as never));
  await waitFor(() => result !== undefined, 5000, 'the first bytes');
  expect((await result!).connected).toBe(true);
  await waitFor(() => upstream.received !== undefined, 5000, 'the upstream connection');
  expect(seen).toEqual(['0123']);
  expect((await upstream.received!).toString()).toBe('456789ABtail');
}, 15000);

test('over 64 KiB put back before the call: passed on by JS at the connect, whole and first', async () => {
  const echoPort = await startEcho();
  const putBack = randomBytes(seededRandom(55), 100 * 1024);
  let result: Promise<ForwardResult> | undefined;
  const port = await startProxy((client) => {
    client.unshift(putBack);
    result = forward(client, { port: echoPort, host: '127.0.0.1' });
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const back = receiveAll(client);
  client.end('and the end');
  const echoed = await back;
  expect(sha256(echoed)).toBe(sha256(Buffer.concat([putBack, Buffer.from('and the end')])));
  expect((await result!).bytesFirstToSecond).toBe(putBack.length + 11);
}, 15000);

test('a read() of the socket while forward() connects it is not hidden: the forward ends with ERR_INVALID_STATE', async () => {
  // The forward ends as the bytes arrive: its upstream may be reset.
  const echoPort = await listenLocal(track(net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.resume();
  })));
  let result: Promise<ForwardResult> | undefined;
  let taken: Buffer | null = null;
  const port = await startProxy((client) => {
    client.unshift(Buffer.from('held'));
    result = forward(client, { port: echoPort, host: '127.0.0.1' });
    // The reactor was handed 'held' to send first; the user takes it too.
    taken = client.read();
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  client.on('error', () => undefined);
  client.resume();
  await waitFor(() => result !== undefined, 5000, 'the forward');
  const outcome = await result!;
  expect(taken!.toString()).toBe('held');
  expect(outcome.connected).toBe(true);
  expect((outcome.error as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_INVALID_STATE');
}, 15000);

test('a write and end() made while the connect was tried go out once it failed', async () => {
  const refused = await closedPort();
  let result: Promise<ForwardResult> | undefined;
  let finished: Promise<void> | undefined;
  const port = await startProxy((client) => {
    result = forward(client, { port: refused, host: '127.0.0.1' });
    finished = new Promise((resolve) => client.end('no upstream today', resolve));
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  client.end();
  expect((await receiveAll(client)).toString()).toBe('no upstream today');
  expect((await result!).connected).toBe(false);
  // end()'s callback, once the reactor says the FIN went.
  await finished;
}, 15000);

test('a client reset while its upstream connects ends the forward at once, with ECONNRESET', async () => {
  const hanging = await blackholePort();
  const before = reactorConnections();
  let result: Promise<ForwardResult> | undefined;
  const port = await startProxy((client) => { result = forward(client, { port: hanging, host: '127.0.0.1' }); });
  const peer = track(net.connect(port, '127.0.0.1'));
  peer.on('error', () => undefined);
  await once(peer, 'connect');
  await waitFor(() => result !== undefined && reactorConnections() === before + 2, 5000, 'the connect under way');
  peer.resetAndDestroy();
  // Without a timeout, the connect alone would take the kernel's SYN retries (minutes).
  const outcome = await result!;
  expect(outcome.connected).toBe(false);
  expect((outcome.error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
  await waitFor(() => reactorConnections() === before, 5000, 'both closed');
}, 15000);

test('a client reset before the call, while paused, ends the forward at once rather than after the connect', async () => {
  const hanging = await blackholePort();
  let client: Socket | undefined;
  const port = await startProxy((socket) => { client = socket; });
  const peer = track(net.connect(port, '127.0.0.1'));
  peer.on('error', () => undefined);
  await once(peer, 'connect');
  await waitFor(() => client !== undefined, 5000, 'the accept');
  peer.resetAndDestroy();
  // The reset's edge reaches the reactor while the socket is JS's, paused:
  // nothing reads it, so nothing else will report it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const outcome = await forward(client!, { port: hanging, host: '127.0.0.1' });
  expect(outcome.connected).toBe(false);
  expect((outcome.error as NodeJS.ErrnoException).code).toBe('ECONNRESET');
}, 15000);

test('a client that writes and closes while its upstream connects is not taken for a reset: its bytes stay', async () => {
  const hanging = await blackholePort();
  const directory = temporaryDirectory('forward-address-');
  const proxyPath = path.join(directory, 'proxy.sock');
  let result: Promise<ForwardResult> | undefined;
  let client: Socket | undefined;
  const server = track(createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    client = socket;
    result = forward(socket, { port: hanging, host: '127.0.0.1', timeout: 1000 });
  }));
  await new Promise<void>((resolve) => server.listen(proxyPath, resolve));
  const peer = track(net.connect(proxyPath));
  await waitFor(() => result !== undefined, 5000, 'the forward');
  // A Unix peer that closes leaves our side shut both ways (EPOLLHUP), with no error.
  peer.end('the last words', () => peer.destroy());
  const outcome = await result!;
  expect((outcome.error as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
  expect(client!.destroyed).toBe(false);
  // Handed back paused, as forward() left it: resume() reads on.
  expect(client!.isPaused()).toBe(true);
  const received: Buffer[] = [];
  client!.on('data', (chunk: Buffer) => received.push(chunk));
  const ended = once(client!, 'end');
  client!.resume();
  await ended;
  expect(Buffer.concat(received).toString()).toBe('the last words');
}, 15000);

test('a forward id already in use is refused natively, and the forward holding it goes on', async () => {
  const echoPort = await startEcho();
  let result: Promise<ForwardResult> | undefined;
  const clients: Socket[] = [];
  const port = await startProxy((client) => {
    clients.push(client);
    if (clients.length === 1) result = forward(client, { port: echoPort, host: '127.0.0.1' });
  });
  const first = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const second = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  await waitFor(() => clients.length === 2 && getReactor().forwards.size === 1, 5000, 'both accepted');
  const [id] = [...getReactor().forwards.keys()];
  // The bridge, as only a bug in lib could call it: a second forward under
  // the same id must not replace the first one under its connections.
  const native = getReactor().native;
  native.forwardTo(id, clients[1].id, 4, '127.0.0.1', echoPort, 0, false, 0, 0, Buffer.alloc(0));
  native.forward(id, clients[1].id, clients[0].id, 0);
  getReactor().scheduleFlush();
  const back = receiveAll(first);
  first.end('the first forward still runs');
  expect((await back).toString()).toBe('the first forward still runs');
  expect((await result!).connected).toBe(true);
  second.destroy();
}, 15000);

test('a refused connect hands the client back open, paused, its bytes unread; the next forward() serves it', async () => {
  const refused = await closedPort();
  const echoPort = await startEcho();
  const before = reactorConnections();
  const outcomes: ForwardResult[] = [];
  const port = await startProxy((client) => {
    // Not paused on connect: the bytes are read for JS before the first try.
    client.once('readable', () => {
      forward(client, { port: refused, host: '127.0.0.1' }).then((first) => {
        outcomes.push(first);
        expect(client.destroyed).toBe(false);
        expect(client.isPaused()).toBe(true);
        return forward(client, { port: echoPort, host: '127.0.0.1' });
      }).then((second) => outcomes.push(second));
    });
  }, false);
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const back = receiveAll(client);
  client.write('sent before the first try; ');
  await waitFor(() => outcomes.length === 1, 5000, 'the refused connect');
  client.end('and after it');
  expect((await back).toString()).toBe('sent before the first try; and after it');
  await waitFor(() => outcomes.length === 2, 5000, 'the second forward');
  const error = outcomes[0].error as NodeJS.ErrnoException & { address?: string; port?: number };
  expect(outcomes[0].connected).toBe(false);
  expect(error.code).toBe('ECONNREFUSED');
  expect(error.syscall).toBe('connect');
  expect(error.message).toBe(`connect ECONNREFUSED 127.0.0.1:${refused}`);
  expect([error.address, error.port]).toEqual(['127.0.0.1', refused]);
  expect(outcomes[1]).toMatchObject({ connected: true, bytesFirstToSecond: 39, bytesSecondToFirst: 39 });
  expect(outcomes[1].error).toBeUndefined();
  await waitFor(() => reactorConnections() === before, 5000, 'every connection closed');
}, 15000);

test('a connect slower than `timeout` ends with ETIMEDOUT and leaves the client open; the upstream attempt is closed', async () => {
  const hanging = await blackholePort();
  const before = reactorConnections();
  let result: Promise<ForwardResult> | undefined;
  let client: Socket | undefined;
  let started = 0;
  const port = await startProxy((socket) => {
    client = socket;
    started = Date.now();
    result = forward(socket, { port: hanging, host: '127.0.0.1', timeout: 300 }, { onConnect: () => { throw new Error('connected'); } });
  });
  const peer = track(net.connect(port, '127.0.0.1'));
  peer.on('error', () => undefined);
  await waitFor(() => result !== undefined, 5000, 'the forward');
  const outcome = await result!;
  const elapsed = Date.now() - started;
  expect(outcome.connected).toBe(false);
  expect((outcome.error as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
  expect((outcome.error as NodeJS.ErrnoException).syscall).toBe('connect');
  expect(elapsed).toBeGreaterThanOrEqual(250);
  expect(client!.destroyed).toBe(false);
  // Only the client is left of it (the reactor publishes its count after it delivers the batch).
  await waitFor(() => reactorConnections() === before + 1, 5000, 'the upstream attempt closed');
  client!.destroy();
  await waitFor(() => reactorConnections() === before, 5000, 'the client closed');
}, 20000);

test('destroying the client while the upstream connects ends the forward with ECANCELED and closes the attempt', async () => {
  const hanging = await blackholePort();
  const before = reactorConnections();
  let result: Promise<ForwardResult> | undefined;
  let client: Socket | undefined;
  const port = await startProxy((socket) => {
    client = socket;
    result = forward(socket, { port: hanging, host: '127.0.0.1' });
  });
  const peer = track(net.connect(port, '127.0.0.1'));
  peer.on('error', () => undefined);
  await waitFor(() => result !== undefined && reactorConnections() === before + 2, 5000, 'the connect under way');
  const peerClosed = once(peer, 'close');
  client!.destroy();
  const outcome = await result!;
  expect(outcome.connected).toBe(false);
  expect((outcome.error as NodeJS.ErrnoException).code).toBe('ECANCELED');
  await waitFor(() => reactorConnections() === before, 5000, 'both closed');
  await peerClosed;
}, 20000);

// The socket form waited for the upstream socket's connect though its client
// had gone: the connect went on (for a blackholed upstream, the kernel's two
// minutes of SYNs) and the forward settled only then.
test('forward(client, connect(...)): a client that leaves while the upstream connects ends the forward at once and cancels the connect', async () => {
  const hanging = await blackholePort();
  let result: Promise<ForwardResult> | undefined;
  let upstream: Socket | undefined;
  // allowHalfOpen false, as net's default: the client's FIN closes it.
  const port = await listenLocal(track(createServer((client) => {
    upstream = track(connect(hanging, '127.0.0.1'));
    upstream.on('error', () => undefined);
    result = forward(client, upstream);
  })));
  const peer = track(net.connect(port, '127.0.0.1'));
  await waitFor(() => result !== undefined, 5000, 'the forward');
  const left = Date.now();
  peer.end();
  const outcome = await Promise.race([result!, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 3000))]);
  expect(outcome).not.toBe('waiting');
  expect((outcome as ForwardResult).error?.code).toBe('ECANCELED');
  expect(Date.now() - left).toBeLessThan(3000);
  await waitFor(() => upstream!.destroyed, 1000, 'the upstream connect cancelled');
}, 20000);

test('a forward whose client is destroyed keeps the process up until its promise resolves, then lets it exit', async () => {
  const echoPort = await startEcho();
  const proxy = startFixture('forward-address-exit.js', { UPSTREAM_PORT: String(echoPort) });
  track(proxy.child);
  const { port } = await proxy.next<{ port: number }>((line) => typeof line.port === 'number');
  const exited = once(proxy.child, 'exit');
  const peer = track(net.connect(port, '127.0.0.1'));
  peer.on('error', () => undefined);
  const [code] = await exited as [number | null];
  expect(code).toBe(0);
  expect(proxy.lines).toContainEqual({ result: { code: 'ECANCELED', connected: true } });
}, 15000);

test('300 forwards, each ended its own way (echo, refused, timed out, reset, destroyed, cut mid-stream), settle once and leave nothing open', async () => {
  const echoPort = await startEcho();
  const refused = await closedPort();
  const hanging = await blackholePort();
  // What happens to a connection follows from the client's port, which both
  // ends know: the reactor may accept before or after the client's 'connect'.
  const kinds = ['echo', 'refused', 'timed out', 'reset while connecting', 'destroyed while connecting', 'cut mid-stream'];
  const kindOf = (port: number | undefined): string => kinds[(port ?? 0) % kinds.length];
  const settled = new Map<string, number>();
  const outcomes: Array<Promise<void>> = [];
  const port = await startProxy((client) => {
    const kind = kindOf(client.remotePort);
    const target = kind === 'refused' ? { port: refused, host: '127.0.0.1' }
      : kind === 'timed out' ? { port: hanging, host: '127.0.0.1', timeout: 20 + (client.remotePort! % 50) }
        : kind.includes('connecting') ? { port: hanging, host: '127.0.0.1' }
          : { port: echoPort, host: '127.0.0.1' };
    let count = 0;
    outcomes.push(forward(client, target).then((result) => {
      if (++count > 1) throw new Error('settled twice');
      settled.set(kind, (settled.get(kind) ?? 0) + 1);
      if (kind === 'echo') expect(result.error).toBeUndefined();
      if (result.connected === false && !client.destroyed) client.destroy();
    }));
    if (kind === 'destroyed while connecting') setTimeout(() => client.destroy(), client.remotePort! % 20);
  });
  // Counted once the proxy listens: its listening socket is not a leak.
  const connectionsBefore = reactorConnections();
  const fdsBefore = await settledFdCount();
  const random = seededRandom(55);
  let mismatches = 0;
  const clients: Array<Promise<void>> = [];
  for (let i = 0; i < 300; i++) {
    clients.push(new Promise<void>((resolve) => {
      const peer = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
      peer.on('error', () => undefined);
      peer.once('close', () => resolve());
      // The proxy's end comes as a FIN: end ours too, so the socket closes.
      peer.once('end', () => peer.end());
      peer.once('connect', () => {
        const kind = kindOf(peer.localPort);
        const payload = randomBytes(random, 1 + (random() % 20000));
        if (kind === 'echo') {
          receiveAll(peer).then((echoed) => { if (!echoed.equals(payload)) mismatches++; }, () => undefined);
          peer.end(payload);
        } else if (kind === 'reset while connecting') {
          setTimeout(() => peer.resetAndDestroy(), random() % 20);
        } else if (kind === 'cut mid-stream') {
          peer.write(payload, () => peer.resetAndDestroy());
        }
      });
    }));
    if (i % 25 === 24) await Promise.all(clients.slice(-25));
  }
  await Promise.all(clients);
  await waitFor(() => outcomes.length === 300, 10000, 'every connection accepted');
  await Promise.all(outcomes);
  expect([...settled.values()].reduce((a, b) => a + b, 0)).toBe(300);
  expect(mismatches).toBe(0);
  await waitFor(() => reactorConnections() === connectionsBefore, 10000, 'every connection closed');
  expect(await settledFdCount()).toBeLessThanOrEqual(fdsBefore);
}, 60000);

test('a Unix socket path and a host name are targets too', async () => {
  const directory = temporaryDirectory('forward-address-');
  const socketPath = path.join(directory, 'echo.sock');
  const unixEcho = track(net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  }));
  await new Promise<void>((resolve) => unixEcho.listen(socketPath, resolve));
  const echoPort = await startEcho();
  const targets: ForwardTarget[] = [{ path: socketPath }, { port: echoPort, host: 'localhost' }];
  for (const target of targets) {
    let result: Promise<ForwardResult> | undefined;
    const port = await startProxy((client) => { result = forward(client, target); });
    const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    const back = receiveAll(client);
    client.end(`through ${JSON.stringify(target)}`);
    expect((await back).toString()).toBe(`through ${JSON.stringify(target)}`);
    expect((await result!).connected).toBe(true);
  }
}, 15000);

test('TLS terminated on the reactor thread, forwarded to an address as plaintext', async () => {
  const echoPort = await startEcho();
  let result: Promise<ForwardResult> | undefined;
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, allowHalfOpen: true, pauseOnConnect: true },
    (client) => { result = forward(client, { port: echoPort, host: '127.0.0.1' }); }));
  const port = await listenLocal(server);
  const client = await connectTls(pki, port, { allowHalfOpen: true } as never);
  const upload = randomBytes(seededRandom(54), 1 * MiB);
  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  const ended = once(client, 'end');
  client.end(upload);
  await ended;
  expect(sha256(Buffer.concat(parts))).toBe(sha256(upload));
  expect(await result!).toEqual({ bytesFirstToSecond: upload.length, bytesSecondToFirst: upload.length, connected: true });
}, 20000);

test("forward() from the first 'data' of a TLS socket: chunks that came with it and were not yet in the buffer are passed on too", async () => {
  // A TLS client's first records come in the batch that brings the end of
  // the handshake, and wait for 'secureConnection' before the readable
  // buffer gets them; a flowing socket's next chunk waits while the ones
  // before it emit 'data'. forward() from that 'data' (putting it back)
  // must take them too: the fuzzer found them dropped.
  const collected: Array<(bytes: Buffer) => void> = [];
  const upstreamPort = await listenLocal(track(net.createServer({ allowHalfOpen: true }, (socket) => {
    const done = collected.shift()!;
    receiveAll(socket).then(done, () => done(Buffer.alloc(0)));
    socket.on('end', () => socket.end());
  })));
  const results: Promise<ForwardResult>[] = [];
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, allowHalfOpen: true }, (client) => {
    client.once('data', (first: Buffer) => {
      client.pause();
      client.unshift(first);
      results.push(forward(client, { port: upstreamPort, host: '127.0.0.1' }));
    });
  }));
  const port = await listenLocal(server);
  for (let round = 0; round < 20; round++) {
    const payload = randomBytes(seededRandom(500 + round), 4 + 96 + 300 * (round % 5));
    const arrived = new Promise<Buffer>((resolve) => collected.push(resolve));
    const client = await connectTls(pki, port, { allowHalfOpen: true } as never);
    client.resume();
    client.write(payload.subarray(0, 4));
    if (round % 2 === 1) await new Promise((resolve) => setImmediate(resolve));
    client.write(payload.subarray(4, 100));
    client.end(payload.subarray(100));
    const got = await arrived;
    expect([round, got.length, sha256(got)]).toEqual([round, payload.length, sha256(payload)]);
    await once(client, 'end');
  }
  for (const result of await Promise.all(results)) expect([result.connected, result.error]).toEqual([true, undefined]);
}, 30000);

test('bad targets throw Node-style errors before anything changes; the socket forwards after them', async () => {
  const echoPort = await startEcho();
  const codes: string[] = [];
  let result: Promise<ForwardResult> | undefined;
  const port = await startProxy((client) => {
    const bad: Array<[unknown, unknown?]> = [
      [{ port: -1 }], [{ port: 65536 }], [{ port: 'eighty' }], [{ host: '127.0.0.1' }],
      [{ port: echoPort, host: 5 }], [{ path: 5 }], [{ path: '' }],
      [{ port: echoPort, timeout: -1 }], [{ port: echoPort, timeout: 1.5 }], [{ port: echoPort, timeout: '1' }],
      [{ port: echoPort, noDelay: 'yes' }], [new net.Socket()], [5],
      [{ port: echoPort }, { onConnect: 5 }], [{ port: echoPort }, { mode: 'pipe' }],
    ];
    for (const [target, options] of bad) {
      codes.push(thrownCode(() => forward(client, target as ForwardTarget, options as never)));
    }
    result = forward(client, { port: echoPort, host: '127.0.0.1' });
    codes.push(thrownCode(() => forward(client, { port: echoPort })));
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const back = receiveAll(client);
  client.end('after the bad calls');
  expect((await back).toString()).toBe('after the bad calls');
  expect(codes).toEqual([
    'ERR_SOCKET_BAD_PORT', 'ERR_SOCKET_BAD_PORT', 'ERR_SOCKET_BAD_PORT', 'ERR_MISSING_ARGS',
    'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE',
    'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE',
    'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE',
    'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE',
    'ERR_INVALID_STATE',
  ]);
  expect((await result!).error).toBeUndefined();
}, 15000);

// A write completing on a nextTick (an empty one, or one already sent) left
// the chunks behind it in the Writable with nothing in flight at the
// reactor: they reached the reactor a tick after the forwardTo command, and
// a forward started at the connect without JS could send the upstream's
// first bytes to the client ahead of them (30 % of rounds against an
// upstream that greets at once; helper-117).
test("bytes written before forward() reach the client before the upstream's, though the write before them completed on a tick", async () => {
  // The upstream greets from another process, so its bytes do not wait for this one's JS thread.
  const script = `
    const server = require('node:net').createServer((socket) => {
      socket.setNoDelay(true);
      socket.end('UP;');
      socket.resume();
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;
  const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const [line] = await once(child.stdout!, 'data') as [Buffer];
  const upstreamPort = Number(line.toString().trim());
  const variants: Array<(client: Socket) => void> = [
    (client) => {
      client.write('');
      client.write('REPLY;');
      forward(client, { port: upstreamPort, host: '127.0.0.1' });
    },
    (client) => {
      // forward() from a write's callback, the chunk behind it corked.
      client.write('A;', () => {
        client.cork();
        client.write('REPLY;');
        forward(client, { port: upstreamPort, host: '127.0.0.1' });
      });
      client.write('B;');
    },
  ];
  let round = 0;
  const port = await startProxy((client) => variants[round % variants.length](client), false);
  const outOfOrder: string[] = [];
  for (; round < 120; round++) {
    const client = track(net.connect({ port, host: '127.0.0.1' }));
    const got = (await receiveAll(client)).toString().replace(/^A;B;/, '');
    if (got !== 'REPLY;UP;') outOfOrder.push(got);
  }
  expect(outOfOrder).toEqual([]);
}, 30000);

// A name was looked up for one address and only it tried, where net.connect()
// tries each (helper-119): on a host whose resolver answers ::1 first, a
// forward to an upstream on 127.0.0.1 only was refused.
describe('a host name with several addresses', () => {
  const realLookup = dns.lookup;
  /** `name` answers ::1, then 127.0.0.1, to dns.lookup (as a dual-stack /etc/hosts may). */
  function answerBoth(name: string): void {
    dns.lookup = ((host: string, options: unknown, callback: unknown) => {
      const done = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
      const asked = (typeof options === 'object' && options !== null ? options : {}) as dns.LookupOptions;
      if (host !== name) return (realLookup as (...args: unknown[]) => void)(host, options, callback);
      const all = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }]
        .filter((entry) => !asked.family || entry.family === asked.family);
      process.nextTick(() => (asked.all ? done(null, all) : done(null, all[0].address, all[0].family)));
    }) as typeof dns.lookup;
  }

  afterEach(() => { dns.lookup = realLookup; });

  test('each is tried in turn, as net.connect() does: the second serves', async () => {
    answerBoth('dual.test');
    const echoPort = await startEcho();  // on 127.0.0.1 only
    let result: Promise<ForwardResult> | undefined;
    const port = await startProxy((client) => { result = forward(client, { port: echoPort, host: 'dual.test' }); });
    const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    const back = receiveAll(client);
    client.end('to whichever answers');
    expect((await back).toString()).toBe('to whichever answers');
    expect(await result!).toMatchObject({ connected: true, bytesFirstToSecond: 20, bytesSecondToFirst: 20 });
  }, 15000);

  test('when every one fails: an AggregateError of each attempt\'s error, its code the first one\'s, and the client handed back', async () => {
    answerBoth('dual.test');
    const refused = await closedPort();
    let result: Promise<ForwardResult> | undefined;
    let accepted: Socket | undefined;
    const port = await startProxy((client) => {
      accepted = client;
      result = forward(client, { port: refused, host: 'dual.test' });
    });
    const client = track(net.connect({ port, host: '127.0.0.1' }));
    client.on('error', () => undefined);
    await waitFor(() => result !== undefined, 5000, 'the forward');
    const outcome = await result!;
    expect(outcome.connected).toBe(false);
    const error = outcome.error as unknown as AggregateError & { code: string };
    expect(error).toBeInstanceOf(AggregateError);
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.errors.map((attempt: Error) => attempt.message)).toEqual([
      `connect ECONNREFUSED ::1:${refused}`, `connect ECONNREFUSED 127.0.0.1:${refused}`,
    ]);
    expect(accepted!.destroyed).toBe(false);
    accepted!.destroy();
  }, 15000);

  test('a client destroyed while its name is looked up: ECANCELED, as while the upstream connects; forward() again resolves alike', async () => {
    answerBoth('dual.test');
    const echoPort = await startEcho();
    const outcomes: ForwardResult[] = [];
    const port = await startProxy((client) => {
      const first = forward(client, { port: echoPort, host: 'dual.test' });
      client.destroy();
      void first.then((outcome) => {
        outcomes.push(outcome);
        // Closed by the forward's end: resolves as any destroyed socket does, not a throw.
        return forward(client, { port: echoPort, host: '127.0.0.1' });
      }).then((outcome) => outcomes.push(outcome));
    });
    const client = track(net.connect({ port, host: '127.0.0.1' }));
    client.on('error', () => undefined);
    await waitFor(() => outcomes.length === 2, 5000, 'both forwards');
    expect(outcomes.map((outcome) => [outcome.connected, (outcome.error as NodeJS.ErrnoException).code]))
      .toEqual([[false, 'ECANCELED'], [false, 'ECANCELED']]);
  }, 15000);
});
