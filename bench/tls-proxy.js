'use strict';
// TLS-terminating proxies side by side (issue 16): node:tls (tls.createServer
// piping to net.connect), HAProxy (one thread, `bind ... ssl crt`, TCP mode)
// and epoll-reactor (createSecureServer + forward(), TLS on the reactor
// thread), each in front of the C echo server, in one run.
//
// usage: node bench/tls-proxy.js [--runs 3] [--seconds 4] [--no-pin] [--quick]
//
// The load generator is bench/loadgen.c built with OpenSSL
// (bench/.build/loadgen-tls --tls; Debian: libssl-dev), verifying every
// echoed byte. Scenarios: 64 B ping-pong on 100 connections, 64 B ×16 in
// flight, a 64 KiB stream on 10 connections (MB/s), and handshakes (each
// message a new connection and a full TLS 1.3 handshake, no resumption, on
// 50 connection slots). Placement when pinned: load generator and echo server
// on CPU 0, the proxy on CPU 1. The key is a P-256 one made for the run.
// Results: a markdown table on stdout, raw runs in bench/results/tls-proxy-*.json.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { buildAll, buildTlsLoadgen } = require('./build-loadgen');
const { stopChild } = require('./lib/children');
const { runLoadgen } = require('./lib/loadgen');
const { readCpuSeconds } = require('./lib/proc-stats');
const { on, startHaproxy, startLine, startScriptProxy } = require('./lib/proxies');
const { makeTlsFiles } = require('./lib/tls-files');

function parseArgs(argv) {
  const options = { runs: 3, seconds: 4, pin: true };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'no-pin') options.pin = false;
    else if (name === 'quick') Object.assign(options, { runs: 1, seconds: 2 });
    else if (name in options) options[name] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const SCENARIOS = [
  { name: '64 B ping-pong, 100 conns', unit: 'msgs/s', args: ['--connections', '100', '--size', '64', '--depth', '1'] },
  { name: '64 B ×16 in flight, 100 conns', unit: 'msgs/s', args: ['--connections', '100', '--size', '64', '--depth', '16'] },
  { name: '64 KiB stream, 10 conns', unit: 'MB/s', args: ['--stream', '--connections', '10', '--size', '65536'] },
  { name: 'handshakes (new connection per message), 50 slots', unit: 'handshakes/s',
    args: ['--churn', '--connections', '50', '--size', '64'] },
];
const PROXIES = ['node:tls', 'haproxy', 'epoll-reactor'];

async function startProxy(name, upstreamPort, options, tls) {
  if (name === 'haproxy') return startHaproxy(upstreamPort, options, tls);
  return startScriptProxy(name === 'node:tls' ? 'net-tls' : 'reactor-tls', upstreamPort, 'auto', options, tls);
}

async function run(loadgen, scenario, proxyName, upstreamPort, options, tls) {
  const proxy = await startProxy(proxyName, upstreamPort, options, tls);
  try {
    let cpuStart = null;
    let cpuEnd = null;
    const { result, stderr } = await runLoadgen({
      binary: loadgen, prefix: on(0, options),
      args: ['--tls', '--host', '127.0.0.1', '--port', String(proxy.port), '--duration', String(options.seconds),
        '--warmup', '1', '--connect-timeout', '10', ...scenario.args],
      plannedSeconds: options.seconds + 11,
      onMeasureStart: () => { cpuStart = readCpuSeconds(proxy.child.pid); },
      onMeasureEnd: () => { cpuEnd = readCpuSeconds(proxy.child.pid); },
    });
    if (!result) throw new Error(`${proxyName}: loadgen gave no result: ${stderr}`);
    const rate = scenario.unit === 'MB/s' ? result.mb_per_s : result.msgs_per_s;
    return {
      rate, p99: result.p99_us, errors: result.mismatches + result.errors + result.connect_failures,
      cpuUsPerMsg: cpuStart !== null && cpuEnd !== null && result.messages > 0
        ? ((cpuEnd - cpuStart) * 1e6) / result.messages : null,
    };
  } finally {
    await stopChild(proxy.child);
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!has('haproxy')) throw new Error('haproxy is not installed (apt-get install haproxy)');
  if (options.pin && !has('taskset')) options.pin = false;
  const bins = buildAll();
  const loadgen = buildTlsLoadgen();
  const tls = makeTlsFiles('tls-proxy-bench-');
  const load = os.loadavg()[0];
  const echo = await startLine(...(options.pin ? ['taskset', ['-c', '0', bins.cEchoServer, '0']] : [bins.cEchoServer, ['0']]),
    'C echo server');
  const results = {};
  try {
    for (let r = 0; r < options.runs; r++) {
      for (const scenario of SCENARIOS) {
        for (const proxy of PROXIES) {
          ((results[scenario.name] ??= {})[proxy] ??= []).push(await run(loadgen, scenario, proxy, echo.port, options, tls));
          process.stderr.write('.');
        }
      }
    }
  } finally {
    await stopChild(echo.child);
    fs.rmSync(tls.directory, { recursive: true, force: true });
  }
  process.stderr.write('\n');
  const stamp = new Date().toISOString();
  const file = path.join(__dirname, 'results', `tls-proxy-${stamp.replace(/[:.]/g, '-').slice(0, 19)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify({ date: stamp, loadAverage: load, options, results }, null, 2)}\n`);
  console.log(`${stamp}; load average ${load.toFixed(2)} at the start; ${options.runs} runs × ${options.seconds} s; ` +
    `${options.pin ? 'load generator and echo server on CPU 0, proxy on CPU 1' : 'unpinned'}; medians (min–max)\n`);
  console.log('| scenario | proxy | rate | min–max | p99 µs | proxy CPU µs/msg | vs HAProxy | vs node:tls | errors |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const scenario of SCENARIOS) {
    const rows = results[scenario.name];
    const rateOf = (proxy) => median(rows[proxy].map((r) => r.rate));
    for (const proxy of PROXIES) {
      const runs = rows[proxy];
      const rates = runs.map((r) => r.rate);
      const cpu = runs.every((r) => r.cpuUsPerMsg !== null) ? median(runs.map((r) => r.cpuUsPerMsg)).toFixed(2) : '';
      console.log(`| ${scenario.name} | ${proxy} | ${rateOf(proxy).toFixed(scenario.unit === 'MB/s' ? 0 : 0)} ${scenario.unit} | ` +
        `${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)} | ${Math.round(median(runs.map((r) => r.p99)))} | ${cpu} | ` +
        `${(rateOf(proxy) / rateOf('haproxy')).toFixed(2)}× | ${(rateOf(proxy) / rateOf('node:tls')).toFixed(2)}× | ` +
        `${runs.reduce((sum, r) => sum + r.errors, 0)} |`);
    }
  }
  console.log(`\nraw results: ${path.relative(process.cwd(), file)}`);
}

main().catch((error) => {
  console.error(error.stack || error.message);
  process.exitCode = 1;
});
