// adopt() of a net.Socket whose write side is ending (issue 12 item 6), and
// adopt() with bad options (item 20): ended sockets pass every queued byte and
// the FIN on, and a call that throws leaves the net.Socket working.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { adopt, connect, forward, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, listenLocal, mustCall, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { randomBytes, seededRandom } from './helpers/random';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const MiB = 1024 * 1024;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function receiveAll(socket: net.Socket | Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => parts.push(chunk));
  return once(socket, 'end').then(() => Buffer.concat(parts));
}

/** A connected pair: `plain`, the net.Socket a net.Server accepted, and the client. */
async function connectedPair(): Promise<{ plain: net.Socket; client: net.Socket }> {
  const server = track(net.createServer({ allowHalfOpen: true }));
  const port = await listenLocal(server);
  const accepted = once(server, 'connection');
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  const [plain] = (await accepted) as [net.Socket];
  track(plain);
  await once(client, 'connect').catch(() => undefined);
  return { plain, client };
}

/**
 * adopt() of a connected net.Socket with 8 MiB (filled with `fill`) still
 * queued in libuv: its peer, `client`, is paused, so the hand-over waits
 * until the client resumes.
 */
async function adoptedWithWritesPending(fill: number): Promise<{ plain: net.Socket; client: net.Socket; adopted: Socket }> {
  const { plain, client } = await connectedPair();
  client.pause();
  plain.write(Buffer.alloc(8 * MiB, fill));
  const adopted = track(adopt(plain));
  return { plain, client, adopted };
}

test('item 6: write(8 MiB); end(); adopt(): the peer gets every byte and the FIN, and the write callback tells the truth', async () => {
  const { plain, client } = await connectedPair();
  const payload = randomBytes(seededRandom(6), 8 * MiB);
  client.pause(); // so that most of the 8 MiB is still queued in libuv when adopt() runs
  let writeError: Error | null | undefined;
  plain.write(payload, (error) => { writeError = error; });
  plain.end();
  const adopted = track(adopt(plain));
  expect(adopted.writableEnded).toBe(true);
  const received = receiveAll(client);
  client.resume();
  const got = await received;
  expect(got.length).toBe(payload.length);
  expect(sha256(got)).toBe(sha256(payload));
  expect(writeError).toBeNull();
  // The read side stays with the adopted socket.
  const back = receiveAll(adopted);
  client.end('reply');
  expect((await back).toString()).toBe('reply');
}, 20000);

test("item 6: end('bye'); adopt(): the peer gets 'bye' and the FIN, the adopted socket says writableEnded and emits 'finish'", async () => {
  const { plain, client } = await connectedPair();
  const received = receiveAll(client);
  plain.end('bye');
  const adopted = track(adopt(plain));
  expect(adopted.writableEnded).toBe(true);
  adopted.on('finish', mustCall());
  expect((await received).toString()).toBe('bye');
  await waitFor(() => adopted.writableFinished, 5000, "the adopted socket's 'finish'");
  const back = receiveAll(adopted);
  client.end('still reading');
  expect((await back).toString()).toBe('still reading');
  await once(adopted, 'close');
}, 15000);

// The hand-over waits for the net.Socket's writes to go out; corked ones
// never did, so the adopted socket waited for ever.
test('cork(); write(); adopt(): the corked bytes reach the peer first, and the adopted socket serves the connection', async () => {
  const { plain, client } = await connectedPair();
  const callbacks: Array<string | null> = [];
  const written = (error?: Error | null): void => { callbacks.push(error?.message ?? null); };
  plain.write('before;', written);
  plain.cork();
  plain.write('corked;', written);
  plain.cork();
  plain.write('twice', written);
  const adopted = track(adopt(plain));
  adopted.on('data', (chunk: Buffer) => adopted.write(chunk));
  adopted.on('end', () => adopted.end());
  const received = receiveAll(client);
  await waitFor(() => client.bytesRead >= 'before;corked;twice'.length, 5000, 'the corked bytes');
  client.end(';echoed');
  expect((await received).toString()).toBe('before;corked;twice;echoed');
  expect(callbacks).toEqual([null, null, null]);
}, 15000);

