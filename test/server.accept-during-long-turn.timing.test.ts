// A turn over many sockets can run for tens of milliseconds; a connect burst
// meanwhile fills the kernel's accept queue, and a SYN it drops costs its
// client a 1 s retransmit. So a long turn stops between sockets to accept.
// Here every recv on the reactor thread takes 10 ms (the fault shim), 80
// sockets have a byte each (a turn of about 800 ms), and the listener's
// queue holds 3: clients connecting every 50 ms during that turn must all
// get in at once, not after a retransmit. But a close() stops accepting at
// once, as net's does: what waits in the backlog then is reset, not accepted
// mid-turn and closed. (Run alone, jest.timing.config.js.)
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { preloadWithShim } from './fault/build';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

const dist = path.resolve(__dirname, '..', 'dist');
const linux = process.platform === 'linux';

function runChild(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = track(spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The shim slows the reactor thread's recv (by its name), and JS closes
    // the server while that thread is in its long turn: a thread of its own.
    env: { ...process.env, LD_PRELOAD: preloadWithShim(), FAULT_RECV_DELAY_US: '10000', EPOLL_REACTOR_THREAD: 'own' },
  }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

// 80 accepted connections with a byte each: the turn that reads them runs
// about 800 ms. Then `late` runs, 50 ms into that turn.
const busyServer = (late: string): string => `
  const net = require('node:net');
  const { performance } = require('node:perf_hooks');
  const { createServer } = require(${JSON.stringify(dist)});
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const until = async (check) => { for (let i = 0; i < 1000 && !check(); i++) await sleep(10); };
  let accepted = 0;
  const server = createServer((socket) => { accepted++; socket.on('error', () => {}); });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 2 }, async () => {
    const port = server.address().port;
    const clients = [];
    const connect = () => {
      const client = net.connect(port, '127.0.0.1').on('error', () => {});
      clients.push(client);
      return client;
    };
    for (let i = 0; i < 80; i++) {
      connect();
      await sleep(2);  // within the backlog
    }
    await until(() => accepted === 80);
    for (const client of clients.slice(0, 80)) client.write('x');
    await sleep(50);
    ${late}
  });
`;

const acceptLate = busyServer(`
  const connectMs = [];
  for (let i = 0; i < 12; i++) {
    if (i > 0) await sleep(50);
    const startedAt = performance.now();
    connect().once('connect', () => connectMs.push(Math.round(performance.now() - startedAt)));
  }
  await until(() => connectMs.length === 12);
  await until(() => accepted === 92);
  process.stdout.write(JSON.stringify({ accepted, connectMs }) + '\\n');
  for (const client of clients) client.destroy();
  server.close();
`);

(linux ? test : test.skip)('clients connecting while a long turn reads get in at once: the turn stops to accept', async () => {
  const { code, stdout, stderr } = await runChild(acceptLate);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const report = JSON.parse(stdout.trim()) as { accepted: number; connectMs: number[] };
  expect(report.accepted).toBe(92);
  expect(report.connectMs).toHaveLength(12);
  // A dropped SYN is sent again after 1 s; none may have been.
  expect(Math.max(...report.connectMs)).toBeLessThan(900);
}, 30_000);

const closeDuringTurn = busyServer(`
  // Complete handshakes wait in the backlog; then close() while the turn runs.
  const outcomes = [];
  for (let i = 0; i < 2; i++) {
    const client = connect();
    client.removeAllListeners('error');
    client.on('error', (error) => outcomes.push(error.code));
    client.on('end', () => outcomes.push('end'));
  }
  await sleep(20);
  server.close();
  await until(() => outcomes.length === 2);
  process.stdout.write(JSON.stringify({ accepted, outcomes }) + '\\n');
  for (const client of clients) client.destroy();
`);

(linux ? test : test.skip)('close() during a long turn stops accepting: connections waiting in the backlog are reset, not accepted', async () => {
  const { code, stdout, stderr } = await runChild(closeDuringTurn);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const report = JSON.parse(stdout.trim()) as { accepted: number; outcomes: string[] };
  expect(report.accepted).toBe(80);
  expect(report.outcomes).toEqual(['ECONNRESET', 'ECONNRESET']);
}, 30_000);
