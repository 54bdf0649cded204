'use strict';
// Turns raw echo-benchmark runs into per-scenario, per-server summaries and
// the markdown table printed at the end of `npm run bench`.

// Above this share of one core the single-threaded loadgen is likely the
// bottleneck, and the row's throughput says more about it than the server.
const LOADGEN_SATURATED_CPU_SHARE = 0.9;
// A pinned core busier than its own process by more than this was shared with
// other work during the window (another job, ksoftirqd), so the row is noisy.
const DISTURBANCE_SHARE = 0.15;

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The throughput figure a scenario is judged by: msgs/s, or MB/s for streams. */
function rateOf(scenario, loadgenResult) {
  return scenario.metric === 'mb_per_s' ? loadgenResult.mb_per_s : loadgenResult.msgs_per_s;
}

function summarize(scenario, server, runs) {
  const ok = runs.filter((r) => r.loadgen);
  const rates = ok.map((r) => rateOf(scenario, r.loadgen));
  return {
    scenario: scenario.name,
    server,
    runs: runs.length,
    failures: runs.filter((r) => r.failure).map((r) => r.failure),
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    p50Us: median(ok.map((r) => r.loadgen.p50_us)),
    p99Us: median(ok.map((r) => r.loadgen.p99_us)),
    p999Us: median(ok.map((r) => r.loadgen.p999_us)),
    serverCpuUsPerMsg: median(ok.map((r) => r.serverCpuUsPerMsg)),
    serverCpuShare: median(ok.map((r) => r.serverCpuS / r.loadgen.seconds)),
    loadgenCpuShare: median(ok.map((r) => r.loadgen.client_cpu_s / r.loadgen.seconds)),
    loadgenCoreBusy: median(ok.map((r) => r.loadgenCoreBusy ?? NaN)),
    serverCoreBusy: median(ok.map((r) => r.serverCoreBusy ?? NaN)),
    peakRssMiB: Math.max(...ok.map((r) => (r.peakRssKiB ?? NaN) / 1024)),
    mismatches: ok.reduce((sum, r) => sum + r.loadgen.mismatches, 0),
    errors: ok.reduce((sum, r) => sum + r.loadgen.errors + r.loadgen.connect_failures, 0),
    syscallsPerMsg: medianSyscalls(ok),
  };
}

// Per-message syscall counts (bench/lib/syscalls.js), median per kind over runs.
function medianSyscalls(runs) {
  const counted = runs.filter((r) => r.syscallsPerMsg);
  if (counted.length === 0) return null;
  const kinds = Object.keys(counted[0].syscallsPerMsg);
  return Object.fromEntries(kinds.map((kind) => [kind, median(counted.map((r) => r.syscallsPerMsg[kind]))]));
}

