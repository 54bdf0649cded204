'use strict';
// The scaling benchmark (`npm run bench:scale`): does a second worker help?
// Echo: node:net in cluster mode (its usual way to use more cores) against
// epoll-reactor's serveOnWorkers (worker threads, and cluster processes),
// with 1 and 2 workers. Proxy: `epoll-reactor proxy --threads 1|2` against a
// node:net pipe proxy in cluster mode with 1 and 2 workers, in front of the
// C echo server. The same C load generator drives everything; runs are
// interleaved so drift on the machine hits every configuration alike.
//
// usage: node bench/scale.js [--runs 3] [--seconds 3] [--warmup 1] [--quick] [--only echo|proxy]
//
// Nothing is pinned: two workers need both cores, so on a 2-core machine the
// load generator, the workers (and the upstream, for the proxy) share them.
// The table reports what each took, so the oversubscription is visible.
// Results: a markdown table on stdout, raw runs in bench/results/scale-<time>.json.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { buildAll } = require('./build-loadgen');
const { spawnTracked, stopChild, waitForLine } = require('./lib/children');
const { runLoadgen } = require('./lib/loadgen');
const { readTreeCpuSeconds, readCoreTicks, coreBusyShare } = require('./lib/proc-stats');
const { median } = require('./lib/report');

const SERVERS_DIR = path.join(__dirname, 'servers');
const BIN = path.join(__dirname, '..', 'bin', 'epoll-reactor.js');
const READY_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_S = 5;
const WORKER_COUNTS = [1, 2];

const ECHO_SCENARIOS = [
  { name: 'echo 64 B ping-pong, 100 conns', args: ['--size', '64', '--depth', '1', '--connections', '100'] },
  { name: 'echo 64 B ×16 in flight, 100 conns', args: ['--size', '64', '--depth', '16', '--connections', '100'] },
];
const PROXY_SCENARIOS = [
  { name: 'proxy 64 B ping-pong, 100 conns', args: ['--size', '64', '--depth', '1', '--connections', '100'] },
];

// Each returns [command, args, pattern of its ready line on stdout].
const LISTENING = /^listening (\d+)$/;
const ECHO_SERVERS = {
  'node:net cluster': (workers) =>
    [process.execPath, [path.join(SERVERS_DIR, 'cluster.js'), String(workers), path.join(SERVERS_DIR, 'echo-server.js'), 'net', '0'], LISTENING],
  'epoll-reactor threads': (workers) =>
    [process.execPath, [path.join(SERVERS_DIR, 'pool-echo-server.js'), 'threads', String(workers)], LISTENING],
  'epoll-reactor cluster': (workers) =>
    [process.execPath, [path.join(SERVERS_DIR, 'pool-echo-server.js'), 'cluster', String(workers)], LISTENING],
};
const PROXIES = {
  'node:net cluster': (workers, upstreamPort) =>
    [process.execPath, [path.join(SERVERS_DIR, 'cluster.js'), String(workers), path.join(SERVERS_DIR, 'proxy-server.js'), 'net', String(upstreamPort)], LISTENING],
  // The proxy prints its status as JSON on stderr; exec keeps the pid node's.
  'epoll-reactor proxy --threads': (workers, upstreamPort) =>
    ['sh', ['-c', 'exec "$0" "$@" 2>&1', process.execPath, BIN, 'proxy', '--listen', '127.0.0.1:0',
      '--upstream', `127.0.0.1:${upstreamPort}`, '--threads', String(workers), '--shutdown-grace', '0'],
    /"listening":"[^"]*:(\d+)"/],
};

function parseArgs(argv) {
  const options = { runs: 3, seconds: 3, warmup: 1, only: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    const positive = (text) => {
      const n = Number(text);
      if (!(n > 0)) throw new Error(`${arg} expects a positive number, got '${text}'`);
      return n;
    };
    switch (arg) {
      case '--runs': options.runs = Math.round(positive(value())); break;
      case '--seconds': options.seconds = positive(value()); break;
      case '--warmup': options.warmup = positive(value()); break;
      case '--quick': Object.assign(options, { runs: 1, seconds: 2, warmup: 0.5 }); break;
      case '--only': options.only = value(); break;
      default: throw new Error(`unknown argument '${arg}'`);
    }
  }
  if (options.only !== null && !['echo', 'proxy'].includes(options.only)) throw new Error("--only expects 'echo' or 'proxy'");
  return options;
}

