// RELIABILITY #15: writes reach the peer in the order they were made, across
// the reactor's iovec batches and a write that fills the kernel's buffer.
import { once } from 'node:events';

import { createServer, Socket } from '../../lib';
import { connectLocal, listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { randomBytes, seededRandom } from '../helpers/random';

afterEach(releaseTracked);

test('RELIABILITY #15: 10,000 writes of 1 KB, then an 8 MB write and a small one: the peer sees exactly that order', async () => {
  const expected: Buffer[] = [];
  const server = track(createServer((socket: Socket) => {
    for (let i = 0; i < 10000; i++) {
      const chunk = Buffer.alloc(1024, i % 251);
      chunk.writeUInt32BE(i, 0); // each 1 KB names its place
      expected.push(chunk);
      socket.write(chunk);
    }
    const large = randomBytes(seededRandom(15), 8 * 1024 * 1024);
    const small = Buffer.from('and the small one last');
    expected.push(large, small);
    socket.write(large);
    socket.end(small);
  }));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));
  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  await once(client, 'end');
  const received = Buffer.concat(parts);
  const want = Buffer.concat(expected);
  expect(received.length).toBe(want.length);
  // Find the first difference rather than print 18 MB.
  const firstDifference = received.findIndex((byte, index) => byte !== want[index]);
  expect(firstDifference).toBe(-1);
}, 30000);
