// Timeouts that come due while the JS thread is stalled (a long scavenge, a
// slow handler) reach JS a slice at a time, and a new connection's events
// never queue behind all of them. Before, the reactor fired up to 32 per
// 1 ms turn into the batch JS had not taken yet, however many that batch
// already held: after a stall, a connection's events waited behind hundreds
// of 'timeout' handlers (ci39: RELIABILITY #21's echo took 56 ms while
// 10,000 sockets timed out).
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';

import { createServer, Socket } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

const IDLE_SOCKETS = 2000;
const TIMEOUT_MS = 300;
// What the reactor hands JS, and JS has not taken, holds at most this many
// timeouts (kMaxTimeoutsAwaitingJs in src-native/loop.cc).
const MAX_TIMEOUTS_AWAITING_JS = 64;

function connectIdle(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

test('after a JS stall, a new connection waits behind at most one slice of due timeouts', async () => {
  let timeouts = 0;
  let timeoutsBeforeProbe = -1;
  const serverSockets: Socket[] = [];
  const server = track(createServer((socket: Socket) => {
    if (serverSockets.length === IDLE_SOCKETS) {
      // The probe: the one connection made after the idle ones.
      timeoutsBeforeProbe = timeouts;
      socket.destroy();
      return;
    }
    serverSockets.push(socket);
    socket.on('timeout', () => {
      timeouts++;
      socket.destroy();
    });
    socket.on('error', () => {});
  }));
  const port = await listenLocal(server);

  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < IDLE_SOCKETS; i += 200) {
      clients.push(...await Promise.all(Array.from({ length: 200 }, () => connectIdle(port))));
    }
    for (const client of clients) client.on('error', () => {});
    await waitFor(() => serverSockets.length === IDLE_SOCKETS, 10000, `${IDLE_SOCKETS} accepted (${serverSockets.length})`);

    // The probe connects from another thread while this one is stalled,
    // after every timeout has come due: its 'connection' then comes in the
    // batch the stall left waiting, behind whatever timeouts that holds.
    // The worker raises `connected` itself, so the stall can last until the
    // probe is in (a slow host, ASan in ci97, delayed it past a fixed stall:
    // JS had then taken 960 timeouts a slice at a time before it came).
    const connected = new Int32Array(new SharedArrayBuffer(4));
    const probe = new Worker(`
      const net = require('node:net');
      const { parentPort, workerData } = require('node:worker_threads');
      parentPort.once('message', () => setTimeout(() => {
        const socket = net.connect(workerData.port, '127.0.0.1', () => {
          Atomics.store(workerData.connected, 0, 1);
          parentPort.postMessage(socket.localPort);
        });
        socket.on('error', (error) => parentPort.postMessage(String(error)));
        socket.on('close', () => process.exit(0));
      }, workerData.delay));
    `, { eval: true, workerData: { port, delay: TIMEOUT_MS + 300, connected } });
    const probeConnected = new Promise<number | string>((resolve) => probe.once('message', resolve));
    await new Promise<void>((resolve) => probe.once('online', resolve));

    for (const socket of serverSockets) socket.setTimeout(TIMEOUT_MS);
    // Commands reach the reactor when this turn ends: let them, so that the
    // timers run during the stall.
    await new Promise((resolve) => setTimeout(resolve, 10));
    probe.postMessage('go');
    // Stall: every timeout comes due at ~300 ms and the probe connects at
    // ~600 ms, all while this thread is busy. The stall lasts until the
    // probe has connected and the reactor has had 200 ms to accept it
    // (bounded at 10 s).
    const start = Date.now();
    let probeInAt = 0;
    while (Date.now() - start < 10000) { // a JS thread that does not come back
      const now = Date.now();
      if (probeInAt === 0 && Atomics.load(connected, 0) === 1) probeInAt = now;
      if (now - start >= TIMEOUT_MS + 600 && probeInAt !== 0 && now - probeInAt >= 200) break;
    }
    expect(probeInAt).toBeGreaterThan(0);
    expect(typeof await probeConnected).toBe('number');
    await waitFor(() => timeoutsBeforeProbe >= 0, 10000, 'the probe accepted');
    await waitFor(() => timeouts === IDLE_SOCKETS, 10000, `every idle socket timed out (${timeouts})`);
    await probe.terminate();
  } finally {
    for (const client of clients) client.destroy();
  }
  expect(timeoutsBeforeProbe).toBeGreaterThanOrEqual(0);
  expect(timeoutsBeforeProbe).toBeLessThanOrEqual(MAX_TIMEOUTS_AWAITING_JS);
});