/** Busy share of the whole machine (every core) between two samples. */
function sampleCores() {
  return Array.from({ length: os.availableParallelism() }, (_, cpu) => readCoreTicks(cpu));
}
function machineBusy(before, after) {
  const shares = before.map((sample, cpu) => coreBusyShare(sample, after[cpu])).filter((share) => share !== null);
  return shares.length ? shares.reduce((a, b) => a + b, 0) / shares.length : null;
}

async function runOnce(scenario, [command, args, ready], options, bins) {
  const record = { scenario: scenario.name };
  const server = spawnTracked(command, args);
  try {
    const [, port] = await waitForLine(server, ready, READY_TIMEOUT_MS, `${command} ${args.join(' ')}`);
    let start = null;
    let end = null;
    const sample = () => ({ serverCpu: readTreeCpuSeconds(server.pid), cores: sampleCores() });
    const { result, exitCode, stderr } = await runLoadgen({
      binary: bins.loadgen,
      args: ['--host', '127.0.0.1', '--port', String(port), '--duration', String(options.seconds),
        '--warmup', String(options.warmup), '--connect-timeout', String(CONNECT_TIMEOUT_S), ...scenario.args],
      plannedSeconds: CONNECT_TIMEOUT_S + options.warmup + options.seconds,
      onMeasureStart: () => { start = sample(); },
      onMeasureEnd: () => { end = sample(); },
    });
    if (!result) throw new Error(`loadgen failed (exit ${exitCode}): ${stderr.trim()}`);
    record.rate = result.msgs_per_s;
    record.p99Us = result.p99_us;
    record.errors = result.errors + result.connect_failures + result.mismatches;
    record.loadgenCpu = result.client_cpu_s / result.seconds;
    if (start && end && start.serverCpu !== null && end.serverCpu !== null) {
      record.serverCpu = (end.serverCpu - start.serverCpu) / result.seconds;
      record.serverCpuUsPerMsg = ((end.serverCpu - start.serverCpu) * 1e6) / result.messages;
      record.machineBusy = machineBusy(start.cores, end.cores);
    }
    if (server.exitCode !== null || server.signalCode !== null) record.failure = 'server died during the run';
  } catch (error) {
    record.failure = error.message.split('\n')[0];
  } finally {
    await stopChild(server);
  }
  return record;
}

function summarize(runs) {
  const ok = runs.filter((run) => run.rate !== undefined);
  const rates = ok.map((run) => run.rate);
  return {
    runs: runs.length,
    failures: runs.filter((run) => run.failure).map((run) => run.failure),
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    p99Us: median(ok.map((run) => run.p99Us)),
    serverCpu: median(ok.map((run) => run.serverCpu)),
    serverCpuUsPerMsg: median(ok.map((run) => run.serverCpuUsPerMsg)),
    loadgenCpu: median(ok.map((run) => run.loadgenCpu)),
    machineBusy: median(ok.map((run) => run.machineBusy ?? NaN)),
    errors: ok.reduce((sum, run) => sum + run.errors, 0),
  };
}

const k = (rate) => (Number.isFinite(rate) ? `${(rate / 1000).toFixed(1)}k` : '–');
const pct = (share) => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : '–');
const fixed = (value, digits) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

