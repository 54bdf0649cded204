// forward() at the edges of its hand-over (issue 12 items 5, 7, 21): a socket
// already flowing, a socket already ended, a second forward() of the same
// socket, a peer that reset before the call, and bad arguments. Each case runs
// client (node:net) → reactor server → forward() → reactor connect() →
// upstream (node:net).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';

import { connect, createServer, forward, ForwardResult, Socket } from '../lib';
import { checkMustCalls, listenLocal, mustCall, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { randomBytes, seededRandom } from './helpers/random';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolves with everything `socket` receives until 'end'. */
function receiveAll(socket: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => parts.push(chunk));
  return once(socket, 'end').then(() => Buffer.concat(parts));
}

/** A node:net upstream whose accepted sockets go to `onConnection`. */
async function startUpstream(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = track(net.createServer({ allowHalfOpen: true }, onConnection));
  return listenLocal(server);
}

/** A reactor server whose accepted sockets go to `onConnection`; returns its port. */
async function startServer(onConnection: (socket: Socket) => void): Promise<number> {
  const server = track(createServer({ allowHalfOpen: true }, onConnection));
  return listenLocal(server);
}

/** Connects a reactor socket to the upstream and waits until it is connected. */
async function connectUpstream(port: number): Promise<Socket> {
  const upstream = track(connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  await once(upstream, 'connect');
  return upstream;
}

test('item 5: forward() on a flowing socket (first chunk read with once("data")) loses no byte of a 4 MB upload', async () => {
  const upload = randomBytes(seededRandom(5), 4 * MiB);
  let upstreamReceived: Promise<Buffer> | undefined;
  const upstreamPort = await startUpstream((socket) => {
    upstreamReceived = receiveAll(socket);
    socket.on('end', () => socket.end());
  });
  let first: Buffer | undefined;
  let result: Promise<ForwardResult> | undefined;
  const port = await startServer((client) => {
    client.once('data', (chunk: Buffer) => {
      first = chunk;
      // forward() waits for the upstream's connect while the client streams
      // on: every byte read meanwhile must reach the upstream too.
      const upstream = track(connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }));
      result = forward(client, upstream);
    });
  });
  const client = track(net.connect(port, '127.0.0.1'));
  client.on('error', () => undefined);
  const back = receiveAll(client);
  client.end(upload);
  await waitFor(() => result !== undefined && upstreamReceived !== undefined, 10000, 'the forward');
  const outcome = await result!;
  expect(outcome.error).toBeUndefined();
  const got = await upstreamReceived!;
  expect(got.length + first!.length).toBe(upload.length);
  expect(sha256(Buffer.concat([first!, got]))).toBe(sha256(upload));
  expect(outcome.bytesFirstToSecond).toBe(upload.length - first!.length);
  expect((await back).length).toBe(0);
}, 30000);

