// adopt() takes a live, connected net.Socket over from libuv in the middle of
// a transfer: not a byte is lost, duplicated or reordered, nothing is sent to
// the peer (no FIN, no RST), bytes already read and writes still queued move
// with it, and sockets that cannot be adopted are refused with a code.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { adopt, Socket } from '../lib';
import { bulkBytes, checkMustCalls, closeServer, mustCall, mustNotCall, readExactly, waitFor } from './helpers';
import { makeTestCertificate } from './helpers/cert';
import { releaseTracked, track } from './helpers/cleanup';
import { randomBytes, seededRandom } from './helpers/random';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const MiB = 1024 * 1024;
const STREAM_BYTES = bulkBytes(64 * MiB);
const ADOPT_AFTER = STREAM_BYTES / 4;
const STREAM_MB = `${ADOPT_AFTER / MiB} MB of a ${STREAM_BYTES / MiB} MB`;
const TEST_TIMEOUT = 30000;



/** The seeded stream, cut into chunks of 1 B to 128 KiB. */
function* seededChunks(seed: number, total: number): Generator<Buffer> {
  const random = seededRandom(seed);
  let produced = 0;
  while (produced < total) {
    const size = Math.min(1 + (random() % (128 * 1024)), total - produced);
    produced += size;
    yield randomBytes(random, size);
  }
}

/** Resolves on 'drain', or at once if the socket is destroyed while waiting. */
function drainOrClose(socket: net.Socket | Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.removeListener('drain', done);
      socket.removeListener('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** Echoes what `socket` reads back to it, pausing while its writes back up. */
function echo(socket: Socket): void {
  socket.on('data', (chunk: Buffer) => {
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  });
}

/** Counts and hashes what a socket receives, resolving once `total` bytes are in. */
class Receiver {
  readonly hash = createHash('sha256');
  bytes = 0;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => { this.resolveDone = resolve; });

  constructor(private readonly total: number) {}

  readonly onData = (chunk: Buffer): void => {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= this.total) this.resolveDone();
  };
}

/**
 * Case (a) and (c): a node:net server echoes a node:net client's 64 MB stream
 * and adopts its socket after 16 MB, in the middle of its 'data' handler.
 */
