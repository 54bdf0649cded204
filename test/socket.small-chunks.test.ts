// Small reads reach JS through one reused inbox, and small writes leave
// through the write log (DeliverToJs, lib/reactor.ts fromInbox and
// logBytes): each 'data' chunk must still be memory of its own that later
// batches never touch, and writes of every size must keep their order.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { closeServer, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

const CLIENTS = 40;
const MESSAGES = 150;

/** Client `client`'s message `index`: 1 to 64 bytes, sometimes a few KiB, each byte telling whose it is. */
function message(client: number, index: number): Buffer {
  const length = index % 25 === 0 ? 3000 + index : 1 + ((index * 7 + client) % 64);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (client * 31 + index * 7 + i) & 0xff;
  return bytes;
}

test(`chunks a handler keeps stay intact while ${CLIENTS} clients keep the inbox busy`, async () => {
  const kept = new Map<number, Buffer[]>();
  let received = 0;
  const server = track(createServer((socket: Socket) => {
    // Clients connect one at a time, so this is the client's number.
    const mine: Buffer[] = [];
    kept.set(kept.size, mine);
    socket.on('data', (chunk: Buffer) => {
      mine.push(chunk);
      received += chunk.length;
    });
  }));
  const port = await listenLocal(server);
  const clients: net.Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const client = track(net.connect(port, '127.0.0.1'));
    await once(client, 'connect');
    // One at a time, so the server numbers connections in this order.
    await waitFor(() => kept.size === i + 1, 5000, `client ${i} accepted`);
    client.write(message(i, 0));
    clients.push(client);
  }
  let sent = 0;
  for (let i = 0; i < CLIENTS; i++) sent += message(i, 0).length;
  for (let index = 1; index < MESSAGES; index++) {
    // Every client in the same tick: each reactor turn reads many of them.
    clients.forEach((client, i) => {
      const bytes = message(i, index);
      sent += bytes.length;
      client.write(bytes);
    });
    if (index % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor(() => received === sent, 15000, 'every byte at the server');

  // Read only now, after every later batch went through the same inbox.
  for (let i = 0; i < CLIENTS; i++) {
    const expected = Buffer.concat(Array.from({ length: MESSAGES }, (_, index) => message(i, index)));
    const chunks = kept.get(i)!;
    expect(Buffer.concat(chunks).equals(expected)).toBe(true);
    for (const chunk of chunks) {
      expect(chunk.byteOffset).toBe(0);
      expect(chunk.buffer.byteLength).toBe(chunk.length);
    }
  }
  for (const client of clients) client.destroy();
  await closeServer(server);
}, 30000);

/** What a client of `port` receives until the server ends. */
async function receiveAll(port: number): Promise<Buffer> {
  const client = track(net.connect(port, '127.0.0.1'));
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(client, 'end');
  client.destroy();
  return Buffer.concat(chunks);
}

const asBytes = (piece: Buffer | Uint8Array | string): Buffer =>
  (typeof piece === 'string' ? Buffer.from(piece) : Buffer.from(piece.buffer, piece.byteOffset, piece.length));

test('writes of every size, Buffers and strings, arrive whole and in order', async () => {
  const shared = new Uint8Array(new SharedArrayBuffer(100)).fill(9);
  const backing = Buffer.alloc(300, 4);
  const pieces: Array<Buffer | Uint8Array | string> = [
    Buffer.from([1]), Buffer.alloc(64, 2), 'short string', Buffer.alloc(65, 3),
    backing.subarray(100, 200), shared, '', 'ü'.repeat(2730), 'ü'.repeat(2731), '😀'.repeat(1365),
    // A lone surrogate: U+FFFD on the wire, as node:net sends it.
    'a\ud800b', Buffer.alloc(8191, 5), Buffer.alloc(8192, 6),
    'ü'.repeat(300), Buffer.alloc(200_000, 7), Buffer.alloc(8, 8), Buffer.alloc(0), 'x'.repeat(9000),
  ];
  const server = track(createServer((socket: Socket) => {
    // Half in one tick, half a tick later: one flush each, and across flushes.
    pieces.slice(0, 9).forEach((piece) => socket.write(piece));
    setImmediate(() => {
      pieces.slice(9).forEach((piece) => socket.write(piece));
      socket.end('last');
    });
  }));
  const port = await listenLocal(server);
  const received = await receiveAll(port);
  expect(received.equals(Buffer.concat([...pieces.map(asBytes), Buffer.from('last')]))).toBe(true);
  expect(received.includes(Buffer.from('a\xef\xbf\xbdb', 'latin1'))).toBe(true);
  await closeServer(server);
});

test('more small writes in one tick than the write log holds keep their order with the rest', async () => {
  // Over 1,024 records and over 64 KiB in one tick, with large writes and
  // strings between them, then end(): each drain of the log must come
  // before the command that caused it.
  const pieces: Array<Buffer | string> = [];
  for (let i = 0; i < 5000; i++) {
    if (i % 997 === 0) pieces.push(Buffer.alloc(20_000 + i, i & 0xff));
    else if (i % 3 === 0) pieces.push(`<${i}>`);
    else pieces.push(Buffer.alloc(1 + (i % 200), i & 0xff));
  }
  const server = track(createServer((socket: Socket) => {
    for (const piece of pieces) socket.write(piece);
    socket.end();
  }));
  const port = await listenLocal(server);
  const received = await receiveAll(port);
  expect(received.length).toBe(Buffer.concat(pieces.map(asBytes)).length);
  expect(received.equals(Buffer.concat(pieces.map(asBytes)))).toBe(true);
  await closeServer(server);
});

describe('the write log refuses an index lib/socket.ts could not have written', () => {
  const corruptions: Array<[string, number[]]> = [
    ['a count past its records', [1025, 0]],
    ['a fractional count', [1.5, 3]],
    ['a negative count', [-1, 0]],
    ['NaN bytes used', [1, Number.NaN, 7, 3]],
    ['bytes used past the log', [1, 70_000, 7, 70_000]],
    ['lengths that do not add up to bytes used', [2, 10, 7, 3, 7, 3]],
    ['a length past the log', [2, 10, 7, 65_536, 7, 10]],
    ['a negative length', [2, 10, 7, -5, 7, 15]],
  ];
  test.each(corruptions)('%s: a TypeError from drainWriteLog(), nothing staged, and the log empty again', (_name, values) => {
    const { native } = getReactor();
    const [index] = native.writeLog()!;
    index.set(values);
    // (Made in the addon's realm: compared by name, not by class.)
    expect(() => native.drainWriteLog()).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect([index[0], index[1]]).toEqual([0, 0]);
    expect(() => native.drainWriteLog()).not.toThrow();
  });

  test('a command refused for a corrupt log stages nothing of its own', async () => {
    let accepted: Socket | undefined;
    const server = track(createServer((socket: Socket) => { accepted = socket; }));
    const port = await listenLocal(server);
    const client = track(net.connect(port, '127.0.0.1'));
    let received = 0;
    client.on('data', (chunk: Buffer) => { received += chunk.length; });
    await waitFor(() => accepted !== undefined, 5000, 'accepted');
    const { native } = getReactor();
    const [index] = native.writeLog()!;
    const id = (accepted as unknown as { id: number }).id;
    index.set([1, 5, id, 3]);
    // A large write would pin its Buffer and be sent by the next flush.
    expect(() => native.write(id, Buffer.alloc(20_000, 1))).toThrow(expect.objectContaining({ name: 'TypeError' }));
    native.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received).toBe(0);
    accepted!.write('after');
    await waitFor(() => received === 5, 5000, 'the next write');
    client.destroy();
    await closeServer(server);
  });

  test('a refused log loses only its own writes: acks and closes still go, and the next write says so', async () => {
    let accepted: Socket | undefined;
    const server = track(createServer((socket: Socket) => { accepted = socket; }));
    const port = await listenLocal(server);
    const client = track(net.connect(port, '127.0.0.1'));
    await waitFor(() => accepted !== undefined, 5000, 'accepted');
    const reactor = getReactor();
    const [index] = reactor.native.writeLog()!;
    client.write(Buffer.alloc(1000, 1));
    await once(accepted!, 'data');
    // Before this tick's flush, which carries the ack of those bytes.
    index.set([1, 5, 2 ** 52, 3]);
    expect(() => reactor.flush()).not.toThrow();
    await waitFor(() => reactor.native.stats().unconsumedBytes === 0, 5000, 'the ack applied');
    // (Made in the addon's realm: compared by name, not by class.)
    expect(() => reactor.native.write(2 ** 52, 'x')).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => reactor.native.write(2 ** 52, 'x')).not.toThrow();
    // A close staged while the log is refused still closes.
    index.set([1, 5, 2 ** 52, 3]);
    accepted!.destroy();
    await once(client, 'close');
    // ...and what it refused is reported by the next call that can throw for it.
    expect(() => reactor.native.drainWriteLog()).toThrow(expect.objectContaining({ name: 'TypeError' }));
    await closeServer(server);
  });

  test('a well-formed log for an id no connection has is staged, then dropped by the reactor thread', () => {
    const { native } = getReactor();
    const [index, bytes] = native.writeLog()!;
    bytes.set([1, 2, 3]);
    index.set([2, 3, 2 ** 52, 1, 2 ** 52 + 2, 2]);
    expect(() => native.drainWriteLog()).not.toThrow();
    expect([index[0], index[1]]).toEqual([0, 0]);
  });
});
