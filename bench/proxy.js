'use strict';
// Proxies side by side: node:net's pipe proxy, HAProxy in TCP mode with one
// thread, and epoll-reactor's forward(), in one run.
//
// usage: node bench/proxy.js [--runs 3] [--seconds 4] [--no-pin] [--quick]
//                            [--proxies NAME,NAME] [--scenarios NAME,NAME] [--no-bulk]
// Echo: the C load generator -> proxy -> the C echo server (64 B, 100 and
// 1,000 connections, ping-pong and 16 in flight, and churn: a new connection
// per message, 50 at once), plus the same load straight to the echo server
// for the direct rate. Bulk: iperf3 through each proxy. --proxies and
// --scenarios take names from PROXIES and ECHO_SCENARIOS (a scenario by the
// text before its first comma, e.g. 'churn').
// Placement when pinned: load generator and upstream (echo server or iperf3
// server) on CPU 0, the proxy on CPU 1, so each proxy has one core, as
// HAProxy with one thread does. Needs haproxy and iperf3 (Debian packages).
const { execFileSync, spawnSync } = require('node:child_process');
const path = require('node:path');
const { buildAll } = require('./build-loadgen');
const { spawnTracked, stopChild } = require('./lib/children');
const { freePort, on, startHaproxy, startLine, startScriptProxy } = require('./lib/proxies');
const { runLoadgen } = require('./lib/loadgen');
const { readCpuSeconds } = require('./lib/proc-stats');

function parseArgs(argv) {
  const options = { runs: 3, seconds: 4, pin: true, bulk: true, proxies: PROXIES, scenarios: ECHO_SCENARIOS };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'no-pin') options.pin = false;
    else if (name === 'no-bulk') options.bulk = false;
    else if (name === 'proxies') options.proxies = pick([...PROXIES, ...OPTIONAL_PROXIES], argv[++i], (proxy) => proxy);
    else if (name === 'scenarios') options.scenarios = pick(ECHO_SCENARIOS, argv[++i], (scenario) => scenario.name.split(',')[0]);
    else if (name === 'quick') Object.assign(options, { runs: 1, seconds: 2 });
    else if (name in options) options[name] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

/** The entries of `all` named in the comma-separated `list` (always with 'direct' and 'haproxy' for proxies). */
function pick(all, list, nameOf) {
  const wanted = new Set(String(list).split(','));
  if (all.includes('haproxy')) wanted.add('direct').add('haproxy');
  const chosen = all.filter((entry) => wanted.has(nameOf(entry)));
  for (const name of wanted) {
    if (!all.some((entry) => nameOf(entry) === name)) throw new Error(`unknown name '${name}'; expected one of: ${all.map(nameOf).join(', ')}`);
  }
  return chosen;
}

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

async function startProxy(name, upstreamPort, options) {
  if (name === 'haproxy') return startHaproxy(upstreamPort, options);
  if (name === 'epoll-reactor (address)') return startScriptProxy('reactor-address', upstreamPort, 'auto', options);
  if (name === 'epoll-reactor (first bytes read)') {
    return startScriptProxy('reactor-address-preamble', upstreamPort, 'auto', options);
  }
  if (name === 'epoll-reactor (first bytes read; baseline)') {
    if (!process.env.BENCH_BASELINE) throw new Error(`${name} needs BENCH_BASELINE=<a built checkout of epoll-reactor>`);
    return startScriptProxy('reactor-address-preamble', upstreamPort, 'auto', options, undefined,
      { EPOLL_REACTOR_DIST: path.join(process.env.BENCH_BASELINE, 'dist') });
  }
  const mode = name === 'epoll-reactor (copy)' ? 'copy' : 'splice';
  return startScriptProxy(name === 'node:net' ? 'net' : 'reactor', upstreamPort, mode, options);
}

const ECHO_SCENARIOS = [
  { name: '64 B ping-pong, 100 conns', args: ['--connections', '100', '--size', '64', '--depth', '1'] },
  { name: '64 B ping-pong, 1000 conns', args: ['--connections', '1000', '--size', '64', '--depth', '1'] },
  { name: '64 B ×16 in flight, 100 conns', args: ['--connections', '100', '--size', '64', '--depth', '16'] },
  { name: 'churn, a connection per 64 B message, 50 at once', args: ['--churn', '--connections', '50', '--size', '64'] },
];
// epoll-reactor runs three times: forward() between two sockets splicing
// through pipes, and copying through a buffer, so the table shows which suits
// which traffic; and forward() to an address (the upstream connected on the
// reactor thread, copying, the server paused on connect), as the proxy CLI does.
// 'first bytes read': a proxy that reads its client's first chunk, puts it
// back and forwards to an address (routing on a preamble); with
// BENCH_BASELINE, the same code on another build ('...; baseline'), picked
// by name with --proxies (names hold no commas: the list is split on them).
const PROXIES = ['direct', 'node:net', 'haproxy', 'epoll-reactor (splice)', 'epoll-reactor (copy)', 'epoll-reactor (address)',
  'epoll-reactor (first bytes read)'];
const OPTIONAL_PROXIES = ['epoll-reactor (first bytes read; baseline)'];