async function serverSideHandover(listenOn: net.ListenOptions): Promise<void> {
  let adopted: Socket | undefined;
  let receivedBeforeAdoption = 0;
  let lateBytesOnPlain = 0;
  const server = track(net.createServer(mustCall((plain: net.Socket) => {
    plain.on('error', mustNotCall('the adopted net.Socket emitted error'));
    plain.on('close', mustCall());
    plain.on('data', (chunk: Buffer) => {
      if (adopted !== undefined) {
        // The reactor socket owns the connection now: nothing may come here.
        lateBytesOnPlain += chunk.length;
        return;
      }
      receivedBeforeAdoption += chunk.length;
      const flushed = plain.write(chunk);
      if (receivedBeforeAdoption >= ADOPT_AFTER) {
        adopted = track(adopt(plain));
        adopted.on('error', mustNotCall('the reactor socket emitted error'));
        adopted.on('close', mustCall());
        echo(adopted);
      } else if (!flushed) {
        plain.pause();
        plain.once('drain', () => {
          if (adopted === undefined) plain.resume();
        });
      }
    });
  })));
  server.listen(listenOn);
  await once(server, 'listening');
  const client = track(net.connect(listenOn.path !== undefined
    ? { path: listenOn.path } : { port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' }));
  await once(client, 'connect');

  // A FIN or RST from the handover would show here, before all bytes are back.
  const clientEvents: string[] = [];
  const received = new Receiver(STREAM_BYTES);
  client.on('data', received.onData);
  client.on('end', () => clientEvents.push(`end after ${received.bytes} bytes`));
  client.on('error', (error: NodeJS.ErrnoException) => clientEvents.push(`error ${error.code} after ${received.bytes} bytes`));

  const sent = createHash('sha256');
  let sentBytes = 0;
  for (const chunk of seededChunks(0xada9701, STREAM_BYTES)) {
    sent.update(chunk);
    sentBytes += chunk.length;
    if (!client.write(chunk)) await drainOrClose(client);
    if (client.destroyed) break;
  }
  await received.done;

  expect(clientEvents).toEqual([]);
  expect(sentBytes).toBe(STREAM_BYTES);
  expect(received.bytes).toBe(STREAM_BYTES);
  expect(received.hash.digest('hex')).toBe(sent.digest('hex'));
  expect(lateBytesOnPlain).toBe(0);
  expect(adopted).toBeInstanceOf(Socket);
  const socket = adopted as Socket;
  expect(receivedBeforeAdoption + socket.bytesRead).toBe(STREAM_BYTES);
  if (listenOn.path === undefined) {
    expect(socket.remoteAddress).toBe('127.0.0.1');
    expect(socket.remotePort).toBe(client.localPort);
    expect(socket.localPort).toBe(client.remotePort);
  } else {
    expect(socket.remoteAddress).toBeUndefined();
  }

  // Now the client ends; the reactor socket ends in turn.
  const clientClosed = once(client, 'close');
  const adoptedClosed = once(socket, 'close');
  client.end();
  await clientClosed;
  await adoptedClosed;
  expect(clientEvents).toEqual([`end after ${STREAM_BYTES} bytes`]);
  await closeServer(server);
}


/** A node:net server on 127.0.0.1 with one connection: the accepted socket, and a client that reads nothing yet. */
async function plainPairWithPausedClient(): Promise<{ server: net.Server; client: net.Socket; plain: net.Socket }> {
  const server = track(net.createServer());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = track(net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'));
  await once(client, 'connect');
  client.pause();
  const [plain] = await accepted;
  return { server, client, plain };
}
test(`(a) an accepted socket adopted after ${STREAM_MB} echo loses nothing and sends no FIN or RST`, async () => {
  await serverSideHandover({ port: 0, host: '127.0.0.1' });
}, TEST_TIMEOUT);

test(`(b) an outbound net.connect socket adopted after ${STREAM_MB} echo loses nothing and sends no FIN or RST`, async () => {
  // The peer is a node:net echo server; it records any FIN or error it sees.
  const peerEvents: string[] = [];
  let peerBytes = 0;
  const server = track(net.createServer(mustCall((peer: net.Socket) => {
    peer.on('data', (chunk: Buffer) => { peerBytes += chunk.length; });
    peer.on('end', () => peerEvents.push(`end after ${peerBytes} bytes`));
    peer.on('error', (error: NodeJS.ErrnoException) => peerEvents.push(`error ${error.code} after ${peerBytes} bytes`));
    peer.pipe(peer);
  })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const plain = track(net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'));
  await once(plain, 'connect');
  plain.on('error', mustNotCall('the adopted net.Socket emitted error'));
  plain.on('close', mustCall());

  const received = new Receiver(STREAM_BYTES);
  let adopted: Socket | undefined;
  let lateBytesOnPlain = 0;
  plain.on('data', (chunk: Buffer) => {
    if (adopted !== undefined) lateBytesOnPlain += chunk.length;
    else received.onData(chunk);
  });

  const sent = createHash('sha256');
  let sentBytes = 0;
  let current: net.Socket | Socket = plain;
  for (const chunk of seededChunks(0xc11e47, STREAM_BYTES)) {
    sent.update(chunk);
    sentBytes += chunk.length;
    const flushed = current.write(chunk);
    if (adopted === undefined && sentBytes >= ADOPT_AFTER) {
      adopted = track(adopt(plain));
      adopted.on('data', received.onData);
      adopted.on('error', mustNotCall('the reactor socket emitted error'));
      adopted.on('close', mustCall());
      current = adopted;
      continue;
    }
    if (!flushed) await drainOrClose(current);
    expect(current.destroyed).toBe(false);
  }
  await received.done;

  expect(peerEvents).toEqual([]);
  expect(sentBytes).toBe(STREAM_BYTES);
  expect(received.bytes).toBe(STREAM_BYTES);
  expect(received.hash.digest('hex')).toBe(sent.digest('hex'));
  expect(lateBytesOnPlain).toBe(0);
  const socket = adopted as Socket;
  expect(socket).toBeInstanceOf(Socket);
  expect(socket.remotePort).toBe((server.address() as net.AddressInfo).port);
  expect(socket.remoteAddress).toBe('127.0.0.1');

  const closed = once(socket, 'close');
  socket.end();
  await closed;
  expect(peerEvents).toEqual([`end after ${STREAM_BYTES} bytes`]);
  await closeServer(server);
}, TEST_TIMEOUT);

test(`(c) over a Unix socket path, an accepted socket adopted after ${STREAM_MB} echo loses nothing`, async () => {
  const socketPath = path.join(os.tmpdir(), `epoll-reactor-adopt-${process.pid}-${Date.now()}.sock`);
  try {
    await serverSideHandover({ path: socketPath });
  } finally {
    fs.rmSync(socketPath, { force: true });
  }
}, TEST_TIMEOUT);

test('(d) bytes the net.Socket had read but not delivered come first on the adopted socket, then the rest, in order', async () => {
  const first = randomBytes(seededRandom(1), 256 * 1024);
  const second = randomBytes(seededRandom(2), 256 * 1024);
  const expected = Buffer.concat([first, second]);
  const server = track(net.createServer());
  const accepted = new Promise<net.Socket>((resolve) => {
    server.on('connection', (plain: net.Socket) => {
      plain.pause();
      resolve(plain);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = track(net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'));
  const plain = await accepted;
  plain.on('close', mustCall());
  plain.on('error', mustNotCall('the adopted net.Socket emitted error'));

  client.write(first);
  await waitFor(() => plain.readableLength > 0, 5000, 'the paused net.Socket to buffer data');
  const bufferedAtAdoption = plain.readableLength;

  const adopted = track(adopt(plain));
  adopted.on('error', mustNotCall('the reactor socket emitted error'));
  client.write(second);
  const delivered = await readExactly(adopted, expected.length);

  expect(bufferedAtAdoption).toBeGreaterThan(0);
  expect(bufferedAtAdoption).toBeLessThan(expected.length);
  expect(delivered.length).toBe(expected.length);
  expect(delivered.subarray(0, bufferedAtAdoption).equals(first.subarray(0, bufferedAtAdoption))).toBe(true);
  expect(delivered.equals(expected)).toBe(true);
  expect(adopted.bytesRead).toBe(expected.length);

  const closed = once(adopted, 'close');
  client.end();
  await closed;
  await closeServer(server);
}, TEST_TIMEOUT);

test('(e) writes still queued on the net.Socket go out before those made on the adopted socket', async () => {
  const old = randomBytes(seededRandom(3), 32 * MiB);
  const fresh = randomBytes(seededRandom(4), 1 * MiB);
  // The peer reads nothing until the handover is under way.
  const { server, client, plain } = await plainPairWithPausedClient();
  plain.on('close', mustCall());
  plain.on('error', mustNotCall('the adopted net.Socket emitted error'));

  plain.write(old);
  expect(plain.writableLength).toBeGreaterThan(0);
  const queuedAtAdoption = plain.writableLength;

  const adopted = track(adopt(plain));
  adopted.on('error', mustNotCall('the reactor socket emitted error'));
  adopted.write(fresh, mustCall((error?: Error | null) => expect(error ?? null).toBeNull()));
  adopted.end();
  adopted.resume();  // consumed, so that the peer's FIN ends it and it closes

  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  const ended = once(client, 'end');
  client.resume();
  await ended;
  const received = Buffer.concat(parts);

  expect(queuedAtAdoption).toBeGreaterThan(0);
  expect(received.length).toBe(old.length + fresh.length);
  expect(received.subarray(0, old.length).equals(old)).toBe(true);
  expect(received.subarray(old.length).equals(fresh)).toBe(true);

  client.end();
  await once(adopted, 'close');
  await closeServer(server);
}, TEST_TIMEOUT);

describe('RELIABILITY #42: (f) refusals', () => {
  /** A node:net echo server and a connected node:net client. */
  async function echoPair(): Promise<{ server: net.Server; client: net.Socket; port: number }> {
    const server = track(net.createServer((peer) => peer.pipe(peer)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const client = track(net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    return { server, client, port };
  }

  /** One echo round trip through `socket`. */
  async function roundTrip(socket: net.Socket | Socket, text: string): Promise<void> {
    socket.write(text);
    expect((await readExactly(socket, text.length)).toString()).toBe(text);
  }

  function codeOf(action: () => unknown): string | undefined {
    try {
      action();
    } catch (error) {
      return (error as { code?: string }).code;
    }
    return undefined;
  }

  test('a destroyed socket: ERR_INVALID_STATE', async () => {
    const { server, client } = await echoPair();
    client.destroy();
    expect(codeOf(() => adopt(client))).toBe('ERR_INVALID_STATE');
    await closeServer(server);
  }, TEST_TIMEOUT);

  test('a connecting socket: ERR_INVALID_STATE, and it still connects and works', async () => {
    const server = track(net.createServer((peer) => peer.pipe(peer)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = track(net.connect((server.address() as net.AddressInfo).port, '127.0.0.1'));
    expect(client.connecting).toBe(true);
    expect(codeOf(() => adopt(client))).toBe('ERR_INVALID_STATE');
    await once(client, 'connect');
    await roundTrip(client, 'still a net.Socket');
    client.destroy();
    await closeServer(server);
  }, TEST_TIMEOUT);

  test('a socket adopted already: ERR_INVALID_STATE, and the first adoption keeps working', async () => {
    const { server, client } = await echoPair();
    const adopted = track(adopt(client));
    expect(codeOf(() => adopt(client))).toBe('ERR_INVALID_STATE');
    await roundTrip(adopted, 'adopted once');
    adopted.destroy();
    await closeServer(server);
  }, TEST_TIMEOUT);

  test('the net.Socket destroyed while its queued writes wait: the adopted socket fails, and no fd is taken', async () => {
    const { client, plain } = await plainPairWithPausedClient();
    client.on('error', () => {});
    plain.on('error', () => {});
    plain.write(Buffer.alloc(16 * MiB, 0x62));
    const adopted = track(adopt(plain));
    const failed = once(adopted, 'error') as Promise<[NodeJS.ErrnoException]>;
    const closed = new Promise((resolve) => adopted.on('close', resolve));
    // libuv closes its fd now; its number may go to the next socket opened.
    plain.destroy();
    const [error] = await failed;
    expect(typeof error.code).toBe('string');
    await closed;
    expect(adopted.id).toBe(0);  // never attached to a reactor connection
  });

  test('a socket adopted already while its writes are still queued: ERR_INVALID_STATE', async () => {
    const { server, client, plain } = await plainPairWithPausedClient();
    const bulk = Buffer.alloc(16 * MiB, 0x61);
    plain.write(bulk);
    const adopted = track(adopt(plain));
    // The handover waits for the queued writes, so the net.Socket is not destroyed yet.
    expect(plain.destroyed).toBe(false);
    expect(codeOf(() => adopt(plain))).toBe('ERR_INVALID_STATE');
    adopted.end('!');
    const parts: Buffer[] = [];
    client.on('data', (chunk: Buffer) => parts.push(chunk));
    const ended = once(client, 'end');
    client.resume();
    await ended;
    const received = Buffer.concat(parts);
    expect(received.length).toBe(bulk.length + 1);
    expect(received.subarray(bulk.length).toString()).toBe('!');
    client.destroy();
    await closeServer(server);
  }, TEST_TIMEOUT);

  test('a tls.TLSSocket: ERR_INVALID_ARG_VALUE, and the TLS connection keeps working', async () => {
    const certificate = makeTestCertificate();
    try {
      const server = track(tls.createServer({ key: certificate.key, cert: certificate.cert }, (peer) => peer.pipe(peer)));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const client = track(tls.connect({
        port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost', ca: certificate.cert,
      }));
      await once(client, 'secureConnect');
      let thrown: unknown;
      try {
        adopt(client);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
      expect(client.destroyed).toBe(false);
      await roundTrip(client, 'still encrypted');
      const closed = once(client, 'close');
      client.end();
      await closed;
      await closeServer(server);
    } finally {
      certificate.remove();
    }
  }, TEST_TIMEOUT);

  test('something that is not a socket ({}): ERR_INVALID_ARG_TYPE', () => {
    let thrown: unknown;
    try {
      adopt({} as unknown as net.Socket);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
  }, TEST_TIMEOUT);

  test('a net.Socket that was never connected: ERR_INVALID_HANDLE_TYPE', () => {
    const unconnected = new net.Socket();
    expect(codeOf(() => adopt(unconnected))).toBe('ERR_INVALID_HANDLE_TYPE');
    unconnected.destroy();
  }, TEST_TIMEOUT);
});
