#!/usr/bin/env node
'use strict';
// A bounded soak: one epoll-reactor server process (scripts/soak-server.js)
// under mixed traffic for a few minutes — ping-pong echo, streaming and
// connection churn from the C load generator (bench/loadgen.c, which verifies
// every echoed byte), and from this process slow readers, resets, clients left
// idle until the server's timeout closes them, and echo through a forward()
// pair. Once a second it samples the server's open fds, threads and RSS from
// /proc. After a warm-up it compares the first and last windows and fails
// (exit 1) on growth beyond the tolerances below, or on any verification error.
//
//   node scripts/soak.js                  # 3 minutes
//   node scripts/soak.js --minutes 10 --report docs/soak.md --chart docs/soak.svg
//
// Needs the built package (npx tsc -p tsconfig.build.json) and a C compiler.

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const { buildAll } = require('../bench/build-loadgen');
const { renderLineChart } = require('../bench/lib/chart');
const { spawnTracked, stopChild, waitForLine, killAllNow } = require('../bench/lib/children');
const { runLoadgen } = require('../bench/lib/loadgen');

// Growth allowed between the first and the last window after warm-up. A leak
// of one fd per connection or a few hundred bytes per connection blows through
// these within minutes; the noise of live connection counts does not.
const TOLERANCE = {
  fds: 24, // connections in flight differ from second to second
  threads: 0, // the reactor's thread count is fixed: any new thread is a leak
  rssBytes: 24 * 1024 * 1024, // allocator and V8 heap settle; 24 MiB over minutes is not noise
};
const WINDOW_SECONDS = 30;

function parseArguments(argv) {
  const options = { minutes: 3, report: null, chart: null };
  for (let i = 0; i < argv.length; i++) {
    const take = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    if (argv[i] === '--minutes') options.minutes = Number(take());
    else if (argv[i] === '--report') options.report = take();
    else if (argv[i] === '--chart') options.chart = take();
    else throw new Error(`unknown argument ${argv[i]} (use --minutes N, --report FILE.md, --chart FILE.svg)`);
  }
  if (!(options.minutes > 0 && options.minutes <= 24 * 60)) throw new Error('--minutes must be in (0, 1440]');
  return options;
}

