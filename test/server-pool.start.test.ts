// Starting a pool: bad options throw at once with Node-style codes; a worker
// that cannot start (its module throws or exports no listener, the port is
// taken) makes serveOnWorkers reject, with no worker left running.
import cluster from 'node:cluster';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { serveOnWorkers, ServerPool, ServerPoolMode } from '../lib';
import { closeServer, listenLocal } from './helpers';
import { releaseTracked } from './helpers/cleanup';
import { exchange, failOnLoadModule, poolEchoModule } from './helpers/pool';

// Removes failOnLoadModule()'s directory.
afterEach(releaseTracked);

const notAHandler = path.join(__dirname, 'fixtures', 'pool-not-a-handler.js');

test('bad options throw synchronously with Node-style codes', () => {
  const call = (options: unknown) => () => serveOnWorkers(options as never);
  expect(call(undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(call({ module: 42 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(call({ module: path.join(os.tmpdir(), 'no-such-handler.js') })).toThrow(expect.objectContaining({ code: 'MODULE_NOT_FOUND' }));
  expect(call({ module: poolEchoModule, workers: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(call({ module: poolEchoModule, workers: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(call({ module: poolEchoModule, port: 70000 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  expect(call({ module: poolEchoModule, mode: 'fork' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(call({ module: poolEchoModule, reusePort: 'yes' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(call({ module: poolEchoModule, restartDelayMs: 500, maxRestartDelayMs: 100 }))
    .toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
});

describe.each<ServerPoolMode>(['threads', 'cluster'])('mode %s', (mode) => {
  afterEach(() => {
    // Every cluster worker a failed start forked has been reaped.
    expect(Object.keys(cluster.workers ?? {})).toEqual([]);
  });

  test('a module that throws on load: serveOnWorkers rejects with its error', async () => {
    const { module, marker } = failOnLoadModule();
    fs.writeFileSync(marker, '');
    await expect(serveOnWorkers({ module, host: '127.0.0.1', workers: 2, mode }))
      .rejects.toThrow('handler: told to fail on load');
  }, 30000);

  test('a module that keeps a timer and throws on load: rejects, and its workers are ended', async () => {
    const { module, marker } = failOnLoadModule(true);
    fs.writeFileSync(marker, '');
    let timer: NodeJS.Timeout | undefined;
    const pending = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('still pending after 10 s')), 10000);
    });
    await expect(Promise.race([serveOnWorkers({ module, host: '127.0.0.1', workers: 2, mode }), pending]).finally(() => clearTimeout(timer)))
      .rejects.toThrow('handler: told to fail on load');
  }, 30000);

  test('a module without a connection listener: rejects with ERR_INVALID_ARG_TYPE', async () => {
    await expect(serveOnWorkers({ module: notAHandler, host: '127.0.0.1', workers: 2, mode }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('connection listener') });
  }, 30000);

  test('an ES module whose default export is the listener serves', async () => {
    const pool = await serveOnWorkers({ module: path.join(__dirname, 'fixtures', 'pool-echo.mjs'), host: '127.0.0.1', workers: 2, mode });
    try {
      expect(await exchange(pool.address()!.port, 'from an ES module\n')).toBe('from an ES module\n');
    } finally {
      await pool.close(0);
    }
  }, 30000);

  test('a port held by a socket without SO_REUSEPORT: rejects with EADDRINUSE', async () => {
    const holder = net.createServer();
    const port = await listenLocal(holder);
    try {
      await expect(serveOnWorkers({ module: poolEchoModule, port, host: '127.0.0.1', workers: 2, mode }))
        .rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await closeServer(holder);
    }
  }, 30000);
});

test("a port another pool serves: rejects with EADDRINUSE, as net's listen(); with reusePort both serve", async () => {
  const first = await serveOnWorkers({ module: poolEchoModule, host: '127.0.0.1', workers: 1, mode: 'threads' });
  const second: ServerPool[] = [];
  try {
    const { port } = first.address()!;
    await expect(serveOnWorkers({ module: poolEchoModule, port, host: '127.0.0.1', workers: 1, mode: 'threads' }))
      .rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(await exchange(port, 'still the first\n')).toBe('still the first\n');
    second.push(await serveOnWorkers({ module: poolEchoModule, port, host: '127.0.0.1', workers: 1, mode: 'threads', reusePort: true }));
    expect(second[0].address()!.port).toBe(port);
  } finally {
    await Promise.all([first.close(0), ...second.map((pool) => pool.close(0))]);
  }
}, 30000);
