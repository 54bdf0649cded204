// Issue 14 (Node's test-net-bytes-read, intermittent with the package): each
// 'data' of a flowing socket sees bytesRead risen by that chunk, as with net,
// which counts and pushes one chunk per read callback. The reactor can hand a
// socket several chunks in one batch (a JS thread that was busy gets bigger
// batches): those must not all be counted before the first is emitted.
import { once } from 'node:events';
import * as net from 'node:net';

import { listenLocal, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

const total = 1024 * 1024;

/**
 * Keeps the JS thread busy, so that what arrives meanwhile is handed over at
 * once afterwards (in one batch, for the reactor). Not a timing assertion:
 * the test holds however long this lasts.
 */
function blockThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('bytesRead rises with every data event, and ends at the bytes received', async () => {
    const server = trackServer(net.createServer((socket) => socket.end(Buffer.alloc(total))));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect(port, '127.0.0.1'));
    const seen: number[] = [];
    socket.on('connect', () => {
      socket.on('data', () => seen.push(socket.bytesRead));
      blockThread(200);
    });
    await within(once(socket, 'end'), 5000, "'end'");
    expect(seen.length).toBeGreaterThan(0);
    const notRising = seen.filter((value, index) => index > 0 && value <= seen[index - 1]);
    expect(notRising).toEqual([]);
    expect(seen[seen.length - 1]).toBe(total);
    expect(socket.bytesRead).toBe(total);
  });
});
