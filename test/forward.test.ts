// forward() joins two reactor sockets natively. Every test here runs a small
// proxy in this process, client (node:net) → reactor server → forward() →
// reactor connect() → upstream (node:net), and checks what forward promises:
// every byte both ways and in order, a FIN passed on while the other direction
// keeps flowing, a reset on either side ending both with an error code and no
// fd left behind, and backpressure from a slow reader reaching the sender.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';

import { connect, createServer, forward, ForwardOptions, ForwardResult, Socket } from '../lib';
import { bulkBytes, checkMustCalls, closeServer, listenLocal, mustCall, openFdCount, settledFdCount, waitFor } from './helpers';
import { startFixture } from './helpers/child';
import { releaseTracked, track } from './helpers/cleanup';
import { randomBytes, seededRandom } from './helpers/random';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const KiB = 1024;
const MiB = 1024 * KiB;
const MODES = ['splice', 'copy'] as const;
type Mode = NonNullable<ForwardOptions['mode']>;



function sha256(...parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** Writes `data` in chunks of 1 B to 256 KiB chosen by `random`, honouring write()'s backpressure. */
async function writeInRandomChunks(socket: net.Socket, data: Buffer, random: () => number): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const size = 1 + (random() % (256 * KiB));
    const piece = data.subarray(offset, offset + size);
    offset += piece.length;
    if (!socket.write(piece)) await once(socket, 'drain');
  }
}

/** Hashes and counts what `socket` receives; resolves at 'end'. */
function receiveAll(socket: net.Socket): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  return once(socket, 'end').then(() => ({ bytes, sha256: hash.digest('hex') }));
}

/** What the in-test proxy did with one client. */
interface Forwarded {
  /** The accepted reactor socket (first to forward()). */
  client: Socket;
  /** The reactor socket to the upstream (second to forward()). */
  upstream: Socket;
  result: Promise<ForwardResult>;
}

/**
 * A reactor proxy in this process: each accepted client gets a reactor
 * connection to 127.0.0.1:upstreamPort and the two are forwarded with `mode`.
 * forward() is called at once; it waits for the upstream's 'connect' itself.
 */
async function startProxy(upstreamPort: number, mode: Mode): Promise<{ port: number; next(): Promise<Forwarded>; close(): Promise<void> }> {
  const forwarded: Forwarded[] = [];
  const waiting: Array<(entry: Forwarded) => void> = [];
  const server = track(createServer({ allowHalfOpen: true }, (client: Socket) => {
    const upstream = track(connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }));
    const entry: Forwarded = { client, upstream, result: forward(client, upstream, { mode }) };
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(entry);
    else forwarded.push(entry);
  }));
  const port = await listenLocal(server);
  return {
    port,
    next: () => {
      const entry = forwarded.shift();
      return entry !== undefined ? Promise.resolve(entry) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () => closeServer(server),
  };
}

/** Starts a node:net upstream on 127.0.0.1 whose connections go to `onConnection`. */
async function startUpstream(onConnection: (socket: net.Socket) => void, allowHalfOpen = true): Promise<{ server: net.Server; port: number }> {
  const server = track(net.createServer({ allowHalfOpen }, onConnection));
  return { server, port: await listenLocal(server) };
}

/** An upstream that sends back every byte it receives, and ends when the client does. */
function echo(received: { hash: ReturnType<typeof createHash>; bytes: number }) {
  return (socket: net.Socket): void => {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received.hash.update(chunk);
      received.bytes += chunk.length;
      if (!socket.write(chunk)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => socket.end());
  };
}

