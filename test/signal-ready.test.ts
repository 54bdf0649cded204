// Every child process a test signals once it has announced itself (fixtures,
// scripts and the proxy CLI) installs its signal handlers before it writes
// that announcement. Otherwise a test that reads the line and signals at once
// can kill it by the signal's default action (issue 12, item 25: a pool
// fixture died by SIGTERM in 1 run in 5). The preloaded helper records the
// listener counts at the moment of the first write, so the check does not
// depend on winning a race.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';

const root = path.join(__dirname, '..');
const preload = path.join(__dirname, 'helpers', 'signal-handlers-at-first-line.js');
const children = new Set<ChildProcess>();
let upstream: net.Server | undefined;

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    }
  }
  children.clear();
  if (upstream) await new Promise((resolve) => upstream!.close(resolve));
  upstream = undefined;
});

/** Starts `script` with the preload; resolves with the counts it reported on `stream`. */
async function handlersAtFirstLine(script: string, args: string[], env: Record<string, string>,
  stream: 'stdout' | 'stderr'): Promise<{ SIGTERM: number; SIGINT: number }> {
  const child = spawn(process.execPath, ['-r', preload, path.join(root, script), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let other = '';
  child[stream === 'stdout' ? 'stderr' : 'stdout']!.on('data', (chunk: Buffer) => { other += chunk.toString(); });
  const lines = readline.createInterface({ input: child[stream]! });
  const first = new Promise<string>((resolve) => lines.once('line', resolve));
  let timer: NodeJS.Timeout | undefined;
  const line = await Promise.race([
    first,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${script} wrote no line on ${stream} in 20 s: ${other}`)), 20000);
    }),
  ]).finally(() => clearTimeout(timer));
  return (JSON.parse(line) as { handlersAtFirstLine: { SIGTERM: number; SIGINT: number } }).handlersAtFirstLine;
}

async function upstreamPort(): Promise<number> {
  upstream = net.createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve));
  return (upstream.address() as net.AddressInfo).port;
}

jest.setTimeout(30000);

test.each(['threads', 'cluster'])('test/fixtures/pool-shutdown.js (%s) handles SIGTERM before printing its port', async (mode) => {
  const counts = await handlersAtFirstLine('test/fixtures/pool-shutdown.js', [], { POOL_MODE: mode }, 'stdout');
  expect(counts.SIGTERM).toBeGreaterThan(0);
});

test('test/fixtures/idle-timeout-server.js handles SIGTERM before printing its port', async () => {
  const counts = await handlersAtFirstLine('test/fixtures/idle-timeout-server.js', [], { TIMEOUT_MS: '1000' }, 'stdout');
  expect(counts.SIGTERM).toBeGreaterThan(0);
});

test('test/fixtures/idle-clients.js handles SIGTERM before saying it is connected', async () => {
  const port = await upstreamPort();
  const counts = await handlersAtFirstLine('test/fixtures/idle-clients.js', [], { PORT: String(port), COUNT: '1' }, 'stdout');
  expect(counts.SIGTERM).toBeGreaterThan(0);
});

test('scripts/soak-server.js handles SIGTERM before printing its ports', async () => {
  const counts = await handlersAtFirstLine('scripts/soak-server.js', [], {}, 'stdout');
  expect(counts.SIGTERM).toBeGreaterThan(0);
});

test.each([1, 2])('the proxy CLI (--threads %i) handles SIGTERM and SIGINT before printing its listening line', async (threads) => {
  const port = await upstreamPort();
  const counts = await handlersAtFirstLine('bin/epoll-reactor.js',
    ['proxy', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${port}`, '--threads', String(threads)], {}, 'stderr');
  expect(counts).toEqual({ SIGTERM: 1, SIGINT: 1 });
});
