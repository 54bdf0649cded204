'use strict';
// `node bench/servers/cluster.js <workers> <script> [args...]`: node:cluster
// the way a node:net user scales out. Forks <workers> workers, each running
// <script> (a node:net server that listens on a port, e.g. echo-server.js
// net 0); cluster's primary owns the one listening socket and hands each
// connection to a worker in turn. Prints "listening <port>" once every
// worker listens, so long-lived benchmark connections are spread over all of
// them. SIGTERM ends the workers, then the primary.
const cluster = require('node:cluster');
const path = require('node:path');

const [workersText, script, ...args] = process.argv.slice(2);
const workers = Number(workersText);
if (!(workers >= 1) || !script) {
  process.stderr.write('usage: node bench/servers/cluster.js <workers> <script> [args...]\n');
  process.exit(2);
}

// The workers' own "listening" lines would race the primary's: keep their
// stdout to ourselves, pass their stderr on.
cluster.setupPrimary({ exec: path.resolve(script), args, silent: true });
let listening = 0;
for (let i = 0; i < workers; i++) {
  const worker = cluster.fork();
  worker.process.stdout.resume();
  worker.process.stderr.pipe(process.stderr);
}
cluster.on('listening', (_worker, address) => {
  if (++listening === workers) process.stdout.write(`listening ${address.port}\n`);
});
cluster.on('exit', (worker, code, signal) => {
  if (!stopping) process.stderr.write(`cluster.js: worker ${worker.process.pid} died (${signal ?? code})\n`);
});

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
  cluster.disconnect(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
