'use strict';
// Runs the compiled load generator and returns its JSON result. The
// measure-start / measure-end markers it prints on stderr are handed to the
// caller as they arrive, so server counters can be sampled around exactly
// the measured window.

const { spawnTracked, stopChild } = require('./children');

// Beyond the planned run time; loadgen's own alarm() fires 10 s past it.
const HARNESS_TIMEOUT_SLACK_S = 15;

/**
 * @param {object} run
 * @param {string} run.binary   path of bench/.build/loadgen
 * @param {string[]} run.args   loadgen arguments
 * @param {string[]} [run.prefix]  command prefix such as ['taskset', '-c', '0']
 * @param {number} run.plannedSeconds  connect timeout + warmup + duration
 * @param {() => void} [run.onMeasureStart]
 * @param {() => void} [run.onMeasureEnd]
 * @returns {Promise<{result: object|null, exitCode: number|null, stderr: string}>}
 */
async function runLoadgen({ binary, args, prefix = [], plannedSeconds, onMeasureStart, onMeasureEnd }) {
  const command = prefix.length ? prefix[0] : binary;
  const commandArgs = prefix.length ? [...prefix.slice(1), binary, ...args] : args;
  const child = spawnTracked(command, commandArgs);
  let stdout = '';
  let stderr = '';
  let stderrPartial = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderrPartial += chunk;
    let newline;
    while ((newline = stderrPartial.indexOf('\n')) >= 0) {
      const line = stderrPartial.slice(0, newline);
      stderrPartial = stderrPartial.slice(newline + 1);
      if (line === 'loadgen: measure-start') onMeasureStart?.();
      else if (line === 'loadgen: measure-end') onMeasureEnd?.();
      else stderr += `${line}\n`;
    }
  });
  const timer = setTimeout(() => {
    stderr += 'harness: loadgen overran its time, killed\n';
    stopChild(child);
  }, (plannedSeconds + HARNESS_TIMEOUT_SLACK_S) * 1000);
  const exitCode = await new Promise((resolve) => child.once('close', (code) => resolve(code)));
  clearTimeout(timer);
  let result = null;
  try {
    result = JSON.parse(stdout.trim().split('\n').pop());
  } catch {
    stderr += `harness: loadgen printed no JSON result: ${JSON.stringify(stdout.slice(0, 200))}\n`;
  }
  return { result, exitCode, stderr };
}

module.exports = { runLoadgen };
