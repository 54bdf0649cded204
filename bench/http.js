'use strict';
// HTTP through epoll-reactor vs node:http's own listener, measured with wrk.
//
// usage: node bench/http.js [--runs 3] [--seconds 5] [--connections 100] [--no-pin] [--server-cpus 1]
//                           [--apps plain,express,https,https-close,https-sni,https-sni-close]
// For each app (plain http.Server, Express, the plain app on an
// https.Server: TLS 1.3, P-256 key made per run; https-close is that server
// with wrk sending `Connection: close`, so every request is a new connection
// and a full handshake: handshakes per second; https-sni is it with an
// SNICallback answering with a context node made; https-sni-close is that
// with `Connection: close`, so that every handshake asks the callback) and each
// server (node, reactor),
// interleaved per run: start the server (pinned to CPU 1), run wrk (pinned to
// CPU 0, 1 thread), record requests/s, latency percentiles, socket errors and
// non-2xx responses, and the server's CPU seconds, split by thread: the JS
// thread, the reactor thread, and the rest (V8's GC and compiler threads).
// Prints a markdown table of medians with min–max. Needs wrk (Debian package
// `wrk`). --server-cpus 1,2 gives the server two cores of its own (on a
// machine with 3 or more), so that its reactor thread need not share one
// with the JS thread; wrk stays on CPU 0.
// BENCH_HTTP_BODY=<bytes> makes the plain app's (and https's) body that long
// instead of the 16-byte hello (bench/servers/http-server.js).
// BENCH_BASELINE=<a built checkout of epoll-reactor> adds the server
// 'reactor-baseline', that checkout's serveHttp, interleaved with the others
// in every run, and the medians of the per-run ratios of reactor to it (two
// versions compared on a noisy host: adjacent runs share its mood).
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { spawnTracked, stopChild, waitForLine } = require('./lib/children');
const { makeTlsFiles } = require('./lib/tls-files');
const { readThreadCpuSeconds } = require('./lib/proc-stats');

function parseArgs(argv) {
  const options = { runs: 3, seconds: 5, connections: 100, pin: true, serverCpus: '1', apps: ['plain', 'express', 'https'] };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'no-pin') options.pin = false;
    else if (name === 'apps') options.apps = argv[++i].split(',');
    else if (name === 'server-cpus') {
      options.serverCpus = argv[++i];
      if (!/^\d+(,\d+)*$/.test(options.serverCpus) || options.serverCpus.split(',').includes('0')) {
        throw new Error('--server-cpus takes a list of CPUs other than 0 (wrk runs on CPU 0), e.g. 1,2');
      }
    }
    else if (name in options) options[name] = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return options;
}

function which(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
}

function pinned(cpu, command, args, pin) {
  return pin ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
}

// wrk prints latency as e.g. "1.23ms" or "850.00us"; return microseconds.
function micros(text) {
  const match = /([\d.]+)(us|ms|s)/.exec(text);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value : match[2] === 'ms' ? value * 1000 : value * 1e6;
}

