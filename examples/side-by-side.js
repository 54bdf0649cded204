'use strict';
// `npm start`: the point of epoll-reactor in about 30 seconds. The same echo
// server code runs on node:net and on epoll-reactor, one after the other,
// under the same load from the C load generator (bench/loadgen.c, which checks
// every echoed byte), and a table shows the rates side by side.
// For the full suite: npm run bench. For a plain echo server: npm run echo.
// DEMO_SECONDS shortens or lengthens each measurement (default 5).
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const cliProgress = require('cli-progress');

const { buildAll } = require('../bench/build-loadgen');
const { spawnTracked, stopChild, waitForLine } = require('../bench/lib/children');
const { runLoadgen } = require('../bench/lib/loadgen');
const { readCpuSeconds } = require('../bench/lib/proc-stats');

const SECONDS = Number(process.env.DEMO_SECONDS) > 0 ? Number(process.env.DEMO_SECONDS) : 5;
const SCENARIOS = [
  { name: '64 B ping-pong, 100 connections', args: ['--connections', '100', '--size', '64', '--depth', '1'] },
  { name: '64 B, 16 in flight, 100 connections', args: ['--connections', '100', '--size', '64', '--depth', '16'] },
];
const SERVERS = [['node:net', 'net'], ['epoll-reactor', 'reactor']];

const pin = os.cpus().length >= 2 && spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
const on = (cpu) => (pin ? ['taskset', '-c', String(cpu)] : []);

async function measure(impl, scenario, bins) {
  const script = path.join(__dirname, '..', 'bench', 'servers', 'echo-server.js');
  const prefix = on(1);
  const child = prefix.length
    ? spawnTracked(prefix[0], [...prefix.slice(1), process.execPath, script, impl, '0'])
    : spawnTracked(process.execPath, [script, impl, '0']);
  try {
    const [, port] = await waitForLine(child, /^listening (\d+)/, 10000, `${impl} echo server`);
    let cpuStart = 0;
    let cpuEnd = 0;
    const { result } = await runLoadgen({
      binary: bins.loadgen,
      prefix: on(0),
      args: ['--host', '127.0.0.1', '--port', port, '--duration', String(SECONDS), '--warmup', '0.5',
        '--connect-timeout', '10', ...scenario.args],
      plannedSeconds: SECONDS + 11,
      onMeasureStart: () => { cpuStart = readCpuSeconds(child.pid); },
      onMeasureEnd: () => { cpuEnd = readCpuSeconds(child.pid); },
    });
    if (!result || result.mismatches > 0 || result.errors > 0) throw new Error(`${impl}: the echo check failed`);
    return { rate: result.msgs_per_s, cpuUsPerMsg: ((cpuEnd - cpuStart) * 1e6) / result.messages };
  } finally {
    await stopChild(child);
  }
}

async function main() {
  const bins = buildAll();
  const total = SCENARIOS.length * SERVERS.length;
  const bar = new cliProgress.SingleBar({
    format: ' {bar} {value}/{total} runs | {what}',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  console.log(`Echo, node:net vs epoll-reactor, ${SECONDS} s each` +
    (pin ? ' (load generator on CPU 0, server on CPU 1)' : ' (unpinned)'));
  bar.start(total, 0, { what: 'starting' });
  const rows = [];
  let done = 0;
  for (const scenario of SCENARIOS) {
    const row = { scenario: scenario.name };
    for (const [label, impl] of SERVERS) {
      bar.update(done, { what: `${label}: ${scenario.name}` });
      row[label] = await measure(impl, scenario, bins);
      bar.update(++done);
    }
    rows.push(row);
  }
  bar.update(total, { what: 'done' });
  bar.stop();
  const format = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}k`);
  console.log('\n| scenario | node:net msg/s | epoll-reactor msg/s | ratio | CPU µs/msg (net → reactor) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const row of rows) {
    const net = row['node:net'];
    const reactor = row['epoll-reactor'];
    console.log(`| ${row.scenario} | ${format(net.rate)} | ${format(reactor.rate)} | ` +
      `${(reactor.rate / net.rate).toFixed(2)}× | ${net.cpuUsPerMsg.toFixed(1)} → ${reactor.cpuUsPerMsg.toFixed(1)} |`);
  }
  console.log('\nEvery echoed byte was checked. Full suite: npm run bench (docs/benchmarks.md).');
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
