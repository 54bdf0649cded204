// A worker that dies is restarted in its place, and the port never goes
// down meanwhile: the other worker keeps its SO_REUSEPORT socket, so a
// client connecting throughout is never refused, and after the restart
// every connection is served again.
import { once } from 'node:events';
import * as net from 'node:net';

import { serveOnWorkers, ServerPool, ServerPoolMode, ServerPoolWorker, ServerPoolWorkerExit } from '../lib';
import { exchange, poolEchoModule } from './helpers/pool';

let pool: ServerPool | undefined;
afterEach(async () => {
  await pool?.close(0);
  pool = undefined;
});

const RESTART_DELAY_MS = 500;
const AFTER_RESTART = 100;

interface Outcome {
  phase: 'before' | 'restarting' | 'after';
  result: string | { error: string };
}

type Death = 'crash' | 'exit';

// Threads and processes, each dying of an uncaught exception and of process.exit().
const cases: Array<[ServerPoolMode, Death]> = [['threads', 'crash'], ['threads', 'exit'], ['cluster', 'crash'], ['cluster', 'exit']];

test.each(cases)('mode %s: a worker that dies by %s is restarted, and the port serves throughout', async (mode, death) => {
  pool = await serveOnWorkers({
    module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 2, mode, restartDelayMs: RESTART_DELAY_MS,
  });
  const { port } = pool.address()!;
  const idsBefore = pool.workers().map((worker) => worker.id);
  const exits: Array<[ServerPoolWorker, ServerPoolWorkerExit]> = [];
  pool.on('exit', (worker, exit) => exits.push([worker, exit]));
  const restarts: number[] = [];
  pool.on('restart', (_worker, delayMs) => restarts.push(delayMs));

  // Changed by the pool's events while the loop below awaits.
  const state: { phase: Outcome['phase'] } = { phase: 'before' };
  pool.once('exit', () => { state.phase = 'restarting'; });
  const online = once(pool, 'online') as Promise<[ServerPoolWorker]>;
  void online.then(() => { state.phase = 'after'; });

  // One client after another, for as long as the test needs, bounded in count and time.
  const outcomes: Outcome[] = [];
  let killed = false;
  const deadline = Date.now() + 30000;
  let afterCount = 0;
  for (let i = 0; i < 20000 && Date.now() < deadline && afterCount < AFTER_RESTART; i++) {
    if (i === 20) {
      // Whichever worker the kernel hands this connection to dies.
      const reply = await exchange(port, `${death}\n`);
      expect(typeof reply).toBe('object');
      killed = true;
    }
    const startedIn = state.phase;
    const result = await exchange(port, `ping ${i}\n`);
    outcomes.push({ phase: startedIn, result });
    if (startedIn === 'after') afterCount++;
  }
  expect(killed).toBe(true);
  expect(afterCount).toBe(AFTER_RESTART);

  const [restarted] = await online;
  expect(exits).toHaveLength(1);
  const [dead, exit] = exits[0];
  expect(exit.expected).toBe(false);
  expect(exit.code).toBe(death === 'exit' ? 3 : 1);
  if (mode === 'threads' && death === 'crash') expect(exit.error?.message).toBe('pool-echo: crashing on purpose');
  expect(restarts).toEqual([RESTART_DELAY_MS]);
  expect(restarted.index).toBe(dead.index);
  expect(restarted.restarts).toBe(1);
  expect(restarted.id).not.toBe(idsBefore[dead.index]);
  // The survivor is the same worker as before.
  expect(pool.workers()[1 - dead.index].id).toBe(idsBefore[1 - dead.index]);

  // Never refused: one listener always held the port.
  const errors = outcomes.filter((o) => typeof o.result !== 'string');
  expect(errors.filter((o) => (o.result as { error: string }).error === 'ECONNREFUSED')).toEqual([]);
  // Served while one worker was down...
  expect(outcomes.filter((o) => o.phase === 'restarting' && typeof o.result === 'string').length).toBeGreaterThan(0);
  // ... and every connection made after the restart was served.
  const after = outcomes.filter((o) => o.phase === 'after');
  expect(after.filter((o) => typeof o.result !== 'string')).toEqual([]);
  for (const o of outcomes) if (typeof o.result === 'string') expect(o.result).toMatch(/^ping \d+\n$/);

  const stats = await pool.stats();
  expect(stats.restarts).toBe(1);
  expect(stats.workers.every((worker) => worker.online)).toBe(true);
}, 60000);

