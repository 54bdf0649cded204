// RELIABILITY #5: a Buffer passed to write() stays valid until the kernel has
// it, even if the caller drops it and GC runs: the bytes the peer gets are the
// bytes that were written. (Overwriting a Buffer after write() is another
// matter: a Writable may still hold it, unsent, as net's does.)
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import { createServer, Socket } from '../../lib';
import { connectLocal, listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { randomBytes, seededRandom } from '../helpers/random';

afterEach(releaseTracked);

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test('RELIABILITY #5: 32 MB written from Buffers the caller drops at once, then GC and heap churn, arrives intact at a peer that reads only later', async () => {
  let serverSocket: Socket | undefined;
  const server = track(createServer((socket: Socket) => { serverSocket = socket; }));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));
  client.pause(); // nothing leaves the kernel's buffers until every write is queued
  while (serverSocket === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  const socket = serverSocket;

  const random = seededRandom(5);
  const sent = createHash('sha256');
  let total = 0;
  for (let i = 0; i < 128; i++) {
    // Nobody keeps the chunk once write() returns.
    const chunk = randomBytes(random, 256 * 1024);
    sent.update(chunk);
    total += chunk.length;
    socket.write(chunk);
  }
  // Collect, then churn the heap so freed memory is handed out and written again.
  for (let i = 0; i < 3; i++) {
    gc();
    Array.from({ length: 64 }, () => Buffer.alloc(256 * 1024, 0xee));
  }
  gc();

  const received = createHash('sha256');
  let receivedBytes = 0;
  client.on('data', (chunk: Buffer) => {
    received.update(chunk);
    receivedBytes += chunk.length;
  });
  client.resume();
  socket.end();
  await once(client, 'end');
  expect(receivedBytes).toBe(total);
  expect(received.digest('hex')).toBe(sent.digest('hex'));
});