test('item 6: end() after it finished, then adopt(): the adopted socket is ended and reads on', async () => {
  const { plain, client } = await connectedPair();
  const received = receiveAll(client);
  plain.end('done');
  await once(plain, 'finish');
  const adopted = track(adopt(plain));
  expect(adopted.writableEnded).toBe(true);
  expect((await received).toString()).toBe('done');
  const back = receiveAll(adopted);
  client.end('more');
  expect((await back).toString()).toBe('more');
}, 15000);

test('an adopted socket that came ended, closed and connected again sends its FIN on end(), as a new connection does', async () => {
  const { plain, client } = await connectedPair();
  plain.end('done');
  await once(plain, 'finish');
  const adopted = track(adopt(plain));
  adopted.resume();
  client.resume();
  client.end();
  await once(adopted, 'close');
  // net.Socket#connect on a closed socket starts a new connection; its
  // write side is open again, whatever the old one's was.
  const server = track(net.createServer({ allowHalfOpen: true }));
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const connected = once(adopted, 'connect');
  adopted.connect(port, '127.0.0.1');
  const [peer] = await accepted;
  track(peer);
  const received = receiveAll(peer);
  await connected;
  adopted.end('again');
  expect((await received).toString()).toBe('again');
}, 15000);

test('item 20: adopt() with bad options throws a Node-style error and leaves the net.Socket working', async () => {
  const { plain, client } = await connectedPair();
  const codes: Array<string | undefined> = [];
  const bad: unknown[] = [null, 'x', { highWaterMark: -1 }, { readableHighWaterMark: 'big' }, { writableHighWaterMark: -5 }];
  for (const options of bad) {
    try {
      adopt(plain, options as never);
      codes.push('no error');
    } catch (error) {
      codes.push((error as NodeJS.ErrnoException).code);
    }
  }
  expect(codes).toEqual(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE',
    'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE']);
  // Still a plain, reading net.Socket: it echoes.
  plain.on('data', (chunk: Buffer) => plain.write(chunk));
  client.write('ping');
  const [echoed] = (await once(client, 'data')) as [Buffer];
  expect(echoed.toString()).toBe('ping');
  // And it can still be adopted.
  plain.removeAllListeners('data');
  const adopted = track(adopt(plain));
  adopted.on('data', (chunk: Buffer) => adopted.write(chunk));
  client.write('pong');
  const [again] = (await once(client, 'data')) as [Buffer];
  expect(again.toString()).toBe('pong');
}, 15000);

/**
 * A connected pair whose accepted side, `plain`, libuv never reads
 * (pauseOnConnect): what the client sends or does (a reset, a FIN) waits in
 * the kernel, unseen by net.
 */
async function unreadPair(): Promise<{ plain: net.Socket; client: net.Socket }> {
  const server = track(net.createServer({ pauseOnConnect: true }));
  const serverPort = await listenLocal(server);
  const accepted = once(server, 'connection');
  const client = track(net.connect(serverPort, '127.0.0.1'));
  const [plain] = (await accepted) as [net.Socket];
  track(plain);
  await once(client, 'connect');
  return { plain, client };
}

test('adopt() of a connection its peer already reset: forward() of it settles with an error, it does not throw', async () => {
  // Unread: libuv cannot notice the reset.
  const { plain, client } = await unreadPair();
  client.resetAndDestroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const upstream = track(net.createServer((socket) => socket.resume()));
  const port = await listenLocal(upstream);
  const other = track(connect(port, '127.0.0.1'));
  other.on('error', () => undefined);
  // adopt() and forward() back to back, as a proxy does.
  const adopted = adopt(plain);
  const errors: string[] = [];
  adopted.on('error', (error: NodeJS.ErrnoException) => errors.push(String(error.code)));
  const result = await forward(adopted, other);
  expect(result.error).toBeDefined();
  expect(adopted.destroyed).toBe(true);
  await new Promise((resolve) => setImmediate(resolve));
  expect(errors.length).toBeLessThanOrEqual(1);
});