function formatRate(scenario, value) {
  if (!Number.isFinite(value)) return '–';
  if (scenario.metric === 'mb_per_s') return `${value.toFixed(0)} MB/s`;
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M msg/s` : `${(value / 1e3).toFixed(1)}k msg/s`;
}

function formatNumber(value, digits = 0) {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function formatPercent(share) {
  return Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : '–';
}

function formatCores(s) {
  if (!Number.isFinite(s.loadgenCoreBusy) || !Number.isFinite(s.serverCoreBusy)) return '–';
  return `${(s.loadgenCoreBusy * 100).toFixed(0)}/${(s.serverCoreBusy * 100).toFixed(0)}%`;
}

function formatRatio(value, reference) {
  if (!Number.isFinite(value) || !Number.isFinite(reference) || reference === 0) return '–';
  return `${(value / reference).toFixed(2)}×`;
}

function formatSpread(scenario, s) {
  if (!Number.isFinite(s.rate)) return '–';
  if (s.runs === 1) return 'one run';
  const unit = scenario.metric === 'mb_per_s' ? 1 : 1e3;
  const suffix = scenario.metric === 'mb_per_s' ? '' : 'k';
  return `${(s.rateMin / unit).toFixed(unit === 1 ? 0 : 1)}–${(s.rateMax / unit).toFixed(unit === 1 ? 0 : 1)}${suffix}`;
}

/** Markdown table over every scenario and server, with ratios vs node:net and C. */
function markdownTable(scenarios, summaries) {
  const lines = [
    '| scenario | server | throughput (median) | min–max | p50 µs | p99 µs | p99.9 µs | server CPU µs/msg | server CPU | loadgen CPU | cores busy L/S | peak RSS MiB | mismatches | errors | vs net | vs Bun | vs C | CPU/msg vs C |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  let saturated = false;
  let anyDisturbed = false;
  for (const scenario of scenarios) {
    const rows = summaries.filter((s) => s.scenario === scenario.name);
    const rateOfServer = (name) => rows.find((s) => s.server === name)?.rate;
    const cpuOfC = rows.find((s) => s.server === 'c')?.serverCpuUsPerMsg;
    for (const s of rows) {
      if (s.failures.length && !Number.isFinite(s.rate)) {
        const reason = s.failures[0].split('\n')[0].replace(/\|/g, '/');
        lines.push(`| ${scenario.label} | ${s.server} | failed: ${reason} |${' |'.repeat(15)}`);
        continue;
      }
      const loadgenBound = s.loadgenCpuShare >= LOADGEN_SATURATED_CPU_SHARE;
      // The pinned core was busier than its process made it: something else ran there.
      const disturbed =
        s.loadgenCoreBusy - s.loadgenCpuShare > DISTURBANCE_SHARE || s.serverCoreBusy - s.serverCpuShare > DISTURBANCE_SHARE;
      anyDisturbed ||= disturbed;
      saturated ||= loadgenBound;
      lines.push(
        `| ${scenario.label} | ${s.server} | ${formatRate(scenario, s.rate)}${loadgenBound ? ' †' : ''} | ${formatSpread(scenario, s)} ` +
          `| ${formatNumber(s.p50Us)} | ${formatNumber(s.p99Us)} | ${formatNumber(s.p999Us)} | ${formatNumber(s.serverCpuUsPerMsg, 2)} ` +
          `| ${formatPercent(s.serverCpuShare)} | ${formatPercent(s.loadgenCpuShare)} | ${formatCores(s)}${disturbed ? ' ‡' : ''} | ${formatNumber(s.peakRssMiB, 1)} ` +
          `| ${s.mismatches} | ${s.errors} | ${formatRatio(s.rate, rateOfServer('net'))} | ${formatRatio(s.rate, rateOfServer('bun'))} ` +
          `| ${formatRatio(s.rate, rateOfServer('c'))} | ${formatRatio(s.serverCpuUsPerMsg, cpuOfC)} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    'server / loadgen CPU: the process\'s own CPU time (all threads, including the softirq TCP work loopback runs in its ' +
      'context) as a share of one core over the measured window. cores busy L/S: busy share of the loadgen\'s and the ' +
      'server\'s pinned cores over the same window.',
  );
  if (saturated) {
    lines.push(
      `† loadgen used ≥${LOADGEN_SATURATED_CPU_SHARE * 100}% of its core: that row is at least partly limited by the load generator, not the server.`,
    );
  }
  if (anyDisturbed) {
    lines.push(
      `‡ a pinned core was more than ${DISTURBANCE_SHARE * 100}% busier than the process pinned to it: other work shared ` +
        'the core during the window, so that row is noisy; rerun on a quiet machine or with more --runs.',
    );
  }
  return lines.join('\n');
}

const MODE_LABELS = {
  reactor: ['edge', 'short read (default)'],
  'reactor-edge-eagain': ['edge', 'until EAGAIN'],
  'reactor-level-short': ['level', 'short read'],
  'reactor-level-eagain': ['level', 'until EAGAIN'],
  c: ['C reference: edge', 'until EAGAIN'],
};

/** The trigger × drain table: throughput, CPU and syscalls per message for each combination. */
function modesTable(scenarios, summaries) {
  const lines = [
    '| scenario | trigger | drain | throughput (median) | min–max | server CPU µs/msg | syscalls/msg | reads/msg | writes/msg | epoll waits/msg | epoll_ctl/msg | vs default |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const scenario of scenarios) {
    const rows = summaries.filter((s) => s.scenario === scenario.name);
    const defaultRate = rows.find((s) => s.server === 'reactor')?.rate;
    for (const s of rows) {
      const [trigger, drain] = MODE_LABELS[s.server] ?? [s.server, ''];
      const calls = s.syscallsPerMsg ?? {};
      lines.push(
        `| ${scenario.label} | ${trigger} | ${drain} | ${formatRate(scenario, s.rate)} | ${formatSpread(scenario, s)} ` +
          `| ${formatNumber(s.serverCpuUsPerMsg, 2)} | ${formatNumber(calls.total, 2)} | ${formatNumber(calls.reads, 2)} ` +
          `| ${formatNumber(calls.writes, 2)} | ${formatNumber(calls.waits, 3)} | ${formatNumber(calls.epollCtl, 3)} ` +
          `| ${s.server === 'c' ? '–' : formatRatio(s.rate, defaultRate)} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    'syscalls/msg: every system call of the server process (all threads: the reactor, the JS thread, libuv) counted ' +
      'by perf on the kernel\'s tracepoints over the measured window, divided by the messages the load generator ' +
      'counted in it; for the stream, a message is one 64 KiB chunk. reads: read/recv*; writes: write*/send*.',
  );
  return lines.join('\n');
}

module.exports = { summarize, markdownTable, modesTable, median, rateOf, formatRate, formatRatio };