test("item 7: a.end(); forward(a, b): the client gets the FIN, a emits 'finish', and the forward resolves", async () => {
  let upstreamReceived: Promise<Buffer> | undefined;
  const upstreamPort = await startUpstream((socket) => {
    upstreamReceived = receiveAll(socket);
    socket.on('end', () => socket.end());
  });
  let result: Promise<ForwardResult> | undefined;
  let finished = false;
  const port = await startServer(async (a) => {
    const b = await connectUpstream(upstreamPort);
    a.on('finish', mustCall(() => { finished = true; }));
    a.end('last words');
    result = forward(a, b);
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const fromServer = receiveAll(client);
  expect((await fromServer).toString()).toBe('last words');
  await waitFor(() => finished, 5000, "a's 'finish'");
  // The other direction still flows: the client's bytes and FIN reach the upstream.
  client.end('up we go');
  await waitFor(() => upstreamReceived !== undefined, 5000, 'the upstream connection');
  expect((await upstreamReceived!).toString()).toBe('up we go');
  const outcome = await result!;
  expect(outcome.error).toBeUndefined();
  expect(outcome.bytesFirstToSecond).toBe('up we go'.length);
}, 15000);

test('item 7: a.end() after its finish, then forward(a, b): the forward resolves once the client ends', async () => {
  const upstreamPort = await startUpstream((socket) => {
    socket.resume();
    socket.on('end', () => socket.end());
  });
  let result: Promise<ForwardResult> | undefined;
  const port = await startServer(async (a) => {
    const b = await connectUpstream(upstreamPort);
    a.end();
    await once(a, 'finish');
    result = forward(a, b);
  });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  client.resume();
  await once(client, 'end');
  await waitFor(() => result !== undefined, 5000, 'the forward');
  client.end('x');
  const outcome = await result!;
  expect(outcome.error).toBeUndefined();
  expect(outcome.bytesFirstToSecond).toBe(1);
}, 15000);

test('bytes held in JS for a side that JS ended fail the forward with EPIPE, not vanish', async () => {
  const upstreamPort = await startUpstream((socket) => { socket.resume(); });
  let a: Socket | undefined;
  const port = await startServer((socket) => { a = socket; });
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const clientEnding = new Promise<string | undefined>((resolve) => {
    client.on('error', (error: NodeJS.ErrnoException) => resolve(error.code));
    client.on('close', () => resolve(undefined));
  });
  client.resume();
  client.write('held for the upstream');
  await waitFor(() => a !== undefined && a.readableLength === 'held for the upstream'.length, 5000, 'the bytes to wait in JS');
  const b = await connectUpstream(upstreamPort);
  b.end();
  await once(b, 'finish');
  // Node's write after end(): the bytes cannot go, and the caller hears so.
  const outcome = await forward(a!, b);
  expect(outcome.error?.code).toBe('EPIPE');
  // A failed forward resets the client: its bytes did not all arrive.
  expect(await clientEnding).toBe('ECONNRESET');
}, 15000);

describe('item 21', () => {
  test('a second forward() of a forwarding socket throws ERR_INVALID_STATE and the first forward goes on', async () => {
    const upstreamPort = await startUpstream((socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end());
    });
    let result: Promise<ForwardResult> | undefined;
    const thrown: unknown[] = [];
    const port = await startServer(async (a) => {
      const b = await connectUpstream(upstreamPort);
      const c = await connectUpstream(upstreamPort);
      result = forward(a, b);
      for (const attempt of [() => forward(a, b), () => forward(b, a), () => forward(a, c), () => forward(c, b)]) {
        try {
          attempt();
        } catch (error) {
          thrown.push(error);
        }
      }
      expect(c.destroyed).toBe(false);
      c.destroy();
    });
    const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    await once(client, 'connect');
    await waitFor(() => result !== undefined, 5000, 'the forward');
    expect(thrown.map((error) => (error as NodeJS.ErrnoException).code)).toEqual(Array(4).fill('ERR_INVALID_STATE'));
    const back = receiveAll(client);
    client.end('still echoing');
    expect((await back).toString()).toBe('still echoing');
    const outcome = await result!;
    expect(outcome.error).toBeUndefined();
  }, 15000);

  test('a peer reset before forward() is reported as ECONNRESET, not EBADF', async () => {
    const upstreamPort = await startUpstream((socket) => socket.resume());
    let result: Promise<ForwardResult> | undefined;
    const port = await startServer(async (a) => {
      a.on('error', mustCall((error: NodeJS.ErrnoException) => expect(error.code).toBe('ECONNRESET')));
      // Not events.once: it rejects at the 'error' before 'close'.
      const closed = new Promise((resolve) => a.once('close', resolve));
      const b = await connectUpstream(upstreamPort);
      await closed;
      result = forward(a, b);
    });
    const client = track(net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    client.resetAndDestroy();
    await waitFor(() => result !== undefined, 5000, 'the forward');
    const outcome = await result!;
    expect(outcome.error?.code).toBe('ECONNRESET');
  }, 15000);

  test('bad options throw Node-style errors and leave both sockets usable', async () => {
    const upstreamPort = await startUpstream((socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end());
    });
    const codes: Array<string | undefined> = [];
    let result: Promise<ForwardResult> | undefined;
    const port = await startServer(async (a) => {
      const b = await connectUpstream(upstreamPort);
      const attempts: Array<() => unknown> = [
        () => forward(a, b, null as never),
        () => forward(a, b, 'copy' as never),
        () => forward(a, b, { mode: 'toString' as never }),
        () => forward(a, b, { mode: '__proto__' as never }),
        () => forward(a, b, { mode: 'hasOwnProperty' as never }),
        () => forward(a, b, { mode: 1 as never }),
        () => forward(a, a),
        // An object that is not a socket is an address; this one has no port.
        () => forward(a, {} as never),
        () => forward(null as never, b),
        () => forward(a, new Socket()),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
          codes.push('no error');
        } catch (error) {
          codes.push((error as NodeJS.ErrnoException).code);
        }
      }
      result = forward(a, b, { mode: 'copy' });
    });
    const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    await once(client, 'connect');
    await waitFor(() => result !== undefined, 5000, 'the forward');
    expect(codes).toEqual([
      'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE',
      'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE', 'ERR_MISSING_ARGS',
      'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_STATE',
    ]);
    const back = receiveAll(client);
    client.end('after the bad calls');
    expect((await back).toString()).toBe('after the bad calls');
    expect((await result!).error).toBeUndefined();
  }, 15000);
});