function parseWrk(output) {
  const requests = Number((/Requests\/sec:\s+([\d.]+)/.exec(output) || [])[1]);
  const total = Number((/(\d+) requests in/.exec(output) || [])[1]);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = Number((/Non-2xx or 3xx responses: (\d+)/.exec(output) || [0, 0])[1]);
  const percentile = (p) => micros((new RegExp(`\\s${p}%\\s+(\\S+)`).exec(output) || [])[1] || '');
  return {
    requestsPerSecond: requests,
    requests: total,
    p50: percentile(50),
    p99: percentile(99),
    errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    non2xx,
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function runOne(impl, app, options) {
  const baseline = impl === 'reactor-baseline';
  const script = path.join(baseline ? options.baseline : path.join(__dirname, '..'), 'bench', 'servers', 'http-server.js');
  // An app named with '-close' is that app's server with `Connection: close` sent.
  const closes = app.endsWith('-close');
  const serverApp = closes ? app.slice(0, -'-close'.length) : app;
  const [command, args] = pinned(options.serverCpus, process.execPath, [script, baseline ? 'reactor' : impl, serverApp, '0'], options.pin);
  const child = spawnTracked(command, args, { env: { ...process.env, BENCH_TLS_KEY: options.tls.key, BENCH_TLS_CERT: options.tls.cert } });
  try {
    const [, port] = await waitForLine(child, /^listening (\d+)/, 10000, `${impl} ${app} server`);
    const pid = child.pid; // taskset execs the server, so the pid is the server's
    const cpuBefore = readThreadCpuSeconds(pid);
    const [wrkCommand, wrkArgs] = pinned(0, 'wrk', ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency',
      ...(closes ? ['-H', 'Connection: close'] : []),
      `${serverApp.startsWith('https') ? 'https' : 'http'}://127.0.0.1:${port}/`], options.pin);
    const output = execFileSync(wrkCommand, wrkArgs, { encoding: 'utf8', timeout: (options.seconds + 20) * 1000 });
    const cpuAfter = readThreadCpuSeconds(pid);
    const result = parseWrk(output);
    const perRequest = (part) => ((cpuAfter[part] - cpuBefore[part]) * 1e6) / Math.max(result.requests, 1);
    result.jsCpuUsPerRequest = perRequest('js');
    result.reactorCpuUsPerRequest = perRequest('reactor');
    result.otherCpuUsPerRequest = perRequest('other');
    result.serverCpuUsPerRequest = result.jsCpuUsPerRequest + result.reactorCpuUsPerRequest + result.otherCpuUsPerRequest;
    return result;
  } finally {
    await stopChild(child);
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!which('wrk')) throw new Error('wrk is not installed (apt-get install wrk)');
  if (options.pin && !which('taskset')) options.pin = false;
  const apps = options.apps;
  options.tls = makeTlsFiles('bench-http-tls-');
  options.baseline = process.env.BENCH_BASELINE;
  const impls = options.baseline ? ['node', 'reactor', 'reactor-baseline'] : ['node', 'reactor'];
  const results = {};
  for (let run = 0; run < options.runs; run++) {
    for (const app of apps) {
      for (const impl of impls) {
        const key = `${app}/${impl}`;
        (results[key] ??= []).push(await runOne(impl, app, options));
        process.stderr.write('.');
      }
    }
  }
  process.stderr.write('\n');
  console.log(`wrk -t1 -c${options.connections} -d${options.seconds}s, ${options.runs} runs, ` +
    `${options.pin ? `wrk on CPU 0, server on CPU ${options.serverCpus}` : 'unpinned'}; medians (min–max); ` +
    'server CPU µs per request, and its JS thread / reactor thread / other threads\n');
  console.log('| app | server | requests/s | min–max | p50 µs | p99 µs | server CPU µs/req | JS / reactor / other | errors | non-2xx | vs node |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  let failed = false;
  for (const app of apps) {
    const base = median(results[`${app}/node`].map((r) => r.requestsPerSecond));
    for (const impl of impls) {
      const runs = results[`${app}/${impl}`];
      const rps = runs.map((r) => r.requestsPerSecond);
      const errors = runs.reduce((sum, r) => sum + r.errors, 0);
      const non2xx = runs.reduce((sum, r) => sum + r.non2xx, 0);
      failed ||= errors > 0 || non2xx > 0;
      console.log(`| ${app} | ${impl} | ${Math.round(median(rps))} | ${Math.round(Math.min(...rps))}–${Math.round(Math.max(...rps))} | ` +
        `${Math.round(median(runs.map((r) => r.p50)))} | ${Math.round(median(runs.map((r) => r.p99)))} | ` +
        `${median(runs.map((r) => r.serverCpuUsPerRequest)).toFixed(1)} | ` +
        `${['js', 'reactor', 'other'].map((part) => median(runs.map((r) => r[`${part}CpuUsPerRequest`])).toFixed(1)).join(' / ')} | ` +
        `${errors} | ${non2xx} | ` +
        `${(median(rps) / base).toFixed(2)}× |`);
    }
  }
  if (options.baseline) {
    console.log(`\nreactor / reactor-baseline (${options.baseline}), medians of the per-run ratios:\n`);
    console.log('| app | requests/s | server CPU µs/req | JS thread µs/req |');
    console.log('|---|---:|---:|---:|');
    for (const app of apps) {
      const ours = results[`${app}/reactor`];
      const theirs = results[`${app}/reactor-baseline`];
      const ratio = (field) => median(ours.map((r, i) => r[field] / theirs[i][field])).toFixed(3);
      console.log(`| ${app} | ${ratio('requestsPerSecond')}× | ${ratio('serverCpuUsPerRequest')}× | ${ratio('jsCpuUsPerRequest')}× |`);
    }
  }
  fs.rmSync(options.tls.directory, { recursive: true, force: true });
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
