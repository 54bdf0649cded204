'use strict';
// One "host" of a scaled-out deployment: an echo service on every core of
// this machine (serveOnWorkers: one worker and one reactor per core, all on
// one port with SO_REUSEPORT). Several of these behind HAProxy
// (examples/scaling/haproxy.cfg) make the many-machines setup of
// docs/scaling.md.
//
//   PORT=7001 node examples/scaling/host.js          # all cores, worker threads
//   PORT=7001 WORKERS=2 MODE=cluster node examples/scaling/host.js
//
// Prints JSON lines on stdout: {"listening":"HOST:PORT","workers":N,"mode":...}
// once serving, and {"stopped":{...counters}} after SIGTERM or SIGINT, when
// every worker has closed (open connections get SHUTDOWN_GRACE_MS, default 10 s).
const os = require('node:os');
const path = require('node:path');
const { serveOnWorkers, backend } = require('../..');

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function main() {
  const pool = await serveOnWorkers({
    module: path.join(__dirname, 'echo-handler.js'),
    port: Number(process.env.PORT ?? 7001),
    host: process.env.HOST ?? '127.0.0.1',
    workers: Number(process.env.WORKERS ?? os.availableParallelism()),
    mode: process.env.MODE ?? 'threads',
    shutdownGraceMs: Number(process.env.SHUTDOWN_GRACE_MS ?? 10000),
  });
  const { address, port } = pool.address();
  print({ listening: `${address}:${port}`, workers: pool.workers().length, mode: pool.mode, backend });
  pool.on('exit', (worker, exit) => {
    if (!exit.expected) print({ workerDied: { index: worker.index, code: exit.code, error: exit.error?.message } });
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await pool.close();
    const { workers, ...total } = await pool.stats();
    print({ stopped: { ...total, perWorker: workers.map((worker) => worker.accepted) } });
    // Nothing is left running: the process exits by itself.
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