/**
 * A net.Socket whose connection has closed both ways, unread: the peer sent
 * `lastWords` and its FIN, and the net.Socket's FIN went out. Unread, so the
 * bytes and the FIN wait in the kernel, and getpeername() of it now says ENOTCONN.
 */
async function closedBothWays(lastWords: string, askPeer: boolean): Promise<{ plain: net.Socket; clientPort: number }> {
  const { plain, client } = await unreadPair();
  const clientPort = client.localPort as number;
  // As a server's listener would, while it is connected (net caches the answer).
  if (askPeer) expect(plain.remotePort).toBe(clientPort);
  const clientClosed = once(client, 'close');
  client.end(lastWords);
  plain.end();
  await Promise.all([once(plain, 'finish'), clientClosed]);
  return { plain, clientPort };
}

test("adopt() of an ended socket whose connection has closed both ways: its last bytes, 'end' and 'close', as net's would", async () => {
  const { plain, clientPort } = await closedBothWays('last words', true);
  const adopted = track(adopt(plain));
  adopted.on('error', mustCall(() => undefined, 0));
  const received = receiveAll(adopted);
  expect((await received).toString()).toBe('last words');
  await once(adopted, 'close');
  expect(adopted.remotePort).toBe(clientPort);
});

test('adopt() of a TCP connection that closed before its peer was asked for: still TCP (resetAndDestroy, setNoDelay), peer unknown as in net', async () => {
  const { plain } = await closedBothWays('x', false);
  const adopted = track(adopt(plain));
  expect(adopted.remoteAddress).toBeUndefined();
  expect(() => adopted.setNoDelay(true)).not.toThrow();
  expect(() => adopted.resetAndDestroy()).not.toThrow();
  await once(adopted, 'close');
});

test('adopt() of a socket with writes pending, destroyed before the hand-over: the connection closes, and its peer sees it end', async () => {
  const { plain, client } = await connectedPair();
  client.pause(); // the 8 MiB stay queued in libuv, so the hand-over waits for them
  plain.write(randomBytes(seededRandom(7), 8 * MiB));
  const adopted = track(adopt(plain));
  adopted.destroy();
  await once(adopted, 'close');
  // Once the peer reads, the writes drain. The hand-over must not attach the
  // destroyed socket then, which left the connection open with no owner.
  let ended = false;
  client.on('end', () => { ended = true; });
  client.on('error', () => { ended = true; }); // a reset ends it too
  client.resume();
  await waitFor(() => ended, 5000, "the peer's 'end'");
  expect(adopted.destroyed).toBe(true);
}, 20000);

test('adopt() of a socket with writes pending, destroyed and connected elsewhere before the hand-over: the new connection stays its own, the old one closes', async () => {
  const { plain, client } = await connectedPair();
  const elsewhere = track(net.createServer({ allowHalfOpen: true }));
  const port = await listenLocal(elsewhere);
  client.pause(); // the 8 MiB stay queued in libuv, so the hand-over waits for them
  plain.write(Buffer.alloc(8 * MiB, 8));
  const adopted = track(adopt(plain));
  adopted.destroy();
  // As with net, a destroyed socket may be connected again, here before its 'close'.
  const accepted = once(elsewhere, 'connection') as Promise<[net.Socket]>;
  const connected = once(adopted, 'connect');
  adopted.connect(port, '127.0.0.1');
  const [peer] = await accepted;
  track(peer);
  await connected;
  // Once the peer reads, the writes drain. The hand-over must not attach the
  // old connection to the socket that now has a new one.
  let ended = false;
  client.on('end', () => { ended = true; });
  client.on('error', () => { ended = true; }); // a reset ends it too
  client.resume();
  await waitFor(() => ended, 5000, "the old peer's 'end'");
  await new Promise((resolve) => setTimeout(resolve, 50));
  // (Not end(): after a connect() that came before the old life's 'close',
  // net sends no FIN either.)
  let received = '';
  peer.on('data', (chunk: Buffer) => { received += chunk.toString(); });
  adopted.write('new');
  await waitFor(() => received === 'new', 5000, 'the new peer gets the write');
  expect(adopted.remotePort).toBe(port);
}, 20000);

