'use strict';
// An h2c (cleartext HTTP/2) http2.Server through epoll-reactor's serveHttp vs
// the same server on its own listener, measured with h2load.
//
// usage: node bench/http2.js [--runs 3] [--seconds 5] [--clients 100] [--streams 10] [--no-pin]
// Per run, interleaved: start the server (pinned to CPU 1), run h2load
// (pinned to CPU 0, one thread), record requests/s and the server's CPU per
// request split by thread. Prints a markdown table of medians with min–max.
// Needs h2load (Debian package nghttp2-client).
//
// node's http2 wraps any socket that is not its own libuv stream in a
// JSStreamSocket, so the reactor's sockets reach it through an extra JS
// Duplex: this is the measurement behind docs/benchmarks.md's advice to keep
// http2 servers on their own listener.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const { spawnTracked, stopChild, waitForLine } = require('./lib/children');
const { readThreadCpuSeconds } = require('./lib/proc-stats');

function parseArgs(argv) {
  const options = { runs: 3, seconds: 5, clients: 100, streams: 10, pin: true };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'no-pin') options.pin = false;
    else if (name in options) options[name] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

function pinned(cpu, command, args, pin) {
  return pin ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
}

async function measure(impl, options) {
  const [command, args] = pinned(1, process.execPath, [path.join(__dirname, 'servers', 'http-server.js'), impl, 'h2c', '0'], options.pin);
  const child = spawnTracked(command, args);
  try {
    const [, port] = await waitForLine(child, /^listening (\d+)$/, 10_000, `${impl} h2c server`);
    const pid = child.pid;  // taskset execs the server: the same pid
    const before = readThreadCpuSeconds(pid);
    const [h2Command, h2Args] = pinned(0, 'h2load', ['-c', String(options.clients), '-m', String(options.streams),
      '-D', String(options.seconds), '--warm-up-time', '1', `http://127.0.0.1:${port}/`], options.pin);
    const output = execFileSync(h2Command, h2Args, { encoding: 'utf8', timeout: (options.seconds + 20) * 1000 });
    const after = readThreadCpuSeconds(pid);
    const rate = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(output)[1]);
    const done = Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(output)[1]);
    const failed = Number(/(\d+) failed/.exec(output)[1]);
    const perRequest = (part) => ((after[part] - before[part]) * 1e6) / Math.max(done, 1);
    return { rate, failed, js: perRequest('js'), reactor: perRequest('reactor'), other: perRequest('other') };
  } finally {
    await stopChild(child);
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const results = { node: [], reactor: [] };
  console.error(`load average ${require('node:os').loadavg()[0].toFixed(2)} at the start`);
  for (let run = 0; run < options.runs; run++) {
    for (const impl of ['node', 'reactor']) {
      const result = await measure(impl, options);
      results[impl].push(result);
      console.error(`run ${run + 1} ${impl}: ${result.rate.toFixed(0)} req/s`);
    }
  }
  const baseline = median(results.node.map((r) => r.rate));
  console.log(`| server | requests/s | min–max | server CPU µs/req | JS / reactor / other | failed | vs node |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const impl of ['node', 'reactor']) {
    const rows = results[impl];
    const rates = rows.map((r) => r.rate);
    const part = (name) => median(rows.map((r) => r[name]));
    const total = part('js') + part('reactor') + part('other');
    console.log(`| ${impl === 'node' ? 'node:http2' : 'epoll-reactor serveHttp'} | ${median(rates).toFixed(0)} | ` +
      `${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)} | ${total.toFixed(1)} | ` +
      `${part('js').toFixed(1)} / ${impl === 'node' ? '–' : part('reactor').toFixed(1)} / ${part('other').toFixed(1)} | ` +
      `${rows.reduce((sum, r) => sum + r.failed, 0)} | ${(median(rates) / baseline).toFixed(2)}× |`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
