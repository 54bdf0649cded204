// Many short connections one after another: ids and fds are reused by the
// kernel all the time, yet every client gets back exactly its own bytes, every
// accepted socket closes once, and no fd is left behind.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, listenLocal, openFdCount, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

test('10,000 connect/echo/close cycles, 20 at a time: each client gets only its own token; closes and fds balance', async () => {
  const cycles = 10000;
  const parallel = 20;

  let accepted = 0;
  let closed = 0;
  let closedWithError = 0;
  const server = track(createServer((socket: Socket) => {
    accepted++;
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('error', () => {});  // counted through close(hadError)
    socket.on('close', (hadError: boolean) => {
      closed++;
      if (hadError) closedWithError++;
    });
  }));
  const port = await listenLocal(server);
  // The reactor, its thread's fds and the listener exist now: that is the baseline.
  const baseline = openFdCount();

  const wrong: string[] = [];
  let next = 0;
  async function cycle(index: number): Promise<void> {
    // Unique per cycle, and of varying length, so a misdelivery cannot match.
    const token = `token-${index}-${'x'.repeat(index % 97)}-${index * 7919}`;
    const client = track(net.connect(port, '127.0.0.1'));
    const parts: Buffer[] = [];
    client.on('data', (chunk: Buffer) => parts.push(chunk));
    const ended = once(client, 'end');
    const closedPromise = once(client, 'close');
    await once(client, 'connect');
    client.end(token);
    await ended;
    await closedPromise;
    const received = Buffer.concat(parts).toString();
    if (received !== token) wrong.push(`cycle ${index}: sent ${token.length} bytes, got ${JSON.stringify(received.slice(0, 60))}`);
  }
  async function lane(): Promise<void> {
    while (next < cycles) await cycle(next++);
  }
  const started = Date.now();
  await Promise.all(Array.from({ length: parallel }, lane));
  const elapsed = Date.now() - started;

  expect(wrong.slice(0, 10)).toEqual([]);
  expect(wrong).toHaveLength(0);
  expect(accepted).toBe(cycles);
  await waitFor(() => closed >= cycles, 5000, `${cycles} server-side 'close' events (have ${closed})`);
  expect(closed).toBe(cycles);
  expect(closedWithError).toBe(0);
  const remaining = await new Promise<number>((resolve, reject) =>
    server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  expect(remaining).toBe(0);

  // Every socket's fd is closed, on both sides.
  let fds = openFdCount();
  await waitFor(() => (fds = openFdCount()) <= baseline, 5000, `fd count back to ${baseline}`).catch(() => undefined);
  expect(fds).toBeLessThanOrEqual(baseline);
  expect(elapsed).toBeLessThan(60000);

  await closeServer(server);
}, 90000);
