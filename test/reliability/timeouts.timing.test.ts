// Idle timeouts under time constraints (run alone by jest.timing.config.js):
// RELIABILITY #20, one socket's deadline, and #23, slowloris.
import { once } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

import { createServer, Socket } from '../../lib';
import { connectLocal, listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';

afterEach(releaseTracked);

async function acceptedPair(): Promise<{ server: ReturnType<typeof createServer>; client: net.Socket; socket: Socket }> {
  const server = track(createServer());
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = track(await connectLocal(port));
  const [socket] = await accepted;
  return { server, client, socket };
}

test("RELIABILITY #20: setTimeout fires once within 50 ms of its deadline; activity pushes the deadline; setTimeout(0) cancels", async () => {
  const { client, socket } = await acceptedPair();
  // Once, on time.
  const firedAt: number[] = [];
  let started = performance.now();
  socket.setTimeout(200, () => firedAt.push(performance.now() - started));
  await new Promise((resolve) => setTimeout(resolve, 600));
  expect(firedAt).toHaveLength(1);
  expect(firedAt[0]).toBeGreaterThanOrEqual(195);
  expect(firedAt[0]).toBeLessThan(250);

  // Activity at 150 ms moves the deadline to 350 ms.
  firedAt.length = 0;
  socket.setTimeout(0);
  socket.removeAllListeners('timeout');
  started = performance.now();
  socket.setTimeout(200, () => firedAt.push(performance.now() - started));
  await new Promise((resolve) => setTimeout(resolve, 150));
  client.write('activity');
  await once(socket, 'data');
  const activityAt = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 400));
  expect(firedAt).toHaveLength(1);
  expect(firedAt[0]).toBeGreaterThanOrEqual(activityAt + 195);
  expect(firedAt[0]).toBeLessThan(activityAt + 250);

  // setTimeout(0) cancels an armed timeout.
  firedAt.length = 0;
  socket.setTimeout(100, () => firedAt.push(performance.now()));
  socket.setTimeout(0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(firedAt).toEqual([]);
});

test('RELIABILITY #23: slowloris, 2,000 sockets trickling 1 byte just before each 1 s timeout: none times out, memory bounded, new connections accepted fast', async () => {
  const sockets = 2000;
  const timeoutMs = 1000;
  const timedOut: Socket[] = [];
  const acceptedAt = new Map<number, number>();
  const server = track(createServer((socket: Socket) => {
    acceptedAt.set(socket.remotePort!, performance.now());
    socket.setTimeout(timeoutMs, () => {
      timedOut.push(socket);
      socket.destroy();
    });
    socket.on('data', () => undefined);
  }));
  const port = await listenLocal(server);
  const clients: net.Socket[] = [];
  const clientErrors: string[] = [];
  // Every 100 ms an eighth of the clients sends one byte: each every 800 ms,
  // from the moment it is connected.
  let tick = 0;
  const trickle = setInterval(() => {
    for (let i = tick % 8; i < clients.length; i += 8) clients[i].write('x');
    tick++;
  }, 100);
  for (let i = 0; i < sockets; i += 100) {
    clients.push(...await Promise.all(Array.from({ length: 100 }, async () => {
      const client = track(await connectLocal(port));
      client.on('error', (error: NodeJS.ErrnoException) => clientErrors.push(String(error.code)));
      return client;
    })));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  const rssBefore = process.memoryUsage().rss;
  const latencies: number[] = [];
  try {
    const until = performance.now() + 4000;
    while (performance.now() < until) {
      const startedAt = performance.now();
      const client = track(await connectLocal(port));
      while (!acceptedAt.has(client.localPort!)) await new Promise((resolve) => setImmediate(resolve));
      latencies.push(acceptedAt.get(client.localPort!)! - startedAt);
      client.destroy();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    clearInterval(trickle);
  }
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  latencies.sort((a, b) => a - b);
  expect(clientErrors).toEqual([]);
  expect(timedOut.filter((socket) => clients.some((client) => client.localPort === socket.remotePort))).toEqual([]);
  expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(50);
  expect(latencies[latencies.length - 1]).toBeLessThan(200);
  expect(rssGrowth).toBeLessThan(64 * 1024 * 1024);
}, 60000);
