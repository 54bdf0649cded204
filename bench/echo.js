'use strict';
// The echo benchmark (`npm run bench`): the same echo workloads against
// node:net, epoll-reactor and a C epoll reference server, interleaved run by
// run so drift on the machine affects every server alike.
//
// usage: node bench/echo.js [--quick] [--servers net,reactor,c] [--runs 3]
//                           [--seconds 4] [--warmup 1] [--pin | --no-pin]
//
// Each run starts a fresh server, waits for "listening <port>", drives it with
// bench/.build/loadgen, samples the server's CPU time around the measured
// window and its peak RSS, then stops it. Results: a markdown table on stdout
// and the raw runs in bench/results/echo-<timestamp>.json.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { buildAll } = require('./build-loadgen');
const { spawnTracked, stopChild, waitForLine } = require('./lib/children');
const { runLoadgen } = require('./lib/loadgen');
const { readCpuSeconds, readPeakRssKiB, clockTicksPerSecond, readCoreTicks, coreBusyShare } = require('./lib/proc-stats');
const { summarize, markdownTable } = require('./lib/report');

const SERVER_READY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_S = 5;
// With two or more cores the loadgen and the server each get their own, so
// neither steals the other's cycles and the CPU figures are per core.
const LOADGEN_CPU = '0';
const SERVER_CPU = '1';

const SCENARIOS = [
  { name: 'pingpong-64B-100c', label: '64 B ping-pong, 100 conns', metric: 'msgs_per_s',
    args: ['--size', '64', '--depth', '1', '--connections', '100'] },
  { name: 'pingpong-64B-1000c', label: '64 B ping-pong, 1000 conns', metric: 'msgs_per_s',
    args: ['--size', '64', '--depth', '1', '--connections', '1000'] },
  { name: 'pipelined-64B-d16-100c', label: '64 B pipelined ×16, 100 conns', metric: 'msgs_per_s',
    args: ['--size', '64', '--depth', '16', '--connections', '100'] },
  { name: 'stream-64KiB-10c', label: '64 KiB stream, 10 conns', metric: 'mb_per_s',
    args: ['--stream', '--size', '65536', '--connections', '10'] },
  { name: 'pingpong-64B-10000c', label: '64 B ping-pong, 10000 conns', metric: 'msgs_per_s',
    args: ['--size', '64', '--depth', '1', '--connections', '10000'] },
  // msgs_per_s here counts whole connect / echo 64 B / close cycles.
  { name: 'churn-64B-50c', label: 'churn: connect, echo, close (50 at once)', metric: 'msgs_per_s',
    args: ['--churn', '--size', '64', '--connections', '50'] },
];

// Bun ships as an npm package with a runnable binary; it is installed into a
// bench-only folder on first use, so it is never a dependency of the package.
function bunBinary() {
  const folder = path.join(__dirname, '.bun');
  const binary = path.join(folder, 'node_modules', 'bun', 'bin', 'bun.exe');
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(folder, { recursive: true });
    execFileSync('npm', ['install', '--prefix', folder, '--no-save', '--no-audit', '--no-fund', 'bun@1'], { stdio: 'inherit' });
  }
  return binary;
}

const SERVERS = {
  net: (bins) => [process.execPath, [path.join(__dirname, 'servers', 'echo-server.js'), 'net', '0']],
  reactor: (bins) => [process.execPath, [path.join(__dirname, 'servers', 'echo-server.js'), 'reactor', '0']],
  c: (bins) => [bins.cEchoServer, ['0']],
  bun: () => [bunBinary(), [path.join(__dirname, 'servers', 'bun-echo.js'), '0']],
};

function parseArgs(argv) {
  const options = { quick: false, servers: ['net', 'reactor', 'c'], runs: 3, seconds: 4, warmup: 1, pin: true };
  const explicit = new Set();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    const positiveNumber = (text) => {
      const n = Number(text);
      if (!(n > 0)) throw new Error(`${arg} expects a positive number, got '${text}'`);
      return n;
    };
    switch (arg) {
      case '--quick': options.quick = true; break;
      case '--servers': options.servers = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--runs': options.runs = Math.round(positiveNumber(value())); explicit.add('runs'); break;
      case '--seconds': options.seconds = positiveNumber(value()); explicit.add('seconds'); break;
      case '--warmup': options.warmup = positiveNumber(value()); explicit.add('warmup'); break;
      case '--pin': options.pin = true; break;
      case '--no-pin': options.pin = false; break;
      default: throw new Error(`unknown argument '${arg}'`);
    }
  }
  if (options.quick) {
    if (!explicit.has('runs')) options.runs = 1;
    if (!explicit.has('seconds')) options.seconds = 2;
    if (!explicit.has('warmup')) options.warmup = 0.5;
  }
  for (const server of options.servers) {
    if (!SERVERS[server]) throw new Error(`unknown server '${server}'; expected some of: ${Object.keys(SERVERS).join(', ')}`);
  }
  return options;
}

/** Returns the taskset prefixes to use, or null prefixes with the reason pinning is off. */
function choosePinning(wanted) {
  if (!wanted) return { pinned: false, loadgen: [], server: [], note: 'unpinned (--no-pin)' };
  if (os.availableParallelism() < 2) {
    return { pinned: false, loadgen: [], server: [], note: 'unpinned: fewer than 2 CPUs' };
  }
  try {
    execFileSync('taskset', ['-c', SERVER_CPU, 'true'], { stdio: 'ignore' });
  } catch {
    return { pinned: false, loadgen: [], server: [], note: 'unpinned: taskset is missing or failed (install util-linux)' };
  }
  return {
    pinned: true,
    loadgen: ['taskset', '-c', LOADGEN_CPU],
    server: ['taskset', '-c', SERVER_CPU],
    note: `pinned: loadgen on CPU ${LOADGEN_CPU}, server (all its threads) on CPU ${SERVER_CPU}`,
  };
}

