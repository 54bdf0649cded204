// forward() of a socket that is already destroyed and closed: the forward
// resolves with an error and the closed socket emits nothing more. The API
// fuzzer found forward() pausing it, so 'pause' came after 'close' (a proxy
// that reads a first chunk before forwarding meets this whenever the
// upstream dies in between).
import { once } from 'node:events';
import * as net from 'node:net';

import { connect, forward } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

test("forward() of a socket that has emitted 'close': it resolves with an error, and the socket emits nothing after 'close'", async () => {
  const server = track(net.createServer((socket) => socket.resume()));
  const port = await listenLocal(server);
  const live = track(connect(port, '127.0.0.1'));
  const gone = track(connect(port, '127.0.0.1'));
  await Promise.all([once(live, 'connect'), once(gone, 'connect')]);
  gone.destroy();
  await once(gone, 'close');
  const afterClose: string[] = [];
  const emit = gone.emit;
  gone.emit = function (this: typeof gone, event: string | symbol, ...args: unknown[]): boolean {
    afterClose.push(String(event));
    return emit.call(this, event, ...args);
  } as typeof gone.emit;
  live.on('error', () => {});
  const result = await forward(live, gone);
  expect(result.error).toBeDefined();
  await new Promise((resolve) => setImmediate(resolve));
  expect(afterClose).toEqual([]);
});
