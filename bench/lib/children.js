'use strict';
// Child processes of a benchmark run. Every child is tracked by pid from the
// moment it is spawned, so an exception, Ctrl-C or early exit of the harness
// still kills each one by pid and leaves nothing listening or loading.

const { spawn } = require('node:child_process');

const STOP_GRACE_MS = 2000;
const running = new Map(); // pid -> ChildProcess

function spawnTracked(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid !== undefined) {
    running.set(child.pid, child);
    child.once('exit', () => running.delete(child.pid));
  }
  return child;
}

function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child, timeoutMs) {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL if the child is still alive after STOP_GRACE_MS. */
async function stopChild(child) {
  if (child.pid === undefined || hasExited(child)) return;
  process.kill(child.pid, 'SIGTERM');
  if (await waitForExit(child, STOP_GRACE_MS)) return;
  process.kill(child.pid, 'SIGKILL');
  await waitForExit(child, STOP_GRACE_MS);
}

/** Resolves with the first stdout line matching pattern; rejects on exit or timeout. */
function waitForLine(child, pattern, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderrTail = '';
    const onStderr = (chunk) => {
      stderrTail = (stderrTail + chunk).slice(-2000);
    };
    const onData = (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const match = pattern.exec(line);
        if (match) return finish(null, match);
      }
    };
    const onExit = (code, signal) =>
      finish(new Error(`${what} exited (${signal || code}) before ready: ${stderrTail.trim() || 'no output'}`));
    const timer = setTimeout(() => finish(new Error(`${what} not ready after ${timeoutMs} ms`)), timeoutMs);
    function finish(err, match) {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr.off('data', onStderr);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(match);
    }
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.stderr.on('data', onStderr);
    child.once('exit', onExit);
  });
}

function killAllNow() {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

// 'exit' handlers must be synchronous, hence SIGKILL rather than stopChild.
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

module.exports = { spawnTracked, stopChild, waitForLine, killAllNow };
