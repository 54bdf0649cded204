// Splice mode must read its source until EAGAIN (issue 12 item 9). A pipe has
// 16 slots and each small segment takes one, so a splice into an empty pipe
// can come back short while the socket still holds bytes; taking that for
// "drained" stranded them until the next edge, which never came.
import * as net from 'node:net';

import { connect, createServer, forward, ForwardResult, Socket } from '../lib';
import { closeServer, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
jest.setTimeout(30000);

const SEGMENTS = 200;
const SEGMENT = 100;

test.each(['splice', 'copy'] as const)("mode '%s': 200 segments of 100 B queued before forward() all pass, without a FIN to push them", async (mode) => {
  let received = 0;
  let upstreamEnd: () => void = () => undefined;
  const upstreamEnded = new Promise<void>((resolve) => { upstreamEnd = resolve; });
  const upstreamServer = track(net.createServer((socket) => {
    socket.on('data', (chunk) => { received += chunk.length; });
    socket.on('end', () => { socket.end(); upstreamEnd(); });
  }));
  const upstreamPort = await listenLocal(upstreamServer);

  let accepted: Socket | undefined;
  const proxy = track(createServer({ pauseOnConnect: true }, (socket) => { accepted = socket; }));
  const port = await listenLocal(proxy);

  const client = track(net.connect(port, '127.0.0.1'));
  client.setNoDelay(true);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  // One write per turn, each its own segment (Nagle off), all before forwarding.
  for (let i = 0; i < SEGMENTS; i++) {
    await new Promise<void>((resolve) => client.write(Buffer.alloc(SEGMENT, 65 + (i % 26)), () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor(() => accepted !== undefined, 5000, 'the proxy to accept');
  // Give the segments time to land in the proxy socket's receive queue.
  await new Promise((resolve) => setTimeout(resolve, 200));

  const upstream = connect(upstreamPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { upstream.once('connect', resolve); upstream.once('error', reject); });
  const result: Promise<ForwardResult> = forward(accepted!, upstream, { mode });

  // No FIN yet: after EPOLLRDHUP the forwarder reads on to 0 anyway, which would hide the stall.
  await waitFor(() => received >= SEGMENTS * SEGMENT, 5000, `all ${SEGMENTS * SEGMENT} bytes upstream (got ${received})`);
  expect(received).toBe(SEGMENTS * SEGMENT);
  client.end();
  await upstreamEnded;
  expect((await result).error).toBeUndefined();
  await closeServer(proxy);
});