/** Resolves at 'drain' or 'close', whichever comes first; an 'error' is the 'close' handler's business. */
function drainOrClose(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.removeListener('drain', done);
      socket.removeListener('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Resolves at 'close' (events.once would reject at an 'error' before it). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

describe.each(MODES)("mode '%s'", (mode) => {
  const total = bulkBytes(64 * MiB);
  test(`RELIABILITY #31: ${total / MiB} MB each way in random-size chunks arrives with the same SHA-256, and forward() counts it`, async () => {
    const data = randomBytes(seededRandom(0x5eed), total);
    const expected = sha256(data);
    const upstreamReceived = { hash: createHash('sha256'), bytes: 0 };
    const upstream = await startUpstream(echo(upstreamReceived), false);
    const proxy = await startProxy(upstream.port, mode);

    const client = track(net.connect(proxy.port, '127.0.0.1'));
    const received = receiveAll(client);
    await once(client, 'connect');
    const { result } = await proxy.next();
    await writeInRandomChunks(client, data, seededRandom(42));
    client.end();

    const back = await received;
    expect(upstreamReceived.bytes).toBe(total);
    expect(upstreamReceived.hash.digest('hex')).toBe(expected);
    expect(back.bytes).toBe(total);
    expect(back.sha256).toBe(expected);
    expect(await result).toEqual({ bytesFirstToSecond: total, bytesSecondToFirst: total });
    await proxy.close();
  }, 30000);

  test("RELIABILITY #32: the client's end() reaches the upstream while the upstream keeps sending, and the client gets it all", async () => {
    const request = Buffer.from('request, then FIN');
    const response = randomBytes(seededRandom(7), 2 * MiB);
    const sendForMs = 600;
    let sentWhenEnded = -1;
    const upstreamGot: Buffer[] = [];
    const upstream = await startUpstream(mustCall((socket: net.Socket) => {
      socket.on('data', (chunk: Buffer) => upstreamGot.push(chunk));
      // Send the response in slices spread over `sendForMs`, so that much of
      // it goes after the client's FIN has arrived.
      const slice = Math.ceil(response.length / (sendForMs / 10));
      let sent = 0;
      socket.on('end', mustCall(() => { sentWhenEnded = sent; }));
      const timer = setInterval(() => {
        socket.write(response.subarray(sent, sent + slice));
        sent = Math.min(sent + slice, response.length);
        if (sent === response.length) {
          clearInterval(timer);
          socket.end();
        }
      }, 10);
      socket.on('close', () => clearInterval(timer));
    }));
    const proxy = await startProxy(upstream.port, mode);

    const client = track(net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true }));
    const parts: Buffer[] = [];
    client.on('data', (chunk: Buffer) => parts.push(chunk));
    const clientEnded = once(client, 'end');
    await once(client, 'connect');
    const { result } = await proxy.next();
    client.end(request);

    await clientEnded;
    // The FIN came through while the upstream still had most of its response to send.
    expect(sentWhenEnded).toBeGreaterThanOrEqual(0);
    expect(sentWhenEnded).toBeLessThan(response.length);
    expect(Buffer.concat(upstreamGot).equals(request)).toBe(true);
    const got = Buffer.concat(parts);
    expect(got.length).toBe(response.length);
    expect(sha256(got)).toBe(sha256(response));
    expect(await result).toEqual({ bytesFirstToSecond: request.length, bytesSecondToFirst: response.length });
    await proxy.close();
  }, 30000);

  test("RELIABILITY #32: the upstream's end() reaches the client while the client keeps sending, and the upstream gets it all", async () => {
    const greeting = Buffer.from('greeting, then FIN');
    const upload = randomBytes(seededRandom(8), 2 * MiB);
    const sendForMs = 600;
    let upstreamGot: Promise<Buffer> | undefined;
    const upstream = await startUpstream(mustCall((socket: net.Socket) => {
      const parts: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => parts.push(chunk));
      upstreamGot = once(socket, 'end').then(() => Buffer.concat(parts));
      socket.end(greeting);
    }));
    const proxy = await startProxy(upstream.port, mode);

    const client = track(net.connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true }));
    const parts: Buffer[] = [];
    client.on('data', (chunk: Buffer) => parts.push(chunk));
    let sentWhenEnded = -1;
    let sent = 0;
    client.on('end', mustCall(() => { sentWhenEnded = sent; }));
    await once(client, 'connect');
    const { result } = await proxy.next();
    const slice = Math.ceil(upload.length / (sendForMs / 10));
    while (sent < upload.length) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (!client.write(upload.subarray(sent, sent + slice))) await once(client, 'drain');
      sent = Math.min(sent + slice, upload.length);
    }
    client.end();

    await waitFor(() => upstreamGot !== undefined, 5000, 'the upstream connection');
    const got = await upstreamGot!;
    expect(sentWhenEnded).toBeGreaterThanOrEqual(0);
    expect(sentWhenEnded).toBeLessThan(upload.length);
    expect(Buffer.concat(parts).equals(greeting)).toBe(true);
    expect(got.length).toBe(upload.length);
    expect(sha256(got)).toBe(sha256(upload));
    expect(await result).toEqual({ bytesFirstToSecond: upload.length, bytesSecondToFirst: greeting.length });
    await proxy.close();
  }, 30000);

  test.each(['client', 'upstream'] as const)(
    'RELIABILITY #33: a reset from the %s while bytes flow both ways ends both sides, resolves with an error code, and leaks no fd',
    async (resetter) => {
      const upstreamSockets: net.Socket[] = [];
      const upstream = await startUpstream((socket) => {
        upstreamSockets.push(socket);
        echo({ hash: createHash('sha256'), bytes: 0 })(socket);
      }, false);
      const proxy = await startProxy(upstream.port, mode);

      // Warm-up: one whole forward in this mode first, so that the reactor's
      // pipe pool (splice mode) holds its pipes already. A forward takes its
      // two pipes from the pool and gives them back, or closes them if they
      // may still hold bytes, so afterwards the count may be up to 4 fds
      // (two pipes) lower than the baseline, and never higher.
      const warmUp = track(net.connect(proxy.port, '127.0.0.1'));
      const warmUpBack = receiveAll(warmUp);
      warmUp.end('ping');
      const warm = await proxy.next();
      expect((await warm.result).error).toBeUndefined();
      expect((await warmUpBack).bytes).toBe(4);
      if (!warmUp.closed) await once(warmUp, 'close');
      await waitFor(() => warm.client.closed && warm.upstream.closed, 5000, 'the warm-up sockets to close');
      const baseline = await settledFdCount();

      const client = track(net.connect(proxy.port, '127.0.0.1'));
      client.on('error', () => undefined);
      const clientClosed = closed(client);
      let clientBytes = 0;
      client.on('data', (chunk: Buffer) => { clientBytes += chunk.length; });
      const { client: reactorClient, upstream: reactorUpstream, result } = await proxy.next();
      const reactorSocketsClosed = Promise.all([
        new Promise((resolve) => reactorClient.once('close', mustCall(resolve))),
        new Promise((resolve) => reactorUpstream.once('close', mustCall(resolve))),
      ]);
      await waitFor(() => upstreamSockets.length === 2, 5000, 'the upstream connection');
      const upstreamSocket = upstreamSockets[1];
      const upstreamClosed = closed(upstreamSocket);

      // Keep bytes flowing both ways (the echo sends the client's back)
      // until the reset.
      const chunk = randomBytes(seededRandom(9), 64 * KiB);
      let flowing = true;
      const pump = (async () => {
        while (flowing && !client.destroyed) {
          if (!client.write(chunk)) await drainOrClose(client);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await waitFor(() => clientBytes > 1 * MiB, 10000, 'bytes flowing back to the client');
      flowing = false;
      if (resetter === 'client') client.resetAndDestroy();
      else upstreamSocket.resetAndDestroy();

      const outcome = await result;
      expect(outcome.error).toBeDefined();
      expect(typeof outcome.error!.code).toBe('string');
      expect(['ECONNRESET', 'EPIPE']).toContain(outcome.error!.code);
      expect(outcome.bytesFirstToSecond).toBeGreaterThan(0);
      expect(outcome.bytesSecondToFirst).toBeGreaterThan(0);
      // Both reactor sockets closed, and both peers saw their connection end.
      await reactorSocketsClosed;
      expect(reactorClient.destroyed && reactorUpstream.destroyed).toBe(true);
      await Promise.all([clientClosed, upstreamClosed, pump]);

      let fds = openFdCount();
      await waitFor(() => (fds = openFdCount()) <= baseline, 5000, `fd count back to ${baseline}`)
        .catch(() => undefined);
      expect(fds).toBeLessThanOrEqual(baseline);
      expect(fds).toBeGreaterThanOrEqual(baseline - 4);
      await proxy.close();
    }, 30000);
});

test('a client that stops reading for 2 s while the upstream floods 200 MB keeps the proxy\'s RSS bounded, then gets every byte', async () => {
  const total = 200 * MiB;
  // The flooding upstream and the slow client run in a child process, so
  // this process's RSS is the proxy's: with them here, node:net's own 200 MB
  // of chunks (held until GC) counted too, 64-74 MB of growth on Node 26
  // against 22 MB on Node 20 (ci61).
  const ends = startFixture('flood-through-proxy.js', { TOTAL: String(total), PAUSE_MS: '2000' }, { stdin: true });
  try {
    const { upstream } = await ends.next<{ upstream: number }>((line) => 'upstream' in line);
    const proxy = await startProxy(upstream, 'auto');
    const rssBaseline = process.memoryUsage.rss();
    let rssPeak = rssBaseline;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage.rss()); }, 20);
    try {
      ends.child.stdin!.write(`${proxy.port}\n`);
      const { result } = await proxy.next();
      const { sentWhilePaused } = await ends.next<{ sentWhilePaused: number }>((line) => 'sentWhilePaused' in line);
      const back = await ends.next<{ bytes: number; sha256: string; expectedSha256: string }>((line) => 'sha256' in line, 25000);
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());

      // The slow reader pushed back all the way to the sender: a few socket and
      // pipe buffers' worth was sent while it did not read, not the 200 MB.
      expect(sentWhilePaused).toBeLessThan(64 * MiB);
      expect(rssPeak - rssBaseline).toBeLessThan(64 * MiB);
      expect(back.bytes).toBe(total);
      expect(back.sha256).toBe(back.expectedSha256);
      expect(await result).toEqual({ bytesFirstToSecond: 0, bytesSecondToFirst: total });
    } finally {
      clearInterval(sampler);
    }
    await proxy.close();
  } finally {
    await ends.kill();
  }
}, 30000);

