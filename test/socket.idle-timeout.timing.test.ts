// Idle timeouts run on the reactor thread: a socket that goes quiet times out
// on time however busy the others are, and thousands of idle sockets time out
// together without stalling accepts. The server runs in a child process so
// that these client connections do not share its JS thread.
import * as net from 'node:net';
import { once } from 'node:events';

import { startFixture, JsonLineChild } from './helpers/child';

// Latency bounds on a shared VM: one retry, logged. The bounds guard queuing
// in the reactor, which repeats every run; a lone 56-61 ms echo among ~80
// (ci99 and a local run on 2026-12-02, ~1 s into RELIABILITY #21, never in
// the 90-odd CI runs before) is the host or a pause of the server process
// holding 10,000 sockets, and does not come back on the retry.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

let server: JsonLineChild | undefined;
let idleClients: JsonLineChild | undefined;
afterEach(async () => {
  await idleClients?.kill();
  await server?.kill();
  server = idleClients = undefined;
});

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Connect, send one byte, and time until it is echoed. */
async function echoLatencyMs(port: number): Promise<number> {
  const started = performance.now();
  const socket = await connect(port);
  socket.write('p');
  await once(socket, 'data');
  const elapsed = performance.now() - started;
  socket.destroy();
  return elapsed;
}

test('RELIABILITY #22: one idle socket among 1,000 busy ones times out within 50 ms of its deadline', async () => {
  server = startFixture('idle-timeout-server.js', { TIMEOUT_MS: '500' });
  const { listening: port } = await server.next<{ listening: number }>((line) => 'listening' in line);

  // The server's timer for a socket starts when it accepts it, so each busy
  // socket's traffic starts the moment it is connected, not once all 1,000
  // are (connecting them can take longer than the timeout on a loaded
  // machine), and goes on every 100 ms, well inside its 500 ms timeout.
  // The longest the client went between writes: a client starved of CPU
  // for more than the timeout leaves its "busy" sockets really idle.
  const busy: net.Socket[] = [];
  let lastTick = performance.now();
  let longestGap = 0;
  const traffic = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - lastTick);
    lastTick = now;
    for (const socket of busy) socket.write('x');
  }, 100);
  const connectBusy = async (): Promise<void> => {
    const socket = await connect(port);
    socket.on('data', () => {});
    socket.write('x');
    busy.push(socket);
  };
  let idle: net.Socket | undefined;
  try {
    for (let i = 0; i < 1000; i += 100) await Promise.all(Array.from({ length: 100 }, connectBusy));
    idle = await connect(port);
    const idlePort = idle.localPort;
    const timedOut = await server.next<{ timeout: number; port: number }>((line) => line.port === idlePort, 5000);
    expect(timedOut.timeout).toBeGreaterThanOrEqual(500 - 1);
    expect(timedOut.timeout).toBeLessThan(550);
    // Keep the traffic going a little longer: no busy socket may time out,
    // unless the client itself stalled long enough to leave it idle (then
    // it was idle: say so). No socket may time out before its deadline.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const timeouts = server.lines.filter((line) => 'timeout' in line) as Array<{ timeout: number; port: number }>;
    for (const line of timeouts) expect(line.timeout).toBeGreaterThanOrEqual(500 - 1);
    const busyTimeouts = timeouts.filter((line) => line.port !== idlePort);
    if (longestGap < 500 - 100) {
      expect(busyTimeouts).toEqual([]);
    } else {
      console.log(`#22: the client stalled ${longestGap.toFixed(0)} ms between writes (machine overloaded), ` +
        `so ${busyTimeouts.length} "busy" sockets were really idle for the timeout; not counted`);
    }
  } finally {
    clearInterval(traffic);
    for (const socket of busy) socket.destroy();
    idle?.destroy();
  }
});

test('RELIABILITY #21: 10,000 idle sockets with a 2 s timeout all time out within 2.5 s while accepts stay fast', async () => {
  // Summary lines: 10,000 per-socket lines would couple the server to how fast this process reads its pipe.
  const child = startFixture('idle-timeout-server.js', { TIMEOUT_MS: '2000', SUMMARY: '1' });
  server = child;
  const { listening: port } = await child.next<{ listening: number }>((line) => 'listening' in line);

  const count = 10000;
  idleClients = startFixture('idle-clients.js', { PORT: String(port), COUNT: String(count) });
  const { connected } = await idleClients.next<{ connected: number }>((line) => 'connected' in line || 'error' in line, 30000);
  expect(connected).toBe(count);

  // While the timeouts come due, new connections must still be served promptly.
  // One echo first, unmeasured: it waits for the server to finish handing the
  // 10,000 accepts to JS (ci22: 85 ms for that first one, then under 25).
  await echoLatencyMs(port);
  const latencies: number[] = [];
  const deadline = Date.now() + 2600;
  const summaries = (): Array<{ timeouts: number; minIdle: number; maxIdle: number }> =>
    child.lines.filter((line) => 'timeouts' in line) as Array<{ timeouts: number; minIdle: number; maxIdle: number }>;
  const timedOut = (): number => summaries().reduce((sum, line) => sum + line.timeouts, 0);
  while (Date.now() < deadline && timedOut() < count) {
    latencies.push(await echoLatencyMs(port));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const waitUntil = Date.now() + 4000;
  while (timedOut() < count && Date.now() < waitUntil) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(timedOut()).toBeGreaterThanOrEqual(count);
  expect(Math.max(...summaries().map((line) => line.maxIdle))).toBeLessThan(2500);
  expect(Math.min(...summaries().map((line) => line.minIdle))).toBeGreaterThanOrEqual(2000 - 1);
  expect(latencies.length).toBeGreaterThan(10);
  if (Math.max(...latencies) >= 50) console.log(latencies.map((l) => l.toFixed(1)).join(" "));
  expect(Math.max(...latencies)).toBeLessThan(50);
});
