// socket.setTimeout() with a duration far beyond any timer (issue 12, cold
// review item 4). The native side converted the double to uint64_t unchecked
// (undefined behaviour from 2^64 on) and added it to the current time: values
// in [2^63, 2^64) wrapped the deadline into the past and the timeout fired at
// once. node:net truncates such a duration to TIMEOUT_MAX (about 24.8 days)
// and the timer does not fire; whatever lib/ sends, the reactor must not fire
// early either.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { connectLocal, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
jest.setTimeout(20000);

const HUGE = [2 ** 63, 2 ** 64 - 2048, 1e20, Number.MAX_VALUE];

async function acceptedPair(): Promise<{ client: net.Socket; socket: Socket }> {
  const server = track(createServer());
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = track(await connectLocal(port));
  const [socket] = await accepted;
  return { client, socket };
}

test.each(HUGE)('setTimeout(%d) does not fire within 400 ms, before or after activity', async (duration) => {
  const { client, socket } = await acceptedPair();
  let fired = 0;
  socket.on('timeout', () => { fired++; });
  socket.setTimeout(duration);
  await new Promise((resolve) => setTimeout(resolve, 200));
  client.write('activity');
  await once(socket, 'data');
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(fired).toBe(0);
  // The socket still times out when asked to, so the timer is alive.
  socket.setTimeout(50);
  await once(socket, 'timeout');
});