async function echoRun(bins, scenario, proxyName, upstreamPort, options) {
  const proxy = proxyName === 'direct' ? null : await startProxy(proxyName, upstreamPort, options);
  try {
    const port = proxy ? proxy.port : upstreamPort;
    let cpuStart = null;
    let cpuEnd = null;
    const { result } = await runLoadgen({
      binary: bins.loadgen, prefix: on(0, options),
      args: ['--host', '127.0.0.1', '--port', String(port), '--duration', String(options.seconds), '--warmup', '1',
        '--connect-timeout', '10', ...scenario.args],
      plannedSeconds: options.seconds + 11,
      onMeasureStart: () => { if (proxy) cpuStart = readCpuSeconds(proxy.child.pid); },
      onMeasureEnd: () => { if (proxy) cpuEnd = readCpuSeconds(proxy.child.pid); },
    });
    if (!result) throw new Error(`${proxyName}: loadgen gave no result`);
    return {
      msgsPerS: result.msgs_per_s, p99: result.p99_us, mismatches: result.mismatches + result.errors,
      cpuUsPerMsg: proxy && cpuStart !== null ? ((cpuEnd - cpuStart) * 1e6) / result.messages : null,
    };
  } finally {
    if (proxy) await stopChild(proxy.child);
  }
}

async function bulkRun(proxyName, iperfPort, options) {
  const proxy = proxyName === 'direct' ? null : await startProxy(proxyName, iperfPort, options);
  try {
    const port = proxy ? proxy.port : iperfPort;
    const prefix = on(0, options);
    const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(options.seconds), '-J'];
    const output = execFileSync(prefix[0] ?? 'iperf3', [...prefix.slice(1), ...(prefix.length ? ['iperf3'] : []), ...args],
      { encoding: 'utf8', timeout: (options.seconds + 20) * 1000 });
    const report = JSON.parse(output);
    if (report.error) throw new Error(`iperf3 through ${proxyName}: ${report.error}`);
    return { mbPerS: report.end.sum_received.bits_per_second / 8 / 1e6 };
  } finally {
    if (proxy) await stopChild(proxy.child);
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  const options = parseArgs(process.argv.slice(2));
  for (const tool of ['haproxy', 'iperf3']) if (!has(tool)) throw new Error(`${tool} is not installed (apt-get install ${tool})`);
  if (options.pin && !has('taskset')) options.pin = false;
  const bins = buildAll();
  const echo = await startLine(...(options.pin ? ['taskset', ['-c', '0', bins.cEchoServer, '0']] : [bins.cEchoServer, ['0']]), 'C echo server');
  const iperfPort = await freePort();
  const iperfPrefix = on(0, options);
  const iperf = spawnTracked(iperfPrefix[0] ?? 'iperf3', [...iperfPrefix.slice(1), ...(iperfPrefix.length ? ['iperf3'] : []), '-s', '-p', String(iperfPort)], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const echoResults = {};
  const bulkResults = {};
  try {
    for (let run = 0; run < options.runs; run++) {
      for (const scenario of options.scenarios) {
        for (const proxy of options.proxies) {
          ((echoResults[scenario.name] ??= {})[proxy] ??= []).push(await echoRun(bins, scenario, proxy, echo.port, options));
          process.stderr.write('.');
        }
      }
      for (const proxy of options.bulk ? options.proxies : []) {
        (bulkResults[proxy] ??= []).push(await bulkRun(proxy, iperfPort, options));
        process.stderr.write('.');
      }
    }
  } finally {
    await stopChild(echo.child);
    await stopChild(iperf);
  }
  process.stderr.write('\n');
  console.log(`${options.runs} runs of ${options.seconds} s; ${options.pin ? 'load generator and upstream on CPU 0, proxy on CPU 1' : 'unpinned'}; medians\n`);
  console.log('| scenario | proxy | msgs/s | of direct | p99 µs | proxy CPU µs/msg | vs HAProxy | errors |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const scenario of options.scenarios) {
    const rows = echoResults[scenario.name];
    const direct = median(rows.direct.map((r) => r.msgsPerS));
    const haproxy = median(rows.haproxy.map((r) => r.msgsPerS));
    for (const proxy of options.proxies) {
      const runs = rows[proxy];
      const rate = median(runs.map((r) => r.msgsPerS));
      const cpu = proxy === 'direct' ? '' : median(runs.map((r) => r.cpuUsPerMsg)).toFixed(2);
      console.log(`| ${scenario.name} | ${proxy} | ${Math.round(rate)} | ${(rate / direct).toFixed(2)} | ` +
        `${Math.round(median(runs.map((r) => r.p99)))} | ${cpu} | ${proxy === 'direct' ? '' : (rate / haproxy).toFixed(2) + '×'} | ` +
        `${runs.reduce((sum, r) => sum + r.mismatches, 0)} |`);
    }
  }
  if (!options.bulk) return;
  console.log('\n| bulk (iperf3, 1 stream) | MB/s | vs HAProxy |');
  console.log('|---|---:|---:|');
  const haproxyBulk = median(bulkResults.haproxy.map((r) => r.mbPerS));
  for (const proxy of options.proxies) {
    const rate = median(bulkResults[proxy].map((r) => r.mbPerS));
    console.log(`| ${proxy} | ${Math.round(rate)} | ${proxy === 'direct' ? '' : (rate / haproxyBulk).toFixed(2) + '×'} |`);
  }
}

main().catch((error) => {
  console.error(error.stack || error.message);
  process.exitCode = 1;
});
