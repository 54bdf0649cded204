'use strict';
// `node --expose-gc bench/servers/tls-idle-server.js <node|reactor> <port>`:
// a TLS server that completes handshakes and then leaves each connection idle
// (paused, nothing written), for bench/tls-rss.js. Key and certificate from
// $BENCH_TLS_KEY and $BENCH_TLS_CERT. Prints `listening <port>`; on each
// line `measure` on stdin, runs full GCs and prints
// `memory <secure connections> <rss bytes>`.
const fs = require('node:fs');
const readline = require('node:readline');
const tls = require('node:tls');

const [impl, portText] = process.argv.slice(2);
const options = { key: fs.readFileSync(process.env.BENCH_TLS_KEY), cert: fs.readFileSync(process.env.BENCH_TLS_CERT) };
const create = impl === 'reactor' ? require('../../dist').createSecureServer : tls.createServer;

let secure = 0;
const held = new Set();
const server = create(options, (socket) => {
  secure++;
  held.add(socket);
  socket.pause();
  socket.on('error', () => undefined);
  socket.on('close', () => held.delete(socket));
});
server.listen(Number(portText ?? 0), '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line !== 'measure') return;
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  process.stdout.write(`memory ${secure} ${rss}\n`);
});
process.on('SIGTERM', () => process.exit(0));
