'use strict';
// `node bench/servers/pool-echo-server.js <threads|cluster> <workers> [port]`:
// the echo of echo-server.js on <workers> epoll-reactor workers with
// serveOnWorkers (each its own reactor, SO_REUSEPORT on one port).
// Prints "listening <port>" once every worker listens.
const path = require('node:path');
const { serveOnWorkers } = require('../../dist');

const [mode = 'threads', workers = '2', port = '0'] = process.argv.slice(2);

serveOnWorkers({
  module: path.join(__dirname, 'echo-handler.js'),
  port: Number(port),
  host: '127.0.0.1',
  workers: Number(workers),
  mode,
  shutdownGraceMs: 0,
}).then((pool) => {
  process.stdout.write(`listening ${pool.address().port}\n`);
  process.on('SIGTERM', () => {
    pool.close(0).then(() => process.exit(0));
  });
}, (error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