async function startServer(name, bins, pinning) {
  const [binary, args] = SERVERS[name](bins);
  const [command, ...commandArgs] = [...pinning.server, binary, ...args];
  const child = spawnTracked(command, commandArgs);
  try {
    const match = await waitForLine(child, /^listening (\d+)$/, SERVER_READY_TIMEOUT_MS, `${name} server`);
    let stderrTail = '';
    child.stderr.on('data', (chunk) => {
      stderrTail = (stderrTail + chunk).slice(-2000);
    });
    return { child, port: Number(match[1]), stderrTail: () => stderrTail };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

async function runOnce(scenario, serverName, options, bins, pinning) {
  const record = { scenario: scenario.name, server: serverName };
  let server;
  try {
    server = await startServer(serverName, bins, pinning);
    const pid = server.child.pid;
    let cpuAtStart = null;
    let cpuAtEnd = null;
    let coresAtStart = null;
    let coresAtEnd = null;
    const sampleCores = () =>
      pinning.pinned ? { loadgen: readCoreTicks(LOADGEN_CPU), server: readCoreTicks(SERVER_CPU) } : null;
    const { result, exitCode, stderr } = await runLoadgen({
      binary: bins.loadgen,
      prefix: pinning.loadgen,
      args: [
        '--host', '127.0.0.1', '--port', String(server.port),
        '--duration', String(options.seconds), '--warmup', String(options.warmup),
        '--connect-timeout', String(CONNECT_TIMEOUT_S), ...scenario.args,
      ],
      plannedSeconds: CONNECT_TIMEOUT_S + options.warmup + options.seconds,
      onMeasureStart: () => {
        cpuAtStart = readCpuSeconds(pid);
        coresAtStart = sampleCores();
      },
      onMeasureEnd: () => {
        cpuAtEnd = readCpuSeconds(pid);
        coresAtEnd = sampleCores();
      },
    });
    record.peakRssKiB = readPeakRssKiB(pid);
    record.loadgen = result;
    record.loadgenExitCode = exitCode;
    if (stderr.trim()) record.loadgenStderr = stderr.trim();
    if (cpuAtStart !== null && cpuAtEnd !== null) {
      record.serverCpuS = cpuAtEnd - cpuAtStart;
      record.serverCpuUsPerMsg = result?.messages ? (record.serverCpuS * 1e6) / result.messages : null;
    }
    if (coresAtStart && coresAtEnd) {
      record.loadgenCoreBusy = coreBusyShare(coresAtStart.loadgen, coresAtEnd.loadgen);
      record.serverCoreBusy = coreBusyShare(coresAtStart.server, coresAtEnd.server);
    }
    if (!result) record.failure = `loadgen failed (exit ${exitCode}): ${stderr.trim()}`;
    else if (exitCode !== 0) record.failure = `loadgen exit ${exitCode}: ${stderr.trim()}`;
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      record.failure = `server died during the run: ${server.stderrTail().trim()}`;
    }
  } catch (err) {
    record.failure = err.message;
  } finally {
    if (server) await stopChild(server.child);
  }
  return record;
}

function describeMachine(pinning, options) {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: os.availableParallelism(),
    clockTicks: clockTicksPerSecond(),
    pinning: pinning.note,
    options,
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const bins = buildAll();
  const pinning = choosePinning(options.pin);
  const machine = describeMachine(pinning, options);
  process.stderr.write(
    `echo bench: servers ${options.servers.join(',')}, ${options.runs} run(s) × ${options.seconds} s ` +
      `(+${options.warmup} s warmup), ${pinning.note}\n`,
  );

  const runs = [];
  for (const scenario of SCENARIOS) {
    for (let rep = 0; rep < options.runs; rep++) {
      for (const serverName of options.servers) {
        const record = { rep, ...(await runOnce(scenario, serverName, options, bins, pinning)) };
        runs.push(record);
        const r = record.loadgen;
        process.stderr.write(
          `  ${scenario.name} ${serverName} run ${rep + 1}: ` +
            (r ? `${r.msgs_per_s.toFixed(0)} msg/s, ${r.mb_per_s.toFixed(1)} MB/s, mismatches ${r.mismatches}` : 'no result') +
            (record.failure ? ` — ${record.failure.split('\n')[0]}` : '') + '\n',
        );
      }
    }
  }

  const summaries = [];
  for (const scenario of SCENARIOS) {
    for (const serverName of options.servers) {
      const serverRuns = runs.filter((r) => r.scenario === scenario.name && r.server === serverName);
      summaries.push(summarize(scenario, serverName, serverRuns));
    }
  }

  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const stamp = machine.date.replace(/:/g, '-').replace(/\..*$/, '');
  const resultsFile = path.join(resultsDir, `echo-${stamp}.json`);
  fs.writeFileSync(resultsFile, `${JSON.stringify({ machine, scenarios: SCENARIOS, summaries, runs }, null, 2)}\n`);

  console.log(`## Echo benchmark — ${machine.date}\n`);
  console.log(`${machine.cpuModel}, ${machine.cpuCount} CPUs, ${machine.kernel}, Node ${machine.node}; ${pinning.note}; ` +
    `${options.runs} run(s) × ${options.seconds} s after ${options.warmup} s warmup; medians over runs.\n`);
  console.log(markdownTable(SCENARIOS, summaries));
  console.log(`\nraw results: ${path.relative(process.cwd(), resultsFile)}`);

  const failed = runs.some((r) => r.failure || !r.loadgen || r.loadgen.mismatches > 0);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err.stack || err.message);
  process.exitCode = 1;
});
