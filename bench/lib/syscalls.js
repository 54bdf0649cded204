'use strict';
// Counts a server's system calls over the measured window with `perf stat`
// on the kernel's syscall tracepoints: counting in the kernel costs the
// server almost nothing, unlike strace, so the rates measured alongside stay
// honest. Needs perf and permission to read tracepoints (root, or
// kernel.perf_event_paranoid <= -1); without them the counts are left out.

const { execFileSync, spawn } = require('node:child_process');

// Grouped the way the tables show them. Each group sums its tracepoints.
const GROUPS = {
  reads: ['read', 'recvfrom', 'recvmsg', 'readv'],
  writes: ['write', 'writev', 'sendto', 'sendmsg'],
  waits: ['epoll_wait', 'epoll_pwait', 'epoll_pwait2'],
  epollCtl: ['epoll_ctl'],
};

let available;
/** Whether perf can count syscall tracepoints here; checked once. */
function syscallCountingAvailable() {
  if (available === undefined) {
    try {
      execFileSync('perf', ['stat', '-x,', '-e', 'raw_syscalls:sys_enter', '--', 'true'], { stdio: 'pipe' });
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/**
 * Starts counting `pid`'s syscalls (all threads). Returns a function that
 * stops counting and resolves to { total, reads, writes, waits, epollCtl }, or
 * null if counting is unavailable or failed.
 */
function countSyscalls(pid) {
  if (!syscallCountingAvailable()) return async () => null;
  const events = ['raw_syscalls:sys_enter'];
  for (const names of Object.values(GROUPS)) {
    for (const name of names) events.push(`syscalls:sys_enter_${name}`);
  }
  const child = spawn('perf', ['stat', '-x,', '-p', String(pid), ...events.flatMap((e) => ['-e', e])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => child.once('close', resolve));
  return async () => {
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    const counts = new Map();
    for (const line of output.split('\n')) {
      const fields = line.split(',');
      if (fields.length < 3) continue;
      const value = Number(fields[0]);
      if (Number.isFinite(value)) counts.set(fields[2], value);
    }
    if (!counts.has('raw_syscalls:sys_enter')) return null;
    const result = { total: counts.get('raw_syscalls:sys_enter') };
    for (const [group, names] of Object.entries(GROUPS)) {
      result[group] = names.reduce((sum, name) => sum + (counts.get(`syscalls:sys_enter_${name}`) ?? 0), 0);
    }
    return result;
  };
}

module.exports = { countSyscalls, syscallCountingAvailable };
