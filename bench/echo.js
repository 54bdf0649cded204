'use strict';
// The echo benchmark (`npm run bench`): the same echo workloads against
// node:net, epoll-reactor and a C epoll reference server, interleaved run by
// run so drift on the machine affects every server alike.
//
// usage: node bench/echo.js [--quick] [--servers net,reactor,c,bun] [--runs 3]
//                           [--seconds 4] [--warmup 1]
//                           [--placement pinned|unpinned|both] [--modes | --no-modes]
//                           [--scenarios pingpong-64B-100c,...] [--docs]
//
// BENCH_BASELINE=<a built checkout> adds the server 'reactor-baseline': the
// same echo from that checkout, to compare two versions in one run.
// 'net-split', 'reactor-split' (and with BENCH_BASELINE 'reactor-baseline-split')
// echo each chunk with two write() calls.
// 'net@24', 'reactor@26' and the like run the same echo server on another
// Node release (scripts/node-versions.sh fetches it; the addon is N-API, so
// this checkout's build loads), to compare Node versions in one run. A suffix
// adds V8 or Node flags: 'reactor@24+--scavenger-max-new-space-capacity-mb=8'.
//
// Each run starts a fresh server, waits for "listening <port>", drives it with
// bench/.build/loadgen, samples the server's CPU time (and, with perf, its
// syscalls) around the measured window and its peak RSS, then stops it.
// --modes adds a pass over epoll-reactor's trigger and drain options on the
// echo and streaming scenarios. Results: markdown tables on stdout, the raw
// runs in bench/results/echo-<timestamp>.json, and with --docs (what
// `npm run bench` passes) the tables and SVG charts in docs/benchmarks.md.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { buildAll } = require('./build-loadgen');
const { spawnTracked, stopChild, waitForLine } = require('./lib/children');
const { runLoadgen } = require('./lib/loadgen');
const { readCpuSeconds, readPeakRssKiB, clockTicksPerSecond, readCoreTicks, coreBusyShare } = require('./lib/proc-stats');
const { summarize, markdownTable, modesTable } = require('./lib/report');
const { countSyscalls, syscallCountingAvailable } = require('./lib/syscalls');
const { writeBenchmarkDocs } = require('./lib/docs');

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

const ECHO_SERVER = path.join(__dirname, 'servers', 'echo-server.js');

// net@<major>[+flags] and reactor@<major>[+flags]: see the top of this file.
const ON_OTHER_NODE = /^(net|reactor)@(\d+)((?:\+--[\w-]+(?:=[\w.-]+)?)*)$/;
const otherNodes = new Map();

function otherNodeServer(name) {
  const [, impl, major, flagText] = ON_OTHER_NODE.exec(name);
  if (!otherNodes.has(major)) {
    const script = path.join(__dirname, '..', 'scripts', 'node-versions.sh');
    otherNodes.set(major, execFileSync('bash', [script, 'path', major], { encoding: 'utf8' }).trim());
  }
  const flags = flagText.split('+').filter(Boolean);
  return [otherNodes.get(major), [...flags, ECHO_SERVER, impl, '0']];
}

function serverCommand(name, bins) {
  return ON_OTHER_NODE.test(name) ? otherNodeServer(name) : SERVERS[name](bins);
}

const SERVERS = {
  net: () => [process.execPath, [ECHO_SERVER, 'net', '0']],
  reactor: () => [process.execPath, [ECHO_SERVER, 'reactor', '0']],
  // The trigger and drain combinations configure() offers; `reactor` is the
  // default, edge-triggered and stopping at a short read.
  'reactor-edge-eagain': () => [process.execPath, [ECHO_SERVER, 'reactor', '0', '--trigger', 'edge', '--drain', 'eagain']],
  'reactor-level-short': () => [process.execPath, [ECHO_SERVER, 'reactor', '0', '--trigger', 'level', '--drain', 'short-read']],
  'reactor-level-eagain': () => [process.execPath, [ECHO_SERVER, 'reactor', '0', '--trigger', 'level', '--drain', 'eagain']],
  // The loop on the JS thread (configure({ thread: 'js' })) beside the
  // default, the reactor's own thread.
  'reactor-js': () => [process.execPath, [ECHO_SERVER, 'reactor', '0', '--thread', 'js']],
  // The same echo server from another checkout of the package (built), to
  // compare two versions side by side in one run: BENCH_BASELINE=/path/to/it.
  'reactor-baseline': () => {
    const root = process.env.BENCH_BASELINE;
    if (!root) throw new Error('reactor-baseline needs BENCH_BASELINE=<a built checkout of epoll-reactor>');
    return [process.execPath, [path.join(root, 'bench', 'servers', 'echo-server.js'), 'reactor', '0']];
  },
  // Each chunk echoed with two write() calls (a header, then a body): what a
  // write made while the one before it is in flight costs.
  'net-split': () => [process.execPath, [ECHO_SERVER, 'net', '0', '--writes', '2']],
  'reactor-split': () => [process.execPath, [ECHO_SERVER, 'reactor', '0', '--writes', '2']],
  'reactor-baseline-split': () => {
    const root = process.env.BENCH_BASELINE;
    if (!root) throw new Error('reactor-baseline-split needs BENCH_BASELINE=<a built checkout of epoll-reactor>');
    return [process.execPath, [ECHO_SERVER, 'reactor', '0', '--writes', '2', '--package', root]];
  },
  c: (bins) => [bins.cEchoServer, ['0']],
  bun: () => [bunBinary(), [path.join(__dirname, 'servers', 'bun-echo.js'), '0']],
};