// A forward has no later moment for chunks held by cork(): an uncork() during
// it would put them among the forwarded bytes, and its end destroyed the
// socket with them held (their callbacks got ERR_STREAM_DESTROYED, the peer
// never got them). forward() sends them first, as the uncork() would.
describe.each(['to a socket', 'to an address'] as const)('chunks written while corked, forward() %s', (form) => {
  /**
   * client (node:net) → reactor server, where `prepare` writes to the
   * accepted socket (and the upstream socket, for the socket form) before
   * forward() → upstream (node:net). The client then sends 'ping' and its
   * FIN; resolves with what each end received.
   */
  async function corkedThenForward(prepare: (a: Socket, b: Socket | undefined) => void,
    options: { upstreamConnecting?: boolean } = {}): Promise<{ toClient: Buffer; toUpstream: Buffer; result: ForwardResult }> {
    let toUpstream: Promise<Buffer> | undefined;
    const upstreamPort = await startUpstream((socket) => {
      toUpstream = receiveAll(socket);
      socket.on('end', () => socket.end());
    });
    let result: Promise<ForwardResult> | undefined;
    const port = await startServer(async (a) => {
      if (form === 'to an address') {
        prepare(a, undefined);
        result = forward(a, { port: upstreamPort, host: '127.0.0.1' });
        return;
      }
      const b = options.upstreamConnecting
        ? track(connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }))
        : await connectUpstream(upstreamPort);
      prepare(a, b);
      result = forward(a, b);
    });
    const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    const toClient = receiveAll(client);
    await waitFor(() => result !== undefined, 5000, 'the forward');
    client.end('ping');
    const outcome = await result!;
    await waitFor(() => toUpstream !== undefined, 5000, 'the upstream connection');
    return { toClient: await toClient, toUpstream: await toUpstream!, result: outcome };
  }

  // Each write's callback says whether its bytes went; asserted after the forward.
  let callbacks: Array<string | null> = [];
  beforeEach(() => { callbacks = []; });
  const written = (): ((error?: Error | null) => void) => (error) => { callbacks.push(error?.message ?? null); };

  test('a corked write reaches the client before anything forwarded', async () => {
    const { toClient, toUpstream, result } = await corkedThenForward((a) => {
      a.cork();
      a.write('HTTP/1.1 200 Connection established\r\n\r\n', written());
    });
    expect(toClient.toString()).toBe('HTTP/1.1 200 Connection established\r\n\r\n');
    expect(toUpstream.toString()).toBe('ping');
    expect(result.error).toBeUndefined();
    expect(callbacks).toEqual([null]);
  }, 15000);

  test('cork() twice, a write under each: both go, in order', async () => {
    const { toClient, result } = await corkedThenForward((a) => {
      a.write('before;', written());
      a.cork();
      a.write('once;', written());
      a.cork();
      a.write('twice', written());
    });
    expect(toClient.toString()).toBe('before;once;twice');
    expect(result.error).toBeUndefined();
    expect(callbacks).toEqual([null, null, null]);
  }, 15000);

  test('a corked write behind 4 MB still in flight follows it whole', async () => {
    const bulk = randomBytes(seededRandom(7), 4 * MiB);
    const { toClient, result } = await corkedThenForward((a) => {
      a.write(bulk, written());
      a.cork();
      a.write('tail', written());
    });
    expect(toClient.length).toBe(bulk.length + 4);
    expect(sha256(toClient)).toBe(sha256(Buffer.concat([bulk, Buffer.from('tail')])));
    expect(result.error).toBeUndefined();
    expect(callbacks).toEqual([null, null]);
  }, 30000);

  if (form === 'to a socket') {
    test.each([false, true])('a corked write to the upstream socket (connecting: %s) reaches it before the client\'s bytes', async (upstreamConnecting) => {
      const { toUpstream, result } = await corkedThenForward((_a, b) => {
        b!.cork();
        b!.write('preamble;', written());
      }, { upstreamConnecting });
      expect(toUpstream.toString()).toBe('preamble;ping');
      expect(result.error).toBeUndefined();
      expect(callbacks).toEqual([null]);
    }, 15000);
  }
});