function sample(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)[1]);
  return { fds: fs.readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads'), rssBytes: field('VmRSS') * 1024 };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// ---- Node clients ----------------------------------------------------------
// Each kind runs a fixed number of slots, each reconnecting when its
// connection ends, until `stopAt`. Failures are counted, never thrown.
function startNodeClients(ports, stopAt) {
  const stats = { slowReaderBytes: 0, resets: 0, idleClosedByServer: 0, forwardRounds: 0, forwardMismatches: 0, unexpectedErrors: 0 };
  const running = new Set();
  const slot = (run) => {
    const loop = () => {
      if (Date.now() >= stopAt) return;
      const socket = run(() => setTimeout(loop, 5));
      running.add(socket);
      socket.once('close', () => running.delete(socket));
    };
    loop();
  };

  // Slow readers: read a little every 50 ms for about 2 s, then hang up.
  for (let i = 0; i < 8; i++) {
    slot((again) => {
      const socket = net.connect(ports.firehose, '127.0.0.1');
      socket.pause();
      const reader = setInterval(() => {
        let chunk;
        let budget = 16 * 1024;
        while (budget > 0 && (chunk = socket.read()) !== null) {
          stats.slowReaderBytes += chunk.length;
          budget -= chunk.length;
        }
      }, 50);
      const hangUp = setTimeout(() => socket.destroy(), 1500 + Math.random() * 1000);
      socket.on('error', () => stats.unexpectedErrors++);
      socket.once('close', () => {
        clearInterval(reader);
        clearTimeout(hangUp);
        again();
      });
      return socket;
    });
  }

  // Resets: send 64 KiB to the echo port and reset before reading the echo.
  for (let i = 0; i < 4; i++) {
    slot((again) => {
      const socket = net.connect(ports.echo, '127.0.0.1', () => {
        socket.write(Buffer.alloc(64 * 1024, 'r'));
        setTimeout(() => {
          stats.resets++;
          socket.resetAndDestroy();
        }, Math.random() * 20);
      });
      socket.on('error', () => stats.unexpectedErrors++);
      socket.once('close', again);
      return socket;
    });
  }

  // Idle: connect, say one byte, go quiet; the server's idle timeout closes us.
  for (let i = 0; i < 16; i++) {
    slot((again) => {
      const socket = net.connect(ports.idle, '127.0.0.1', () => socket.write('x'));
      socket.resume();
      socket.once('end', () => stats.idleClosedByServer++);
      socket.on('error', () => stats.unexpectedErrors++);
      socket.once('close', again);
      return socket;
    });
  }

  // Through a forward() pair: send 1..64 KiB, expect the same bytes back, 20 rounds, hang up.
  for (let i = 0; i < 4; i++) {
    slot((again) => {
      const socket = net.connect(ports.proxy, '127.0.0.1');
      let rounds = 0;
      let expected = null;
      let received = [];
      let receivedLength = 0;
      const round = () => {
        if (rounds++ === 20) {
          socket.end();
          return;
        }
        expected = Buffer.alloc(1024 + Math.floor(Math.random() * 63 * 1024), rounds & 0xff);
        received = [];
        receivedLength = 0;
        socket.write(expected);
      };
      socket.on('connect', round);
      socket.on('data', (chunk) => {
        received.push(chunk);
        receivedLength += chunk.length;
        if (receivedLength < expected.length) return;
        if (!Buffer.concat(received).equals(expected)) stats.forwardMismatches++;
        stats.forwardRounds++;
        round();
      });
      socket.on('error', () => stats.unexpectedErrors++);
      socket.once('close', again);
      return socket;
    });
  }

  const stop = () => {
    for (const socket of running) socket.destroy();
  };
  return { stats, stop };
}

// ---- verdict -----------------------------------------------------------------
function judge(samples, warmupSeconds) {
  const settled = samples.filter((s) => s.t >= warmupSeconds);
  // Short runs (--minutes 1) compare thirds instead of 30 s windows.
  const window = Math.max(5, Math.min(WINDOW_SECONDS, Math.floor(settled.length / 3)));
  const first = settled.slice(0, window);
  const last = settled.slice(-window);
  const rows = [];
  let pass = settled.length >= 15;
  for (const metric of ['fds', 'threads', 'rssBytes']) {
    const firstMedian = median(first.map((s) => s[metric]));
    const lastMedian = median(last.map((s) => s[metric]));
    const growth = lastMedian - firstMedian;
    const ok = growth <= TOLERANCE[metric];
    if (!ok) pass = false;
    rows.push({
      metric,
      min: Math.min(...settled.map((s) => s[metric])),
      max: Math.max(...settled.map((s) => s[metric])),
      firstMedian,
      lastMedian,
      growth,
      tolerance: TOLERANCE[metric],
      ok,
    });
  }
  // Least-squares slope of RSS after warm-up, for the report: a leak shows as a
  // steady climb, allocator and heap settling as a curve that flattens.
  const n = settled.length;
  const meanT = settled.reduce((a, s) => a + s.t, 0) / n;
  const meanR = settled.reduce((a, s) => a + s.rssBytes, 0) / n;
  const covariance = settled.reduce((a, s) => a + (s.t - meanT) * (s.rssBytes - meanR), 0);
  const variance = settled.reduce((a, s) => a + (s.t - meanT) ** 2, 0);
  const rssSlopePerMinute = variance > 0 ? (covariance / variance) * 60 : 0;
  return { pass, rows, window, settledSeconds: settled.length, rssSlopePerMinute };
}

function formatValue(metric, value) {
  return metric === 'rssBytes' ? `${(value / 1024 / 1024).toFixed(1)} MiB` : String(value);
}

function perMinute(samples) {
  const minutes = new Map();
  for (const s of samples) {
    const minute = Math.floor(s.t / 60);
    if (!minutes.has(minute)) minutes.set(minute, []);
    minutes.get(minute).push(s);
  }
  return [...minutes].map(([minute, list]) =>
    `| ${minute}–${minute + 1} | ${median(list.map((s) => s.fds))} | ${Math.max(...list.map((s) => s.threads))} | ${(median(list.map((s) => s.rssBytes)) / 1024 / 1024).toFixed(1)} MiB |`);
}

function memoryRows(memory, warmupSeconds) {
  const settled = memory.filter((m) => m.t >= warmupSeconds);
  if (settled.length < 2) return [];
  const first = settled[0];
  const last = settled[settled.length - 1];
  const mib = (v) => `${(v / 1024 / 1024).toFixed(1)} MiB`;
  return [
    `Where the server's memory was (process.memoryUsage(), first and last report after warm-up, at ${first.t} s and ${last.t} s):`,
    '',
    '| | rss | V8 heap total | V8 heap used | external | array buffers |',
    '|---|---|---|---|---|---|',
    `| first | ${mib(first.rss)} | ${mib(first.heapTotal)} | ${mib(first.heapUsed)} | ${mib(first.external)} | ${mib(first.arrayBuffers)} |`,
    `| last | ${mib(last.rss)} | ${mib(last.heapTotal)} | ${mib(last.heapUsed)} | ${mib(last.external)} | ${mib(last.arrayBuffers)} |`,
    '',
  ];
}

function markdownReport({ command, minutes, warmupSeconds, verdict, loadgen, clients, server, failures, startedAt, samples, memory }) {
  const lines = [
    '# Soak',
    '',
    `\`${command}\` — ${minutes} min, started ${startedAt}, on ${require('node:os').cpus().length} cores, Node ${process.version}.`,
    '',
    `One epoll-reactor server process (scripts/soak-server.js) under mixed traffic: ping-pong echo, streaming`,
    `and connection churn from bench/loadgen.c (which verifies every echoed byte); slow readers of a firehose`,
    `port, clients that reset mid-echo, clients left idle until the server's 300 ms timeout closes them, and`,
    `echo through a forward() pair, from a Node client process. The server's open fds, threads and RSS are read`,
    `from /proc once a second. After a ${warmupSeconds} s warm-up, the median of the first ${verdict.window} s is compared with the`,
    `median of the last ${verdict.window} s.`,
    '',
    `**Verdict: ${verdict.pass && failures.length === 0 ? 'PASS' : 'FAIL'}**${failures.length ? ` — ${failures.join('; ')}` : ''}`,
    '',
    '| metric | min | max | first window (median) | last window (median) | growth | tolerance | |',
    '|---|---|---|---|---|---|---|---|',
    ...verdict.rows.map((r) =>
      `| ${r.metric === 'rssBytes' ? 'RSS' : r.metric} | ${formatValue(r.metric, r.min)} | ${formatValue(r.metric, r.max)} | ${formatValue(r.metric, r.firstMedian)} | ${formatValue(r.metric, r.lastMedian)} | ${formatValue(r.metric, r.growth)} | ${formatValue(r.metric, r.tolerance)} | ${r.ok ? 'ok' : 'GREW'} |`),
    '',
    `RSS trend after warm-up (least squares): ${(verdict.rssSlopePerMinute / 1024 / 1024).toFixed(2)} MiB per minute.`,
    '',
    '![fds, threads and RSS of the server over the soak](soak.svg)',
    '',
    ...memoryRows(memory, warmupSeconds),
    '| minute | fds (median) | threads (max) | RSS (median) |',
    '|---|---|---|---|',
    ...perMinute(samples),
    '',
    '## Traffic',
    '',
    '| source | what | result |',
    '|---|---|---|',
    ...loadgen.map((l) => `| loadgen ${l.name} | ${l.args.join(' ')} | ${l.summary} |`),
    `| Node slow readers | 8 slots, 16 KiB per 50 ms, hang up after ~2 s | ${(clients.slowReaderBytes / 1024 / 1024).toFixed(0)} MiB read |`,
    `| Node resets | 4 slots, 64 KiB then RST | ${clients.resets} resets |`,
    `| Node idle | 16 slots, closed by the server's idle timeout | ${clients.idleClosedByServer} closed by the server |`,
    `| Node via forward() | 4 slots, 20 echo rounds of 1–64 KiB each | ${clients.forwardRounds} rounds, ${clients.forwardMismatches} mismatches |`,
    '',
    `Server counters at the end (firehoseBytes counts bytes handed to write(), including those still queued when a`,
    `slow reader hung up): \`${JSON.stringify(server)}\``,
    '',
  ];
  return lines.join('\n');
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const seconds = Math.round(options.minutes * 60);
  const warmupSeconds = Math.min(60, Math.max(20, Math.round(seconds * 0.15)));
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const { loadgen } = buildAll();

  const server = spawnTracked(process.execPath, [path.join(__dirname, 'soak-server.js')]);
  server.stderr.setEncoding('utf8');
  let serverStderr = '';
  server.stderr.on('data', (chunk) => (serverStderr = (serverStderr + chunk).slice(-4000)));
  server.stdout.setEncoding('utf8');
  const [line] = await waitForLine(server, /^\{.*"ports".*\}$/, 15000, 'the soak server');
  const { ports } = JSON.parse(line);
  let started = Date.now();
  let serverCounters = null;
  const memory = []; // process.memoryUsage() of the server every 5 s
  let partial = '';
  server.stdout.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (line.startsWith('{"counters"')) serverCounters = JSON.parse(line).counters;
      else if (line.startsWith('{"memory"')) memory.push({ t: Math.round((Date.now() - started) / 1000), ...JSON.parse(line).memory });
    }
  });

  const samples = [];
  started = Date.now();
  const sampler = setInterval(() => {
    try {
      samples.push({ t: Math.round((Date.now() - started) / 1000), ...sample(server.pid) });
    } catch {
      // the server is gone: the run fails below
    }
  }, 1000);

  const loadgens = [
    { name: 'ping-pong', args: ['--connections', '32', '--size', '512', '--depth', '1'] },
    { name: 'stream', args: ['--connections', '4', '--size', '16384', '--stream', '--window', '262144'] },
    { name: 'churn', args: ['--connections', '8', '--size', '128', '--churn'] },
  ];
  const loadgenRuns = loadgens.map((l) =>
    runLoadgen({
      binary: loadgen,
      args: ['--port', String(ports.echo), ...l.args, '--duration', String(seconds), '--warmup', '0', '--verify'],
      plannedSeconds: seconds + 10,
    }));
  const clients = startNodeClients(ports, started + seconds * 1000);
  const results = await Promise.all(loadgenRuns);
  clearInterval(sampler);
  // The last seconds are the loadgens closing their connections, not steady state.
  while (samples.length > 0 && samples[samples.length - 1].t > seconds - 2) samples.pop();
  clients.stop();
  await new Promise((resolve) => setTimeout(resolve, 1500));

  const failures = [];
  if (server.exitCode !== null || server.signalCode !== null) failures.push(`server exited early: ${serverStderr}`);
  const loadgenRows = loadgens.map((l, i) => {
    const { result, exitCode, stderr } = results[i];
    if (exitCode !== 0) failures.push(`loadgen ${l.name} exited ${exitCode}: ${stderr.trim().slice(0, 300)}`);
    const summary = result
      ? Object.entries(result)
          .filter(([k]) => /msgs|mb_per_s|errors|mismatch|completed|bytes/.test(k))
          .map(([k, v]) => `${k} ${typeof v === 'number' ? Math.round(v * 100) / 100 : v}`)
          .join(', ')
      : 'no result';
    return { ...l, summary };
  });
  if (clients.stats.forwardMismatches > 0) failures.push(`${clients.stats.forwardMismatches} forward echo mismatches`);
  if (clients.stats.forwardRounds === 0 || clients.stats.resets === 0 || clients.stats.idleClosedByServer === 0) {
    failures.push('a kind of Node client traffic never ran');
  }
  await stopChild(server);
  await new Promise((resolve) => setTimeout(resolve, 200));

  const verdict = judge(samples, warmupSeconds);
  const command = `node scripts/soak.js ${process.argv.slice(2).join(' ')}`.trim();
  for (const r of verdict.rows) {
    console.log(`${r.metric.padEnd(8)} first ${formatValue(r.metric, r.firstMedian)}  last ${formatValue(r.metric, r.lastMedian)}  growth ${formatValue(r.metric, r.growth)} (tolerance ${formatValue(r.metric, r.tolerance)}) ${r.ok ? 'ok' : 'GREW'}`);
  }
  console.log(`RSS trend after warm-up ${(verdict.rssSlopePerMinute / 1024 / 1024).toFixed(2)} MiB/min`);
  console.log(`clients ${JSON.stringify(clients.stats)}`);
  for (const l of loadgenRows) console.log(`loadgen ${l.name}: ${l.summary}`);
  console.log(`server ${JSON.stringify(serverCounters)}`);

  if (options.report) {
    fs.writeFileSync(options.report, markdownReport({
      command, minutes: options.minutes, warmupSeconds, verdict, loadgen: loadgenRows, clients: clients.stats,
      server: serverCounters, failures, startedAt, samples, memory,
    }));
    console.log(`wrote ${options.report}`);
  }
  if (options.chart) {
    const data = [];
    for (const s of samples) {
      data.push({ second: s.t, series: 'open fds', value: s.fds });
      data.push({ second: s.t, series: 'threads', value: s.threads });
      data.push({ second: s.t, series: 'RSS (MiB)', value: Math.round(s.rssBytes / 1024 / 102.4) / 10 });
    }
    const svg = await renderLineChart({
      title: `epoll-reactor soak: server fds, threads, RSS (warm-up ends at ${warmupSeconds} s)`,
      xField: 'second', xTitle: 'seconds', yField: 'value', yTitle: 'count / MiB', seriesField: 'series', data,
    });
    fs.writeFileSync(options.chart, svg);
    console.log(`wrote ${options.chart}`);
  }
  const pass = verdict.pass && failures.length === 0;
  console.log(pass ? 'soak: PASS' : `soak: FAIL ${failures.join('; ')}`);
  process.exitCode = pass ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  killAllNow();
  process.exit(1);
});
