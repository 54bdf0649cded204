// A worker that keeps dying is restarted with a growing delay, so a handler
// that crashes at once cannot spin the machine; the surviving worker serves
// the port all along, and once the cause is gone the worker comes back.
import * as fs from 'node:fs';

import { serveOnWorkers, ServerPool, ServerPoolWorker, ServerPoolWorkerExit } from '../lib';
import { waitFor } from './helpers';
import { releaseTracked } from './helpers/cleanup';
import { exchange, failOnLoadModule } from './helpers/pool';

// Removes failOnLoadModule()'s directory.
afterEach(releaseTracked);

let pool: ServerPool | undefined;
afterEach(async () => {
  await pool?.close(0);
  pool = undefined;
});

test('restarts that fail back off 50, 100, 200, 400, 400 ms; the port serves; the worker returns', async () => {
  const { module, marker } = failOnLoadModule();
  pool = await serveOnWorkers({
    module, port: 0, host: '127.0.0.1', workers: 2, mode: 'threads', restartDelayMs: 50, maxRestartDelayMs: 400,
  });
  const { port } = pool.address()!;
  const delays: number[] = [];
  const exits: ServerPoolWorkerExit[] = [];
  const onlines: ServerPoolWorker[] = [];
  pool.on('restart', (_worker, delayMs: number) => delays.push(delayMs));
  pool.on('exit', (_worker, exit: ServerPoolWorkerExit) => exits.push(exit));
  pool.on('online', (worker: ServerPoolWorker) => onlines.push(worker));

  // From now on a worker that starts fails on load.
  fs.writeFileSync(marker, '');
  expect(typeof await exchange(port, 'exit\n')).toBe('object');
  await waitFor(() => delays.length >= 5, 20000, 'five restart attempts');
  expect(delays.slice(0, 5)).toEqual([50, 100, 200, 400, 400]);
  // The first exit is the process.exit(3) in the handler; the rest are failed starts.
  expect(exits[0]).toMatchObject({ code: 3, expected: false });
  for (const exit of exits.slice(1)) {
    expect(exit.expected).toBe(false);
    expect(exit.error?.message).toBe('handler: told to fail on load');
  }
  // Meanwhile the other worker serves every connection.
  for (let i = 0; i < 20; i++) expect(await exchange(port, `still ${i}\n`)).toBe(`still ${i}\n`);
  expect(onlines).toEqual([]);

  fs.rmSync(marker);
  await waitFor(() => onlines.length === 1, 10000, 'the worker back online');
  expect(onlines[0].restarts).toBe(delays.length);
  expect(pool.workers().every((worker) => worker.online)).toBe(true);
}, 60000);

test('with restartDelayMs 0, the first restart is at once and the next ones back off from 1 ms', async () => {
  const { module, marker } = failOnLoadModule();
  pool = await serveOnWorkers({
    module, port: 0, host: '127.0.0.1', workers: 2, mode: 'threads', restartDelayMs: 0, maxRestartDelayMs: 64,
  });
  const delays: number[] = [];
  pool.on('restart', (_worker, delayMs: number) => delays.push(delayMs));
  pool.on('exit', () => undefined);
  fs.writeFileSync(marker, '');
  expect(typeof await exchange(pool.address()!.port, 'exit\n')).toBe('object');
  await waitFor(() => delays.length >= 8, 20000, 'eight restart attempts');
  // Before: 0 every time, a worker failing on load restarted as fast as it could die.
  expect(delays.slice(0, 8)).toEqual([0, 2, 4, 8, 16, 32, 64, 64]);
  fs.rmSync(marker);
}, 60000);

test('a restart that fails while the module keeps a timer is ended and tried again', async () => {
  const { module, marker } = failOnLoadModule(true);
  pool = await serveOnWorkers({
    module, port: 0, host: '127.0.0.1', workers: 2, mode: 'threads', restartDelayMs: 50, maxRestartDelayMs: 100,
  });
  const { port } = pool.address()!;
  const exits: ServerPoolWorkerExit[] = [];
  const onlines: ServerPoolWorker[] = [];
  pool.on('exit', (_worker, exit: ServerPoolWorkerExit) => exits.push(exit));
  pool.on('online', (worker: ServerPoolWorker) => onlines.push(worker));

  fs.writeFileSync(marker, '');
  expect(typeof await exchange(port, 'exit\n')).toBe('object');
  // The failed start's worker would live on for its timer; the pool ends it (after 2 s) and tries again.
  await waitFor(() => exits.length >= 2, 10000, 'the failed restart ended');
  expect(exits[1].error?.message).toBe('handler: told to fail on load');
  fs.rmSync(marker);
  await waitFor(() => onlines.length === 1, 10000, 'the worker back online');
  expect(pool.workers().every((worker) => worker.online)).toBe(true);
}, 30000);