test('forward() on an upstream socket whose connect fails resolves with an error and closes the other socket', async () => {
  // forward() waits for a socket that is still connecting; when that connect
  // fails instead, the forward has ended ("resolves ... when one errors") and
  // must not leave the promise pending and the client open.
  const refusing = net.createServer();
  const deadPort = await listenLocal(refusing);
  await closeServer(refusing);

  let result: Promise<ForwardResult> | undefined;
  let reactorClient: Socket | undefined;
  const server = track(createServer({ allowHalfOpen: true }, mustCall((client: Socket) => {
    reactorClient = client;
    const upstream = track(connect({ port: deadPort, host: '127.0.0.1' }));
    upstream.on('error', mustCall((error: NodeJS.ErrnoException) => expect(error.code).toBe('ECONNREFUSED')));
    result = forward(client, upstream, { mode: 'auto' });
  })));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  client.on('error', () => undefined);
  const clientClosed = closed(client);
  await waitFor(() => result !== undefined, 5000, 'the connection');

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    result!,
    new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), 3000); }),
  ]);
  // Not left behind: a pending timer keeps jest's worker from exiting at the end.
  clearTimeout(timer);
  expect(outcome).not.toBe('pending');
  const { error, bytesFirstToSecond, bytesSecondToFirst } = outcome as ForwardResult;
  expect([bytesFirstToSecond, bytesSecondToFirst]).toEqual([0, 0]);
  expect(['ECONNREFUSED', 'EBADF']).toContain(error?.code);
  await clientClosed;
  expect(reactorClient!.destroyed).toBe(true);
  await closeServer(server);
}, 15000);