test('connect() of an adopted socket still waiting for its hand-over throws, as for a connected socket', async () => {
  const { client, adopted } = await adoptedWithWritesPending(9);
  expect(() => adopted.connect(1, '127.0.0.1')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CONNECTING' }));
  // The hand-over still happens, and the connection is the adopted socket's.
  client.resume();
  const received = receiveAll(client);
  await waitFor(() => adopted.remotePort !== undefined, 5000, 'the hand-over');
  adopted.end('after');
  expect((await received).subarray(-5).toString()).toBe('after');
}, 20000);

test('adopt() of a socket with writes pending, resetAndDestroy() before the hand-over: the net.Socket is reset, not closed', async () => {
  const { plain, client, adopted } = await adoptedWithWritesPending(10);
  // What the peer then sees depends on what its kernel had queued, for
  // net's own resetAndDestroy() too; the reset is net's to make.
  const reset = jest.spyOn(plain, 'resetAndDestroy');
  const destroy = jest.spyOn(plain, 'destroy');
  adopted.resetAndDestroy();
  expect(reset).toHaveBeenCalledTimes(1);
  expect(destroy.mock.calls.length).toBeLessThanOrEqual(1); // the one resetAndDestroy() makes
  await once(adopted, 'close');
  expect(plain.destroyed).toBe(true);
  client.destroy();
});

test("adopt() with writes pending: a 'data' listener that destroys the adopted socket at the hand-over leaves no connection behind", async () => {
  const { client, adopted } = await adoptedWithWritesPending(11);
  // Bytes libuv reads while the hand-over waits reach the adopted socket at
  // the hand-over, as 'data' to a flowing socket: this listener destroys it there.
  adopted.on('data', () => adopted.destroy());
  client.write('before the hand-over');
  let ended = false;
  client.on('end', () => { ended = true; });
  client.on('error', () => { ended = true; });
  client.resume();
  await once(adopted, 'close');
  await waitFor(() => ended, 5000, "the peer's 'end'");
  // Never attached: the reactor holds no connection. The addresses are net's, kept after destroy() as net keeps them.
  expect(getReactor().connections.size).toBe(0);
  expect(adopted.remotePort).toBe(client.localPort);
}, 20000);

test('adopt() with writes pending: a reset by the peer while the hand-over waits is an error of the adopted socket, not an uncaught one', async () => {
  // The user listens on the adopted socket only, as the example in adopt's documentation.
  const { client, adopted } = await adoptedWithWritesPending(12);
  const failed = once(adopted, 'error');
  client.resetAndDestroy();
  const [error] = (await failed) as [NodeJS.ErrnoException];
  expect(error.code).toBe('ECONNRESET');
  await once(adopted, 'close');
}, 20000);

test("adopt() of an ended socket: a destroy() and connect() in the net.Socket's 'close' after a reset keep the new connection", async () => {
  const { plain, client } = await connectedPair();
  const elsewhere = track(net.createServer());
  const port = await listenLocal(elsewhere);
  client.pause();
  plain.write(Buffer.alloc(8 * MiB, 13));
  plain.end();
  const adopted = track(adopt(plain));
  const errors: string[] = [];
  adopted.on('error', (error: NodeJS.ErrnoException) => errors.push(String(error.code)));
  const connected = once(adopted, 'connect');
  plain.once('close', () => {
    // The reset reached the adopted socket as lost(); this starts its next life.
    adopted.destroy();
    adopted.connect(port, '127.0.0.1');
  });
  client.resetAndDestroy();
  await connected;
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(adopted.destroyed).toBe(false);
  expect(adopted.remotePort).toBe(port);
  expect(errors).toEqual([]);
}, 20000);

test('resetAndDestroy() of an adopted Unix socket still waiting for its hand-over throws ERR_INVALID_HANDLE_TYPE, as net, and changes nothing', async () => {
  const socketPath = path.join(os.tmpdir(), `epoll-reactor-adopt-edges-${process.pid}-${Date.now()}.sock`);
  const server = track(net.createServer());
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = track(net.connect(socketPath));
  const [plain] = await accepted;
  track(plain);
  client.pause();
  plain.write(Buffer.alloc(8 * MiB, 14));
  const adopted = track(adopt(plain));
  expect(() => adopted.resetAndDestroy()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_HANDLE_TYPE' }));
  expect(adopted.destroyed).toBe(false);
  // The hand-over still comes, and the connection works.
  let received = 0;
  client.on('data', (chunk: Buffer) => { received += chunk.length; });
  client.resume();
  adopted.write('after');
  await waitFor(() => received === 8 * MiB + 5, 10000, 'every byte at the peer');
  adopted.destroy();
}, 20000);

/** `plain` after reading its first chunk whole, as a proxy reads a preamble: 'ab' taken, 'cd' and 'ef' left unread. */
async function afterReadingFirstChunk(plain: net.Socket, client: net.Socket): Promise<void> {
  plain.pause();
  client.setNoDelay(true);
  for (const part of ['ab', 'cd', 'ef']) {
    client.write(part);
    await waitFor(() => plain.readableLength >= 2 * (['ab', 'cd', 'ef'].indexOf(part) + 1), 2000, `'${part}' read by net`);
  }
  // Three chunks in the readable buffer; read() of exactly the first leaves
  // it as a null entry before bufferIndex (Node 20 to 26).
  expect(plain.read(2)?.toString()).toBe('ab');
}

test('adopt() of a socket whose first chunk was read whole: the rest, in order, and nothing thrown', async () => {
  const { plain, client } = await connectedPair();
  await afterReadingFirstChunk(plain, client);
  const adopted = track(adopt(plain));
  const received = receiveAll(adopted);
  client.end('gh');
  expect((await received).toString()).toBe('cdefgh');
  expect(adopted.bytesRead).toBe(6);
});

test('adopt() with writes pending, of a socket whose first chunk was read whole: the rest at the hand-over, no uncaught throw', async () => {
  const { plain, client } = await connectedPair();
  await afterReadingFirstChunk(plain, client);
  client.pause();
  plain.write(Buffer.alloc(8 * MiB, 1));
  const adopted = track(adopt(plain));
  const received = receiveAll(adopted);
  const drained = receiveAll(client);
  client.resume();
  client.end('gh');
  expect((await received).toString()).toBe('cdefgh');
  adopted.end();
  expect((await drained).length).toBe(8 * MiB);
}, 20000);

test("adopt() of a socket with an encoding: the start of a character its decoder held back reaches the adopted socket's bytes", async () => {
  const { plain, client } = await connectedPair();
  plain.setEncoding('utf8');
  const text = once(plain, 'data');
  // 'AB' and the first two bytes of '€' (e2 82 ac).
  client.write(Buffer.from([0x41, 0x42, 0xe2, 0x82]));
  expect((await text)[0]).toBe('AB');
  plain.pause();
  const adopted = track(adopt(plain));
  const received = receiveAll(adopted);
  client.end(Buffer.from([0xac, 0x43]));
  expect(await received).toEqual(Buffer.from([0xe2, 0x82, 0xac, 0x43]));
  expect(adopted.bytesRead).toBe(4);
});

test("an adopted socket waiting for net's writes has net's addresses, and keeps them at the hand-over", async () => {
  const { plain, client } = await connectedPair();
  const known = { remoteAddress: plain.remoteAddress, remotePort: plain.remotePort, remoteFamily: plain.remoteFamily,
    localAddress: plain.localAddress, localPort: plain.localPort, address: plain.address() };
  client.pause();
  plain.write(Buffer.alloc(8 * MiB));
  const adopted = track(adopt(plain));
  const addressesOf = (socket: Socket): object => ({ remoteAddress: socket.remoteAddress, remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily, localAddress: socket.localAddress, localPort: socket.localPort, address: socket.address() });
  expect(adopted.pending).toBe(true);
  expect(addressesOf(adopted)).toEqual(known);
  client.resume();
  await waitFor(() => !adopted.pending, 10000, 'the hand-over');
  expect(addressesOf(adopted)).toEqual(known);
}, 20000);

// A proxy that answers its client through net (a SOCKS reply, say) and then
// adopts and forwards it: the reply may still be queued in libuv, and the
// adopted socket waits to be attached. forward() threw ERR_INVALID_STATE
// ("neither connected nor connecting") for it; it waits, as for a connect.
describe.each(['to a socket', 'to an address'] as const)('adopt() with writes pending, then forward() %s at once', (form) => {
  async function echoUpstream(): Promise<number> {
    return listenLocal(track(net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.pipe(socket);
    })));
  }

  async function forwardAdopted(adopted: Socket, upstreamPort: number) {
    if (form === 'to an address') return forward(adopted, { port: upstreamPort, host: '127.0.0.1' });
    const upstream = track(connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }));
    upstream.on('error', () => undefined);
    return forward(adopted, upstream);
  }

  test('the queued bytes reach the client first, then the forward carries both ways', async () => {
    const upstreamPort = await echoUpstream();
    const { plain, client } = await connectedPair();
    const reply = randomBytes(seededRandom(55), 8 * MiB);
    client.pause(); // most of the 8 MiB stays queued in libuv until the client reads
    let replyError: Error | null | undefined;
    plain.write(reply, (error) => { replyError = error; });
    const adopted = track(adopt(plain));
    const result = forwardAdopted(adopted, upstreamPort);
    const received = receiveAll(client);
    client.resume();
    await waitFor(() => client.bytesRead >= reply.length, 10000, 'the queued reply');
    client.end('through the forward');
    const got = await received;
    expect(got.length).toBe(reply.length + 'through the forward'.length);
    expect(sha256(got)).toBe(sha256(Buffer.concat([reply, Buffer.from('through the forward')])));
    expect(replyError).toBeNull();
    const outcome = await result;
    expect(outcome.error).toBeUndefined();
    expect(outcome.bytesFirstToSecond).toBe('through the forward'.length);
  }, 20000);

  test('a client reset before the hand-over settles the forward once, with the error', async () => {
    const upstreamPort = await echoUpstream();
    const { plain, client } = await connectedPair();
    client.pause();
    plain.on('error', () => undefined);
    plain.write(Buffer.alloc(8 * MiB));
    const adopted = track(adopt(plain));
    const errors: string[] = [];
    adopted.on('error', (error: NodeJS.ErrnoException) => errors.push(String(error.code)));
    const closed = new Promise((resolve) => adopted.once('close', resolve));
    let settled = 0;
    const result = forwardAdopted(adopted, upstreamPort).then((outcome) => {
      settled++;
      return outcome;
    });
    client.resetAndDestroy();
    const outcome = await result;
    expect(outcome.error?.code).toBe('ECONNRESET');
    if (form === 'to an address') expect(outcome.connected).toBe(false);
    await closed;
    expect(adopted.destroyed).toBe(true);
    expect(errors).toEqual(['ECONNRESET']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(1);
  }, 20000);
});
