// docs/scaling.md's many-machines setup, on loopback: HAProxy with
// examples/scaling/haproxy.cfg in front of three examples/scaling/host.js
// processes standing in for three hosts. Traffic through HAProxy comes back
// byte for byte, and more than one host served it. Skipped, saying so, when
// haproxy is not installed.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { releaseTracked, track } from './helpers/cleanup';
import { closedPort, echoThrough } from './helpers/echo-client';

afterEach(releaseTracked);

const root = path.resolve(__dirname, '..');
const haproxy = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'].find((file) => fs.existsSync(file)) ??
  (spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' }).stdout.trim() || undefined);
if (haproxy === undefined) {
  // eslint-disable-next-line no-console
  console.warn('test/scaling.haproxy.test.ts: SKIPPED, haproxy is not installed (apt-get install haproxy)');
}
const testIfHaproxy = haproxy === undefined ? test.skip : test;

interface Host {
  child: ChildProcess;
  port: number;
  lines: Array<Record<string, unknown>>;
  nextLine(): Promise<Record<string, unknown>>;
}

async function startHost(): Promise<Host> {
  const child = track(spawn(process.execPath, [path.join(root, 'examples', 'scaling', 'host.js')], {
    env: { ...process.env, PORT: '0', WORKERS: '1', SHUTDOWN_GRACE_MS: '1000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  }));
  const lines: Array<Record<string, unknown>> = [];
  const waiting: Array<(line: Record<string, unknown>) => void> = [];
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const nextLine = (): Promise<Record<string, unknown>> => {
    const line = lines.shift();
    if (line) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      waiting.push(resolve);
      child.once('exit', (code) => reject(new Error(`host exited (${code}) before printing a line`)));
    });
  };
  const listening = await nextLine();
  const port = Number(String(listening.listening).split(':').pop());
  return { child, port, lines, nextLine };
}


async function waitUntilAccepting(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with code ${child.exitCode}`);
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (accepted) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('haproxy did not start accepting within 10 s');
}

testIfHaproxy('HAProxy with the example config spreads clients over 3 epoll-reactor hosts, every byte echoed', async () => {
  const hosts = await Promise.all([startHost(), startHost(), startHost()]);
  const frontendPort = await closedPort();

  // The example config, with the free ports put in for 7000 and 7001-7003.
  const example = fs.readFileSync(path.join(root, 'examples', 'scaling', 'haproxy.cfg'), 'utf8');
  expect(example).toMatch(/bind 127\.0\.0\.1:7000\b/);
  const config = example
    .replace(/127\.0\.0\.1:7000\b/, `127.0.0.1:${frontendPort}`)
    .replace(/127\.0\.0\.1:700([1-3])\b/g, (_, n: string) => `127.0.0.1:${hosts[Number(n) - 1].port}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haproxy-scaling-'));
  const configFile = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(configFile, config);
  const balancer = track(spawn(haproxy!, ['-db', '-f', configFile], { stdio: ['ignore', 'ignore', 'inherit'] }));
  const balancerExited = once(balancer, 'exit');
  await waitUntilAccepting(frontendPort, balancer);

  const clients = 90;
  const payloads = Array.from({ length: clients }, (_, i) => Buffer.from(`client ${i} ${'#'.repeat(100 + i * 97)}\n`));
  const echoed: Buffer[] = [];
  // Ten at a time, so that round-robin sees overlapping clients too.
  for (let i = 0; i < clients; i += 10) {
    echoed.push(...await Promise.all(payloads.slice(i, i + 10).map((payload) => echoThrough(frontendPort, payload))));
  }
  for (let i = 0; i < clients; i++) expect(echoed[i].equals(payloads[i])).toBe(true);

  // Each host reports its counters when it stops.
  const stopped = hosts.map((host) => host.nextLine());
  for (const host of hosts) process.kill(host.child.pid!, 'SIGTERM');
  const counters = (await Promise.all(stopped)).map((line) => line.stopped as { accepted: number; bytesRead: number; bytesWritten: number });
  const sentBytes = payloads.reduce((sum, payload) => sum + payload.length, 0);
  // HAProxy's health checks connect without sending, so they add connections, not bytes.
  expect(counters.reduce((sum, c) => sum + c.bytesRead, 0)).toBe(sentBytes);
  expect(counters.reduce((sum, c) => sum + c.bytesWritten, 0)).toBe(sentBytes);
  expect(counters.reduce((sum, c) => sum + c.accepted, 0)).toBeGreaterThanOrEqual(clients);
  const served = counters.filter((c) => c.bytesRead > 0);
  expect(served.length).toBeGreaterThan(1);

  process.kill(balancer.pid!, 'SIGTERM');
  await balancerExited;
  await Promise.all(hosts.map((host) => (host.child.exitCode === null ? once(host.child, 'exit') : undefined)));
  expect(hosts.map((host) => host.child.exitCode)).toEqual([0, 0, 0]);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60000);
