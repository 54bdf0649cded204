// A turn over many sockets can run for tens of milliseconds; a connect burst
// meanwhile fills the kernel's accept queue, and a SYN it drops costs its
// client a 1 s retransmit. So a long turn stops between sockets to accept.
// Here every recv on the reactor thread takes 10 ms (the fault shim), 80
// sockets have a byte each (a turn of about 800 ms), and the listener's
// queue holds 3: clients connecting every 50 ms during that turn must all
// get in at once, not after a retransmit. (Run alone, jest.timing.config.js.)
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { preloadWithShim } from './fault/build';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

const dist = path.resolve(__dirname, '..', 'dist');
const linux = process.platform === 'linux';

const script = `
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
    const connectMs = [];
    for (let i = 0; i < 12; i++) {
      await sleep(50);
      const startedAt = performance.now();
      connect().once('connect', () => connectMs.push(Math.round(performance.now() - startedAt)));
    }
    await until(() => connectMs.length === 12);
    await until(() => accepted === 92);
    process.stdout.write(JSON.stringify({ accepted, connectMs }) + '\\n');
    for (const client of clients) client.destroy();
    server.close();
  });
`;

(linux ? test : test.skip)('clients connecting while a long turn reads get in at once: the turn stops to accept', async () => {
  const child = track(spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LD_PRELOAD: preloadWithShim(), FAULT_RECV_DELAY_US: '10000' },
  }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const report = JSON.parse(stdout.trim()) as { accepted: number; connectMs: number[] };
  expect(report.accepted).toBe(92);
  expect(report.connectMs).toHaveLength(12);
  // A dropped SYN is sent again after 1 s; none may have been.
  expect(Math.max(...report.connectMs)).toBeLessThan(900);
}, 30_000);