function parseArgs(argv) {
  const options = {
    quick: false, servers: ['net', 'reactor', 'c', 'bun'], runs: 3, seconds: 4, warmup: 1,
    placements: ['pinned', 'unpinned'], modes: true, docs: false,
  };
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
      case '--placement': {
        const placement = value();
        if (!['pinned', 'unpinned', 'both'].includes(placement)) throw new Error(`--placement expects pinned, unpinned or both`);
        options.placements = placement === 'both' ? ['pinned', 'unpinned'] : [placement];
        explicit.add('placements');
        break;
      }
      case '--pin': options.placements = ['pinned']; explicit.add('placements'); break;
      case '--no-pin': options.placements = ['unpinned']; explicit.add('placements'); break;
      case '--modes': options.modes = true; explicit.add('modes'); break;
      case '--no-modes': options.modes = false; explicit.add('modes'); break;
      case '--docs': options.docs = true; break;
      case '--scenarios': options.scenarios = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      default: throw new Error(`unknown argument '${arg}'`);
    }
  }
  if (options.quick) {
    if (!explicit.has('runs')) options.runs = 1;
    if (!explicit.has('seconds')) options.seconds = 2;
    if (!explicit.has('warmup')) options.warmup = 0.5;
    if (!explicit.has('placements')) options.placements = ['pinned'];
    if (!explicit.has('modes')) options.modes = false;
  }
  for (const name of options.scenarios ?? []) {
    if (!SCENARIOS.some((scenario) => scenario.name === name)) {
      throw new Error(`unknown scenario '${name}'; expected some of: ${SCENARIOS.map((scenario) => scenario.name).join(', ')}`);
    }
  }
  for (const server of options.servers) {
    if (!SERVERS[server] && !ON_OTHER_NODE.test(server)) {
      throw new Error(`unknown server '${server}'; expected some of: ${Object.keys(SERVERS).join(', ')}, or net@<major>, reactor@<major>`);
    }
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
  const [binary, args] = serverCommand(name, bins);
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

async function runOnce(scenario, serverName, options, bins, pinning, { syscalls = false } = {}) {
  const record = { scenario: scenario.name, server: serverName, placement: pinning.pinned ? 'pinned' : 'unpinned' };
  let stopCounting = null;
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
        if (syscalls) stopCounting = countSyscalls(pid);
      },
      onMeasureEnd: () => {
        cpuAtEnd = readCpuSeconds(pid);
        coresAtEnd = sampleCores();
      },
    });
    if (stopCounting !== null) {
      const counts = await stopCounting();
      stopCounting = null;
      // Counting stops a little after the window; loadgen's own count of
      // messages in the window is the divisor, so this slightly overstates.
      if (counts && result?.messages) {
        record.syscallsPerMsg = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / result.messages]));
      }
    }
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
    if (stopCounting !== null) await stopCounting();
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
    // 1, 5 and 15 minutes, when the run starts: figures are quoted only from a quiet machine.
    loadAverage: os.loadavg(),
    clockTicks: clockTicksPerSecond(),
    pinning: pinning.note,
    options,
  };
}

// The scenarios and server variants of the --modes pass.
const MODE_SCENARIOS = ['pingpong-64B-100c', 'pingpong-64B-1000c', 'pipelined-64B-d16-100c', 'stream-64KiB-10c'];
const MODE_SERVERS = ['reactor', 'reactor-edge-eagain', 'reactor-level-short', 'reactor-level-eagain', 'c'];

