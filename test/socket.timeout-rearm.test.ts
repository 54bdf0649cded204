// Re-arming an idle timeout moves the socket's one timer entry; it never adds
// another. Before, every setTimeout() pushed a heap entry and only its
// generation number made the old ones void, so the heap grew with the number
// of calls, not of sockets (5 million re-arms: +150 MB; node:http re-arms on
// every keep-alive request), and the stale entries used up the per-turn
// expiry budget (issue 12 item 14).
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, listenLocal, readExactly, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const REARMS_PER_TICK = 100_000;
const TICKS = 10;  // a million re-arms in all

function timerEntries(): number {
  return getReactor().native.stats().timerEntries;
}

/** A round trip through the echoing server socket: the commands staged before it have been applied. */
async function roundTrip(client: net.Socket): Promise<void> {
  client.write('.');
  await readExactly(client, 1);
}

/**
 * Waits for the count the reactor publishes at the end of its turn (the echo
 * can reach the client just before that). With one entry per call, as
 * before, the count never comes down to `expected`.
 */
async function expectTimerEntries(expected: number): Promise<void> {
  await waitFor(() => timerEntries() === expected, 2000, `${expected} timer entries (now ${timerEntries()})`);
}

test('a million re-arms of one socket leave one timer entry, and a close leaves none', async () => {
  const accepted: Socket[] = [];
  const server = track(createServer((socket: Socket) => {
    accepted.push(socket);
    socket.pipe(socket);
  }));
  const port = await listenLocal(server);
  const client = track(net.connect({ port, host: '127.0.0.1' }));
  await once(client, 'connect');
  await waitFor(() => accepted.length === 1);
  const socket = accepted[0];
  await roundTrip(client);
  await expectTimerEntries(0);

  for (let tick = 0; tick < TICKS; tick++) {
    for (let i = 0; i < REARMS_PER_TICK; i++) socket.setTimeout(600_000);
    await roundTrip(client);
    await expectTimerEntries(1);
  }
  socket.setTimeout(0);
  await roundTrip(client);
  await expectTimerEntries(0);

  socket.setTimeout(600_000);
  await roundTrip(client);
  await expectTimerEntries(1);
  socket.destroy();
  await once(client, 'close');
  await waitFor(() => timerEntries() === 0, 5000, 'the closed socket to leave the timers');
}, 60_000);

test('after many re-arms a shorter timeout still fires on time, once', async () => {
  const accepted: Socket[] = [];
  const server = track(createServer((socket: Socket) => { accepted.push(socket); }));
  const port = await listenLocal(server);
  const client = track(net.connect({ port, host: '127.0.0.1' }));
  client.on('error', () => undefined);
  await once(client, 'connect');
  await waitFor(() => accepted.length === 1);
  const socket = accepted[0];
  for (let i = 0; i < REARMS_PER_TICK; i++) socket.setTimeout(600_000);
  const TIMEOUT = 300;
  let fired = 0;
  const armedAt = Date.now();
  socket.setTimeout(TIMEOUT, () => { fired++; });
  await once(socket, 'timeout');
  const elapsed = Date.now() - armedAt;
  expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 5);
  // Generous for a loaded machine; a stale entry would not make it late, but
  // a lost one would make it never fire.
  expect(elapsed).toBeLessThan(TIMEOUT + 3000);
  await new Promise((resolve) => setTimeout(resolve, 2 * TIMEOUT));
  expect(fired).toBe(1);
  await expectTimerEntries(0);
}, 30_000);
