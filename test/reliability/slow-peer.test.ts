// RELIABILITY #7: a peer with a 4 KB receive buffer (the fault shim's
// FAULT_RCVBUF, in a child process) stops reading: write() returns false,
// writableLength stays bounded, 'drain' fires once the peer reads again, and
// the totals are exact.
import { once } from 'node:events';

import { createServer, Socket } from '../../lib';
import { listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { startFaultServer } from './fault-child';

afterEach(releaseTracked);

test("RELIABILITY #7: a 4 KB-receive-buffer peer that stops reading: write() false, writableLength bounded, 'drain' when it reads, totals exact", async () => {
  const server = track(createServer());
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const peer = await startFaultServer({ fixture: 'slow-reader.js', env: { PORT: String(port), FAULT_RCVBUF: '4096' } });
  const [socket] = await accepted;

  const chunk = Buffer.alloc(64 * 1024, 's');
  // Write, honouring 'drain', until a 'drain' stops coming: the kernel's
  // buffers on both sides are full and the peer reads nothing.
  let written = 0;
  const drainWithin = (ms: number): Promise<boolean> => new Promise((resolve) => {
    const timer = setTimeout(() => { socket.off('drain', onDrain); resolve(false); }, ms);
    const onDrain = (): void => { clearTimeout(timer); resolve(true); };
    socket.once('drain', onDrain);
  });
  for (let writes = 0; ; writes++) {
    if (writes > 1000) throw new Error('the writes never stalled');
    written += chunk.length;
    if (!socket.write(chunk) && !(await drainWithin(500))) break;
  }
  // Stalled: no 'drain', and what waits in the stream stays within one
  // chunk over the high-water mark however long the peer does not read.
  expect(socket.write(Buffer.alloc(0))).toBe(false);
  let largest = 0;
  for (let i = 0; i < 10; i++) {
    largest = Math.max(largest, socket.writableLength);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(largest).toBeLessThanOrEqual(socket.writableHighWaterMark + chunk.length);
  expect(written).toBeLessThan(16 * 1024 * 1024);
  const drained = once(socket, 'drain');

  peer.send('read');
  await drained;
  // A little more after the stall, then the end.
  for (let i = 0; i < 16; i++) {
    if (!socket.write(chunk)) await once(socket, 'drain');
    written += chunk.length;
  }
  socket.end();
  const ended = await peer.next((line) => line.event === 'ended', 20000);
  expect(ended.bytes).toBe(written);
  expect(socket.bytesWritten).toBe(written);
  await peer.exit();
}, 60000);