async function runPass({ label, scenarios, servers, options, bins, pinning, syscalls, runs }) {
  for (const scenario of scenarios) {
    for (let rep = 0; rep < options.runs; rep++) {
      for (const serverName of servers) {
        const record = { rep, pass: label, ...(await runOnce(scenario, serverName, options, bins, pinning, { syscalls })) };
        runs.push(record);
        const r = record.loadgen;
        process.stderr.write(
          `  [${label}] ${scenario.name} ${serverName} run ${rep + 1}: ` +
            (r ? `${r.msgs_per_s.toFixed(0)} msg/s, ${r.mb_per_s.toFixed(1)} MB/s, mismatches ${r.mismatches}` : 'no result') +
            (record.syscallsPerMsg ? `, ${record.syscallsPerMsg.total.toFixed(2)} syscalls/msg` : '') +
            (record.failure ? ` — ${record.failure.split('\n')[0]}` : '') + '\n',
        );
      }
    }
  }
}

function summarizePass(runs, label, scenarios, servers) {
  const summaries = [];
  for (const scenario of scenarios) {
    for (const serverName of servers) {
      const serverRuns = runs.filter((r) => r.pass === label && r.scenario === scenario.name && r.server === serverName);
      summaries.push({ pass: label, ...summarize(scenario, serverName, serverRuns) });
    }
  }
  return summaries;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const bins = buildAll();
  const placements = options.placements.map((placement) => choosePinning(placement === 'pinned'));
  const machine = describeMachine(placements[0], options);
  machine.placements = placements.map((p) => p.note);
  machine.syscallCounting = syscallCountingAvailable();
  process.stderr.write(
    `echo bench: servers ${options.servers.join(',')}, ${options.runs} run(s) × ${options.seconds} s ` +
      `(+${options.warmup} s warmup); ${placements.map((p) => p.note).join('; then ')}` +
      `${options.modes ? '; then the trigger/drain modes, pinned' : ''}\n`,
  );

  const runs = [];
  const passes = [];
  const chosen = options.scenarios ? SCENARIOS.filter((s) => options.scenarios.includes(s.name)) : SCENARIOS;
  for (const pinning of placements) {
    const label = pinning.pinned ? 'pinned' : 'unpinned';
    await runPass({ label, scenarios: chosen, servers: options.servers, options, bins, pinning, syscalls: false, runs });
    passes.push({ label, note: pinning.note, scenarios: chosen, summaries: summarizePass(runs, label, chosen, options.servers) });
  }
  let modes = null;
  if (options.modes) {
    const pinning = choosePinning(true);
    const scenarios = SCENARIOS.filter((s) => MODE_SCENARIOS.includes(s.name));
    await runPass({ label: 'modes', scenarios, servers: MODE_SERVERS, options, bins, pinning, syscalls: true, runs });
    modes = { note: pinning.note, scenarios, summaries: summarizePass(runs, 'modes', scenarios, MODE_SERVERS) };
  }

  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const stamp = machine.date.replace(/:/g, '-').replace(/\..*$/, '');
  const resultsFile = path.join(resultsDir, `echo-${stamp}.json`);
  const results = { machine, scenarios: SCENARIOS, passes, modes, runs };
  fs.writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);

  console.log(`## Echo benchmark — ${machine.date}\n`);
  console.log(`${machine.cpuModel}, ${machine.cpuCount} CPUs, ${machine.kernel}, Node ${machine.node}; ` +
    `${options.runs} run(s) × ${options.seconds} s after ${options.warmup} s warmup; medians over runs.\n`);
  for (const pass of passes) {
    console.log(`### ${pass.note}\n`);
    console.log(markdownTable(pass.scenarios, pass.summaries));
    console.log('');
  }
  if (modes) {
    console.log(`### epoll-reactor's trigger and drain options (${modes.note})\n`);
    console.log(modesTable(modes.scenarios, modes.summaries));
    console.log('');
  }
  console.log(`raw results: ${path.relative(process.cwd(), resultsFile)}`);
  if (options.docs) {
    const written = await writeBenchmarkDocs(results, path.relative(path.join(__dirname, '..'), resultsFile));
    console.log(`wrote ${written.map((file) => path.relative(process.cwd(), file)).join(', ')}`);
  }

  const failed = runs.some((r) => r.failure || !r.loadgen || r.loadgen.mismatches > 0);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err.stack || err.message);
  process.exitCode = 1;
});
