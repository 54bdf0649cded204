// A paused socket costs nothing while it waits (RELIABILITY #8), and a reset
// arriving on it neither spins nor is lost (#9). The reactor thread's CPU time
// is read from /proc/self/task/<tid>/stat (the thread is named epoll-reactor).
import { once } from 'node:events';
import * as net from 'node:net';

import { configure, createServer, Socket } from '../../lib';
import { listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { cpuShareOver, reactorThreadStat } from './fault-child';

// Measures the reactor thread's CPU: the loop runs on a thread of its own
// here whatever EPOLL_REACTOR_THREAD says.
configure({ thread: 'own' });

afterEach(releaseTracked);
jest.setTimeout(30000);

async function pausedPair(): Promise<{ client: net.Socket; socket: Socket }> {
  const server = track(createServer({ pauseOnConnect: true }));
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = track(net.connect(port, '127.0.0.1'));
  const connected = once(client, 'connect');
  const [socket] = await accepted;
  await connected;
  return { client, socket };
}

test("RELIABILITY #8: a paused socket with 1 MB pending for 1 s: no 'data', the reactor thread under 5% CPU, then every byte on resume()", async () => {
  const { client, socket } = await pausedPair();
  let received = 0;
  const data = Buffer.alloc(1024 * 1024, 'p');
  client.write(data);
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.on('data', (chunk: Buffer) => { received += chunk.length; });
  socket.pause();
  expect(await cpuShareOver(reactorThreadStat(), 1000)).toBeLessThan(0.05);
  expect(received).toBe(0);
  expect(socket.bytesRead).toBe(0);
  socket.resume();
  const deadline = Date.now() + 5000;
  while (received < data.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(received).toBe(data.length);
});

test("RELIABILITY #9: a reset arriving on a paused socket: no spin while paused, then one 'error' ECONNRESET and one 'close'", async () => {
  const { client, socket } = await pausedPair();
  const events: string[] = [];
  socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
  socket.on('close', () => events.push('close'));
  const clientClosed = once(client, 'close');
  client.resetAndDestroy();
  await clientClosed;
  expect(await cpuShareOver(reactorThreadStat(), 500)).toBeLessThan(0.05);
  socket.resume();
  const deadline = Date.now() + 5000;
  while (!events.includes('close') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(events).toEqual(['error:ECONNRESET', 'close']);
});
