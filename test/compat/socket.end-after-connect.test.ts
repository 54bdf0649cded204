// A peer that ends the connection the moment it accepts it: code that awaits
// 'connect' and only then listens for 'end' must still see 'end'. With net,
// libuv reads the EOF in a later loop iteration than the connect; the reactor
// can hand JS the connect and the FIN in one batch, and before the fix it
// processed the FIN at once, so 'end' went out before the listener existed.
import * as net from 'node:net';

import { listenLocal, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

/** Busy-waits, so the connect and the peer's FIN both happen before JS looks again. */
function stallJs(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* the reactor thread goes on meanwhile */ }
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test("await 'connect', then once('end'): 'end' still comes when the peer ended at once", async () => {
    const server = net.createServer((socket) => socket.resume().end());
    const port = await listenLocal(server);
    for (let round = 0; round < 5; round++) {
      const socket = trackSocket(implementation.connect(port, '127.0.0.1'));
      stallJs(100);
      await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
      const ended = new Promise((resolve) => socket.once('end', resolve));
      socket.resume();
      await within(ended, 2000, `'end' in round ${round}`);
      socket.destroy();
    }
  });
});
