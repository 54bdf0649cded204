// adopt() of a net.Socket whose writes are still queued in libuv, talking to
// a peer that answers what it gets (an echo). The hand-over waits until libuv
// has sent the queued bytes; it used to stop libuv's reading first, so once
// the echo's answers filled the buffers the peer stopped reading, the queued
// writes never went out, and the adopted socket stalled for good. Found as a
// 30 s timeout of adopt.socket (b) under ASan; this sets it up every time.
import { once } from 'node:events';
import * as net from 'node:net';

import { adopt } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

test('adopt() with 32 MB queued in libuv towards an echo peer: every byte comes back through the adopted socket', async () => {
  const server = track(net.createServer((peer) => {
    peer.on('error', () => {});
    peer.pipe(peer);
  }));
  const port = await listenLocal(server);
  const plain = track(net.connect(port, '127.0.0.1'));
  await once(plain, 'connect');
  // Not reading, so the echo fills every buffer between the two ends and
  // most of what is written stays queued in libuv.
  plain.pause();
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  const total = 32 * chunk.length;
  for (let written = 0; written < total; written += chunk.length) plain.write(chunk);
  await waitFor(() => plain.writableLength > 0, 5000, 'writes queued in libuv');
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(plain.writableLength).toBeGreaterThan(0);

  const adopted = track(adopt(plain));
  let received = 0;
  let wrong = 0;
  adopted.on('data', (data: Buffer) => {
    received += data.length;
    for (const byte of data) if (byte !== 0x5a) wrong++;
  });
  await waitFor(() => received === total, 20000, `all ${total} bytes back (got ${received})`);
  expect(wrong).toBe(0);
  adopted.destroy();
}, 30000);
