// RELIABILITY #2: fd numbers are reused at once, so nothing may be routed by
// fd. A server socket A is destroyed while its client is still sending, a
// write for A queued just before; in the same JS tick client B connects, and
// the JS thread then stalls, so the reactor closes A and accepts B (onto A's
// fd number: the kernel hands out the lowest free one) in one loop turn, and
// B's 'connection' reaches JS in one batch with whatever was read for A.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { once } from 'node:events';

import { createServer, Socket } from '../../lib';
import { listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { fdOfConnection } from './proc-net';

afterEach(releaseTracked);
jest.setTimeout(60000);

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* the JS thread is stalled on purpose */ }
}

test('RELIABILITY #2: A destroyed and B accepted onto the same fd number in one turn: B gets nothing meant for A, A emits nothing after close', async () => {
  const trials = 12;
  let reused = 0;
  const server = track(createServer());
  const port = await listenLocal(server);
  for (let trial = 0; trial < trials; trial++) {
    // B's client socket is made in this process too; a /dev/null fd opened
    // below A's numbers and closed just before B connects leaves it the
    // lowest free number, so that A's is the one left for B's accept.
    const placeholder = fs.openSync('/dev/null', 'r');
    const clientA = track(net.connect(port, '127.0.0.1'));
    clientA.on('error', () => undefined);
    const [socketA] = (await once(server, 'connection')) as [Socket];
    const fdA = fdOfConnection(port, clientA.localPort!);
    expect(fdA).toBeGreaterThan(0);

    const afterClose: string[] = [];
    let closedA = false;
    const emitA = socketA.emit.bind(socketA);
    socketA.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (closedA) afterClose.push(String(event));
      if (event === 'close') closedA = true;
      return emitA(event, ...args);
    }) as typeof socketA.emit;

    // A's client keeps sending; on A's first data the server queues a write
    // for A, destroys A, connects B and stalls.
    const sending = setInterval(() => clientA.write(Buffer.alloc(8192, 'a')), 1);
    let clientB: net.Socket | undefined;
    const bReceived: Buffer[] = [];
    socketA.once('data', () => {
      socketA.write('meant for A only');
      socketA.destroy();
      fs.closeSync(placeholder);
      clientB = track(net.connect(port, '127.0.0.1'));
      clientB.on('data', (chunk: Buffer) => bReceived.push(chunk));
      process.nextTick(() => process.nextTick(() => busyWait(30)));
    });
    const [socketB] = (await once(server, 'connection')) as [Socket];
    clearInterval(sending);
    if (fdOfConnection(port, clientB!.localPort!) === fdA) reused++;

    // B echoes what its own client sends; nothing else may reach either.
    socketB.on('data', (chunk: Buffer) => socketB.write(chunk));
    clientB!.write('meant for B');
    while (Buffer.concat(bReceived).length < 'meant for B'.length) await once(clientB!, 'data');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Buffer.concat(bReceived).toString()).toBe('meant for B');
    expect(socketB.bytesRead).toBe('meant for B'.length);
    expect(closedA).toBe(true);
    expect(afterClose).toEqual([]);
    clientA.destroy();
    clientB!.destroy();
    socketB.destroy();
  }
  // The case is only tested if B really got A's number; it does almost always.
  expect(reused).toBeGreaterThan(trials / 2);
});