function table(sections) {
  const lines = [
    '| workload | server | workers | msgs/s (median) | min–max | vs 1 worker | p99 µs | server CPU | server µs/msg | loadgen CPU | machine busy | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { scenario, server, byWorkers } of sections) {
    const one = byWorkers[1]?.rate;
    for (const workers of WORKER_COUNTS) {
      const s = byWorkers[workers];
      if (!Number.isFinite(s.rate)) {
        lines.push(`| ${scenario} | ${server} | ${workers} | failed: ${(s.failures[0] ?? '').replace(/\|/g, '/')} |${' |'.repeat(8)}`);
        continue;
      }
      lines.push(`| ${scenario} | ${server} | ${workers} | ${k(s.rate)} | ${k(s.rateMin)}–${k(s.rateMax)} | ` +
        `${workers === 1 ? '' : `${fixed(s.rate / one, 2)}×`} | ${fixed(s.p99Us, 0)} | ${pct(s.serverCpu)} | ${fixed(s.serverCpuUsPerMsg, 2)} | ` +
        `${pct(s.loadgenCpu)} | ${pct(s.machineBusy)} | ${s.errors} |`);
    }
  }
  lines.push('');
  lines.push('server CPU: CPU time of the server process and its children (cluster workers) over the measured window, ' +
    'as a share of one core (200% = both cores of this machine). loadgen CPU: the load generator\'s own, same unit. ' +
    'machine busy: all cores together, 100% = every core busy; it includes the upstream C echo server in the proxy rows.');
  return lines.join('\n');
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const bins = buildAll();
  const groups = [];
  if (options.only !== 'proxy') {
    for (const scenario of ECHO_SCENARIOS) {
      for (const server of Object.keys(ECHO_SERVERS)) groups.push({ scenario, server, launch: (w) => ECHO_SERVERS[server](w) });
    }
  }
  let upstream = null;
  if (options.only !== 'echo') {
    upstream = spawnTracked(bins.cEchoServer, ['0']);
    const [, upstreamPort] = await waitForLine(upstream, LISTENING, READY_TIMEOUT_MS, 'C echo server');
    for (const scenario of PROXY_SCENARIOS) {
      for (const server of Object.keys(PROXIES)) {
        groups.push({ scenario, server, launch: (w) => PROXIES[server](w, upstreamPort) });
      }
    }
  }
  process.stderr.write(`scale bench: ${options.runs} run(s) × ${options.seconds} s (+${options.warmup} s warmup), ` +
    `${os.availableParallelism()} CPUs, unpinned\n`);

  const runs = [];
  try {
    for (let rep = 0; rep < options.runs; rep++) {
      for (const group of groups) {
        for (const workers of WORKER_COUNTS) {
          const record = { rep, server: group.server, workers, ...(await runOnce(group.scenario, group.launch(workers), options, bins)) };
          runs.push(record);
          process.stderr.write(`  ${record.scenario} | ${group.server} ×${workers} run ${rep + 1}: ` +
            (record.failure ? `failed: ${record.failure}` : `${k(record.rate)} msg/s, server ${pct(record.serverCpu)}, loadgen ${pct(record.loadgenCpu)}`) + '\n');
        }
      }
    }
  } finally {
    if (upstream) await stopChild(upstream);
  }

  const sections = groups.map((group) => ({
    scenario: group.scenario.name,
    server: group.server,
    byWorkers: Object.fromEntries(WORKER_COUNTS.map((workers) => [workers,
      summarize(runs.filter((run) => run.scenario === group.scenario.name && run.server === group.server && run.workers === workers))])),
  }));
  const cpus = os.cpus();
  const machine = {
    date: new Date().toISOString(), node: process.version, kernel: `${os.type()} ${os.release()}`,
    cpuModel: cpus[0]?.model ?? 'unknown', cpuCount: os.availableParallelism(), loadAverage: os.loadavg(), options,
  };
  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const resultsFile = path.join(resultsDir, `scale-${machine.date.replace(/:/g, '-').replace(/\..*$/, '')}.json`);
  fs.writeFileSync(resultsFile, `${JSON.stringify({ machine, sections, runs }, null, 2)}\n`);

  console.log(`## Scaling benchmark — ${machine.date}\n`);
  console.log(`${machine.cpuModel}, ${machine.cpuCount} CPUs, ${machine.kernel}, Node ${machine.node}; unpinned; ` +
    `${options.runs} run(s) × ${options.seconds} s after ${options.warmup} s warmup; medians over runs.\n`);
  console.log(table(sections));
  console.log(`\nraw results: ${path.relative(process.cwd(), resultsFile)}`);
  process.exitCode = runs.some((run) => run.failure || run.errors > 0) ? 1 : 0;
}

main().catch((error) => {
  console.error(error.stack || error.message);
  process.exitCode = 1;
});
