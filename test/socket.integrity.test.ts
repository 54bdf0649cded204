// Bytes through a reactor socket arrive intact and in order, and the Buffers
// handed to 'data' handlers belong to the user: the reactor never writes into
// them again.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { bulkBytes, checkMustCalls, closeServer, connectLocal, listenLocal, mustCall, readExactly } from './helpers';
import { destroyAndWait, releaseTracked, track } from './helpers/cleanup';
import { randomBytes as randomChunk, seededRandom } from './helpers/random';

afterEach(releaseTracked);
afterEach(checkMustCalls);



/** Writes `chunk`, waiting for 'drain' when write() asks us to. */
async function writeRespectingBackpressure(socket: net.Socket, chunk: Buffer): Promise<void> {
  if (!socket.write(chunk)) await once(socket, 'drain');
}

const total = bulkBytes(64 * 1024 * 1024);

test(`${total >> 20} MB each way in random-size chunks comes back with the same SHA-256`, async () => {
  const serverReceived = createHash('sha256');
  let serverBytes = 0;
  const server = track(createServer(mustCall((socket: Socket) => {
    socket.on('data', (chunk: Buffer) => {
      serverReceived.update(chunk);
      serverBytes += chunk.length;
    });
    socket.pipe(socket);
    socket.on('close', mustCall());
  })));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));

  const clientReceived = createHash('sha256');
  let clientBytes = 0;
  client.on('data', (chunk: Buffer) => {
    clientReceived.update(chunk);
    clientBytes += chunk.length;
  });
  const clientEnded = once(client, 'end');

  const sent = createHash('sha256');
  const random = seededRandom(0x5eed1234);
  let sentBytes = 0;
  let chunks = 0;
  while (sentBytes < total) {
    // 1 B to 64 KiB, never past the total.
    const size = Math.min(1 + (random() % (64 * 1024)), total - sentBytes);
    const chunk = randomChunk(random, size);
    sent.update(chunk);
    sentBytes += size;
    chunks++;
    await writeRespectingBackpressure(client, chunk);
  }
  client.end();
  await clientEnded;

  // Chunks average 32 KiB: many writes, not a few large ones.
  expect(chunks).toBeGreaterThan(total / (48 * 1024));
  const expected = sent.digest('hex');
  expect(serverBytes).toBe(total);
  expect(serverReceived.digest('hex')).toBe(expected);
  expect(clientBytes).toBe(total);
  expect(clientReceived.digest('hex')).toBe(expected);

  await destroyAndWait(client);
  await closeServer(server);
}, 60000);

test("'data' Buffers kept from many connections still hold only their own pattern after more traffic", async () => {
  const connections = 100;
  const firstRound = 64 * 1024;   // bytes per connection whose Buffers are kept
  const laterRounds = 4;          // further rounds whose Buffers are dropped
  const laterSize = 256 * 1024;   // bytes per connection per later round
  // Connection i sends fill byte i in the first round, and other bytes later.
  const keptPattern = (index: number): number => index;
  const laterPattern = (index: number, round: number): number => 128 + ((index + round * 7) % 128);

  const kept: Buffer[][] = Array.from({ length: connections }, () => []);
  const keptBytes = new Array<number>(connections).fill(0);
  const server = track(createServer(mustCall((socket: Socket) => {
    let index = -1;
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      if (index < 0) index = chunk[0];  // the first byte names the connection
      if (received < firstRound) {
        // Kept without copying: the user now owns this Buffer.
        kept[index].push(chunk);
        keptBytes[index] += chunk.length;
      }
      received += chunk.length;
      // One byte back per byte received, so each client can tell when a round is in.
      socket.write(Buffer.alloc(chunk.length, 0xee));
    });
    socket.on('close', mustCall());
  }, connections)));
  const port = await listenLocal(server);
  const clients = await Promise.all(Array.from({ length: connections }, async () => track(await connectLocal(port))));

  function checkKept(): string[] {
    const wrong: string[] = [];
    for (let i = 0; i < connections; i++) {
      for (const chunk of kept[i]) {
        const expected = keptPattern(i);
        const bad = chunk.findIndex((byte) => byte !== expected);
        if (bad >= 0) wrong.push(`connection ${i}: byte ${chunk[bad]} at ${bad} of a ${chunk.length}-byte Buffer`);
      }
    }
    return wrong;
  }

  await Promise.all(clients.map(async (client, i) => {
    client.write(Buffer.alloc(firstRound, keptPattern(i)));
    await readExactly(client, firstRound);
  }));
  // Chunks of the first round are in: nothing kept past firstRound since the
  // client waited for its echo before sending more.
  expect(keptBytes).toEqual(new Array<number>(connections).fill(firstRound));
  expect(checkKept()).toEqual([]);

  for (let round = 0; round < laterRounds; round++) {
    await Promise.all(clients.map(async (client, i) => {
      client.write(Buffer.alloc(laterSize, laterPattern(i, round)));
      await readExactly(client, laterSize);
    }));
    expect(checkKept()).toEqual([]);
  }

  await Promise.all(clients.map(async (client) => {
    client.end();
    await once(client, 'close');
  }));
  expect(checkKept()).toEqual([]);
  await closeServer(server);
}, 60000);
