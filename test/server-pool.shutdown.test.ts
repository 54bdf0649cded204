// Shutting a pool down: on close() every worker stops accepting, lets its
// open connections go on until the grace period ends, destroys the rest and
// exits; then nothing is left to keep the process alive, and it exits by
// itself with code 0. The pool runs in a child process (fixtures/pool-shutdown.js)
// that closes it on SIGTERM and never calls process.exit().
import { once } from 'node:events';

import { serveOnWorkers, ServerPoolMode } from '../lib';
import { connectLocal, readExactly } from './helpers';
import { startFixture } from './helpers/child';
import { releaseTracked, track } from './helpers/cleanup';
import { exchange, poolEchoModule } from './helpers/pool';

afterEach(releaseTracked);

const GRACE_MS = 4000;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

describe.each<ServerPoolMode>(['threads', 'cluster'])('mode %s', (mode) => {
  // Cluster workers are processes of the group too: the signal goes to all
  // of it, as systemd's stop, `kill -TERM -<pgid>` and Ctrl-C send it.
  const target = mode === 'cluster' ? 'its process group' : 'the process';
  test(`SIGTERM to ${target}: open connections get the grace period, new ones are refused, then the process exits by itself`, async () => {
    const fixture = startFixture('pool-shutdown.js', { POOL_MODE: mode, POOL_GRACE_MS: String(GRACE_MS) },
      { processGroup: mode === 'cluster' });
    track(fixture.child);
    const exited = once(fixture.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const { port, workers } = await fixture.next<{ port: number; workers: number[] }>((line) => 'port' in line, 20000);

    // A connection that stays open across the signal.
    const held = track(await connectLocal(port));
    held.write('before\n');
    expect((await readExactly(held, 7)).toString()).toBe('before\n');
    const heldClosed = once(held, 'close');

    const signalledAt = Date.now();
    process.kill(mode === 'cluster' ? -fixture.child.pid! : fixture.child.pid!, 'SIGTERM');
    // New connections are refused once the workers have closed their listeners.
    let outcome: string | { error: string } = '';
    for (let i = 0; i < 200 && !(typeof outcome === 'object' && outcome.error === 'ECONNREFUSED'); i++) {
      outcome = await exchange(port, 'new\n', 2000);
      if (typeof outcome === 'string') await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(outcome).toEqual({ error: 'ECONNREFUSED' });
    // The open connection is still served within the grace period.
    held.write('during\n');
    expect((await readExactly(held, 7)).toString()).toBe('during\n');
    expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS);

    // At the end of the grace period it is closed, and the process exits on its own.
    await heldClosed;
    let timer: NodeJS.Timeout | undefined;
    const [code, signal] = await Promise.race([
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the process did not exit within 15 s of SIGTERM')), 15000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(fixture.lines).toContainEqual({ closed: true });
    if (mode === 'cluster') for (const pid of workers) expect(isRunning(pid)).toBe(false);
    expect(await exchange(port, 'after\n', 2000)).toEqual({ error: 'ECONNREFUSED' });
  }, 60000);
});

test('a pool that was never used closes at once and lets the process exit', async () => {
  const fixture = startFixture('pool-shutdown.js', { POOL_MODE: 'threads', POOL_GRACE_MS: '10000' });
  track(fixture.child);
  const exited = once(fixture.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await fixture.next((line) => 'port' in line, 20000);
  const signalledAt = Date.now();
  process.kill(fixture.child.pid!, 'SIGTERM');
  const [code] = await exited;
  expect(code).toBe(0);
  // No connection was open, so nothing waited for the 10 s grace.
  expect(Date.now() - signalledAt).toBeLessThan(5000);
}, 60000);


test('the longest grace close() takes (2^31 - 1 ms) keeps open connections open', async () => {
  const pool = await serveOnWorkers({ module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 1, mode: 'cluster' });
  const held = track(await connectLocal(pool.address()!.port));
  held.write('before\n');
  expect((await readExactly(held, 7)).toString()).toBe('before\n');
  const closed = pool.close(2 ** 31 - 1);
  // Past the 2 s the pool allows a worker to exit after its grace.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  held.write('during\n');
  expect((await readExactly(held, 7)).toString()).toBe('during\n');
  // Not 24 days: the worker is ended here, and close() resolves with it.
  for (const worker of pool.workers()) process.kill(worker.id, 'SIGKILL');
  await closed;
}, 30000);
