'use strict';
// Server memory per idle TLS connection: epoll-reactor's createSecureServer
// against node:tls's createServer (issue 16's goal: report them side by side).
//
// usage: node bench/tls-rss.js [--connections 10000] [--runs 2]
// Each server runs in a process of its own (bench/servers/tls-idle-server.js,
// --expose-gc). The bench process opens `connections` TLS 1.3 connections to
// it (tls.connect, 100 handshakes in flight), waits until the server counts
// them all as secure, and reads the server's RSS after three full GCs, both
// after one warm-up connection and with all of them open and idle. Prints a
// markdown table: RSS growth per connection, medians over runs.

const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');

const { spawnTracked, stopChild, waitForLine } = require('./lib/children');
const { makeTlsFiles } = require('./lib/tls-files');

function parseArgs(argv) {
  const options = { connections: 10000, runs: 2 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name in options) options[name] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

function connectOne(port) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function openConnections(port, count) {
  const sockets = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      sockets.push(await connectOne(port));
    }
  };
  await Promise.all(Array.from({ length: Math.min(100, count) }, worker));
  return sockets;
}

async function measure(child, expected) {
  const deadline = Date.now() + 60000;
  for (;;) {
    const reply = waitForLine(child, /^memory (\d+) (\d+)/, 30000, 'tls-idle-server');
    child.stdin.write('measure\n');
    const [, secure, rss] = await reply;
    if (Number(secure) >= expected) return Number(rss);
    if (Date.now() > deadline) throw new Error(`the server counted ${secure} of ${expected} connections`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function runOne(impl, options) {
  const script = path.join(__dirname, 'servers', 'tls-idle-server.js');
  const child = spawnTracked(process.execPath, ['--expose-gc', script, impl, '0'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, BENCH_TLS_KEY: options.tls.key, BENCH_TLS_CERT: options.tls.cert },
  });
  let sockets = [];
  try {
    const [, port] = await waitForLine(child, /^listening (\d+)/, 10000, `${impl} tls-idle-server`);
    sockets = await openConnections(Number(port), 1);
    const base = await measure(child, 1);
    sockets.push(...await openConnections(Number(port), options.connections - 1));
    const full = await measure(child, options.connections);
    return { base, full, perConnection: (full - base) / (options.connections - 1) };
  } finally {
    for (const socket of sockets) socket.destroy();
    await stopChild(child);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  options.tls = makeTlsFiles('bench-tls-rss-');
  const results = { node: [], reactor: [] };
  try {
    for (let run = 0; run < options.runs; run++) {
      for (const impl of Object.keys(results)) {
        results[impl].push(await runOne(impl, options));
        process.stderr.write('.');
      }
    }
  } finally {
    fs.rmSync(options.tls.directory, { recursive: true, force: true });
  }
  process.stderr.write('\n');
  console.log(`${options.connections} idle TLS 1.3 connections (P-256, self-signed), ${options.runs} runs; medians; RSS after 3 full GCs\n`);
  console.log('| server | RSS with 1 | RSS with all | per connection | vs node:tls |');
  console.log('|---|---:|---:|---:|---:|');
  const nodePer = median(results.node.map((r) => r.perConnection));
  for (const [impl, name] of [['node', 'node:tls'], ['reactor', 'epoll-reactor']]) {
    const runs = results[impl];
    const per = median(runs.map((r) => r.perConnection));
    console.log(`| ${name} | ${(median(runs.map((r) => r.base)) / 1048576).toFixed(1)} MiB | ` +
      `${(median(runs.map((r) => r.full)) / 1048576).toFixed(1)} MiB | ${(per / 1024).toFixed(1)} KiB | ${(per / nodePer).toFixed(2)}× |`);
  }
}

main().catch((error) => {
  console.error(error.stack || error.message);
  process.exitCode = 1;
});