test.each<ServerPoolMode>(['threads', 'cluster'])("mode %s: close() in an 'exit' listener resolves at once, and nothing restarts", async (mode) => {
  pool = await serveOnWorkers({
    module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 2, mode, shutdownGraceMs: 5000, restartDelayMs: 50,
  });
  const events: string[] = [];
  let closed: Promise<number> | undefined;
  pool.on('restart', () => events.push('restart'));
  pool.on('exit', (_worker, exit: ServerPoolWorkerExit) => {
    events.push(`exit expected ${exit.expected}`);
    if (closed === undefined) {
      const closing = Date.now();
      closed = pool!.close().then(() => Date.now() - closing);
    }
  });
  expect(typeof await exchange(pool.address()!.port, 'exit\n')).toBe('object');
  for (let i = 0; i < 500 && closed === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  // Nothing was open: no grace to wait for, and the dead worker is not waited for at all.
  expect(await closed).toBeLessThan(1500);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(events).toEqual(['exit expected false', 'exit expected true']);
}, 30000);

test.each<ServerPoolMode>(['threads', 'cluster'])('mode %s: stats() counts a worker that dies after answering once', async (mode) => {
  pool = await serveOnWorkers({ module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 2, mode, restartDelayMs: 5000 });
  pool.on('exit', () => undefined);
  const { port } = pool.address()!;
  // One open connection to each worker.
  const byWorker = new Map<string, net.Socket>();
  const opened: net.Socket[] = [];
  for (let i = 0; i < 200 && byWorker.size < 2; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    opened.push(socket);
    await once(socket, 'connect');
    socket.write('who\n');
    const [who] = await once(socket, 'data') as [Buffer];
    if (!byWorker.has(who.toString())) byWorker.set(who.toString(), socket);
  }
  try {
    const [answers, busy] = [...byWorker.values()];
    busy.write('block\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const asked = pool.stats();
    // The other worker answers at once; then it dies while the busy one has not answered.
    await new Promise((resolve) => setTimeout(resolve, 300));
    answers.write('exit\n');
    const stats = await asked;
    expect(stats.accepted).toBe(opened.length);
  } finally {
    for (const socket of opened) socket.destroy();
  }
}, 30000);

test.each<ServerPoolMode>(['threads', 'cluster'])("mode %s: a replacement starting when close() is called is not announced 'online'", async (mode) => {
  pool = await serveOnWorkers({ module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 2, mode, restartDelayMs: 0 });
  const events: string[] = [];
  pool.on('exit', (_worker, exit: ServerPoolWorkerExit) => events.push(`exit expected ${exit.expected}`));
  pool.on('online', () => events.push('online'));
  const restarted = once(pool, 'restart');
  expect(typeof await exchange(pool.address()!.port, 'exit\n')).toBe('object');
  await restarted;
  // The replacement is loading its module: it listens a few ms from now.
  await new Promise((resolve) => setTimeout(resolve, 5));
  events.push('close');
  await pool.close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(events.slice(events.indexOf('close'))).not.toContain('online');
}, 30000);

test('close() with a bad grace rejects with the code, and the pool stays open', async () => {
  pool = await serveOnWorkers({ module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 1, mode: 'threads' });
  let returned: Promise<void> | undefined;
  expect(() => { returned = pool!.close(-1); }).not.toThrow();
  await expect(returned).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  await expect(pool.close('1' as unknown as number)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  expect(typeof await exchange(pool.address()!.port, 'who\n')).toBe('string');
}, 30000);
