'use strict';
// Reads a process's CPU time and peak memory from /proc (Linux only).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

let clockTicks;

/** Kernel clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
function clockTicksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // the value on every mainstream Linux architecture
    }
  }
  return clockTicks;
}

/** User plus system CPU seconds in a /proc stat file (a process's: all its threads), or null if it is gone. */
function readStatCpuSeconds(statPath) {
  let stat;
  try {
    stat = fs.readFileSync(statPath, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses; fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  return (utime + stime) / clockTicksPerSecond();
}

/** User plus system CPU seconds of every thread of pid, or null if it is gone. */
function readCpuSeconds(pid) {
  return readStatCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * CPU seconds of pid split by thread: `js` (the main thread, whose tid is the
 * pid), `reactor` (threads named epoll-reactor) and `other` (V8's GC and
 * compiler threads, libuv's pool), or null if the process is gone. Threads
 * that end between two samples take their seconds with them.
 */
function readThreadCpuSeconds(pid) {
  const split = { js: 0, reactor: 0, other: 0 };
  let tids;
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  for (const tid of tids) {
    const seconds = readStatCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    if (seconds === null) continue;
    let comm = '';
    try {
      comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (Number(tid) === pid) split.js += seconds;
    else if (comm === 'epoll-reactor') split.reactor += seconds;
    else split.other += seconds;
  }
  return split;
}

/** Pids whose parent is pid (cluster workers of a primary, say), from /proc. */
function childPids(pid) {
  const children = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]); // field 4
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return children;
}

/**
 * CPU seconds of pid and its live children (a cluster primary and its
 * workers; a process with worker_threads is one pid already). Sample the
 * same tree at both ends of a window: a child that exits in between takes
 * its seconds with it.
 */
function readTreeCpuSeconds(pid) {
  const own = readCpuSeconds(pid);
  if (own === null) return null;
  return childPids(pid).reduce((sum, child) => sum + (readCpuSeconds(child) ?? 0), own);
}

/** Peak resident set size (VmHWM) in KiB, or null if unavailable. */
function readPeakRssKiB(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Busy and total ticks of one CPU from /proc/stat. Compared with the CPU time
 * of the process pinned there, it shows whether anything else ran on the core
 * (other processes, ksoftirqd) and so disturbed the measurement. Softirq work
 * done in a process's context is already in that process's stime.
 */
function readCoreTicks(cpuIndex) {
  try {
    const stat = fs.readFileSync('/proc/stat', 'utf8');
    const line = stat.split('\n').find((l) => l.startsWith(`cpu${cpuIndex} `));
    if (!line) return null;
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    return { busy: total - idle - iowait, total };
  } catch {
    return null;
  }
}

/** Busy share of a CPU between two readCoreTicks samples, or null. */
function coreBusyShare(before, after) {
  if (!before || !after || after.total <= before.total) return null;
  return (after.busy - before.busy) / (after.total - before.total);
}

module.exports = { readCpuSeconds, readThreadCpuSeconds, readTreeCpuSeconds, childPids, readPeakRssKiB, clockTicksPerSecond, readCoreTicks, coreBusyShare };
