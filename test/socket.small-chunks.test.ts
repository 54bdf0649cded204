// Small reads reach JS through one reused inbox, and small writes leave
// through one reused scratch (DeliverToJs, lib/reactor.ts fromInbox,
// queueBytes): each 'data' chunk must still be memory of its own that later
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

test('writes of every size, Buffers and strings, arrive whole and in order', async () => {
  const shared = new Uint8Array(new SharedArrayBuffer(100)).fill(9);
  const backing = Buffer.alloc(300, 4);
  const pieces: Array<Buffer | Uint8Array | string> = [
    Buffer.from([1]), Buffer.alloc(64, 2), 'short string', Buffer.alloc(65, 3),
    backing.subarray(100, 200), shared, Buffer.alloc(8191, 5), Buffer.alloc(8192, 6),
    'ü'.repeat(300), Buffer.alloc(200_000, 7), Buffer.alloc(8, 8), Buffer.alloc(0),
  ];
  const expected = Buffer.concat(pieces.map((piece) => (typeof piece === 'string' ? Buffer.from(piece) : piece)));
  const server = track(createServer((socket: Socket) => {
    // Half in one tick, half a tick later: one flush each, and across flushes.
    pieces.slice(0, 6).forEach((piece) => socket.write(piece));
    setImmediate(() => {
      pieces.slice(6).forEach((piece) => socket.write(piece));
      socket.end();
    });
  }));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(client, 'end');
  expect(Buffer.concat(chunks).equals(expected)).toBe(true);
  client.destroy();
  await closeServer(server);
});

test('writeScratch refuses a length outside its scratch before staging anything', () => {
  const { native } = getReactor();
  const scratch = native.scratch()!;
  for (const length of [-1, scratch.length + 1, 1.5, Number.NaN, '3' as unknown as number]) {
    // (Made in the addon's realm: compared by name, not by class.)
    expect(() => native.writeScratch(1, length)).toThrow(expect.objectContaining({ name: 'TypeError' }));
  }
  // An id no connection has: staged, then dropped by the reactor thread.
  expect(native.writeScratch(2 ** 52, 3)).toBe(3);
});
