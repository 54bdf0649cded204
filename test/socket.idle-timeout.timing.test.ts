// Idle timeouts run on the reactor thread: a socket that goes quiet times out
// on time however busy the others are, and thousands of idle sockets time out
// together without stalling accepts. The server runs in a child process so
// that these client connections do not share its JS thread.
import * as net from 'node:net';
import { once } from 'node:events';

import { startFixture, JsonLineChild } from './helpers/child';

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
  server = startFixture('idle-timeout-server.js', { TIMEOUT_MS: '2000' });
  const { listening: port } = await server.next<{ listening: number }>((line) => 'listening' in line);

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
  while (Date.now() < deadline && server.lines.filter((line) => 'timeout' in line).length < count) {
    latencies.push(await echoLatencyMs(port));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await waitForTimeouts(server, count, 4000);
  const idleTimes = server.lines.filter((line) => 'timeout' in line).map((line) => line.timeout as number);
  expect(idleTimes.length).toBeGreaterThanOrEqual(count);
  expect(Math.max(...idleTimes)).toBeLessThan(2500);
  expect(Math.min(...idleTimes)).toBeGreaterThanOrEqual(2000 - 1);
  expect(latencies.length).toBeGreaterThan(10);
  if (Math.max(...latencies) >= 50) console.log(latencies.map((l) => l.toFixed(1)).join(" "));
  expect(Math.max(...latencies)).toBeLessThan(50);
});

async function waitForTimeouts(child: JsonLineChild, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (child.lines.filter((line) => 'timeout' in line).length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
