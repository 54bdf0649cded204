'use strict';
// Checks an already running echo server byte for byte: drives it with the
// load generator, which verifies every echoed byte, and prints the mismatches.
//
// usage: node bench/verify-echo.js --port 7000 [--connections 1000] [--seconds 5]
//                                  [--host 127.0.0.1] [--size 64] [--depth 1]
// Exit status: 0 if every byte came back intact with no errors, 1 otherwise.

const { buildAll } = require('./build-loadgen');
const { runLoadgen } = require('./lib/loadgen');

const CONNECT_TIMEOUT_S = 10;

function parseArgs(argv) {
  const options = { host: '127.0.0.1', port: null, connections: 1000, seconds: 5, size: 64, depth: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    if (!(name in options) || value === undefined) throw new Error(`unexpected argument '${argv[i]}'`);
    options[name] = name === 'host' ? value : Number(value);
    if (name !== 'host' && !(options[name] > 0)) throw new Error(`--${name} expects a positive number, got '${value}'`);
  }
  if (!options.port) throw new Error('--port is required (the port the echo server listens on)');
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const { loadgen } = buildAll();
  const { result, exitCode, stderr } = await runLoadgen({
    binary: loadgen,
    args: [
      '--host', options.host, '--port', String(options.port),
      '--connections', String(options.connections), '--size', String(options.size),
      '--depth', String(options.depth), '--duration', String(options.seconds),
      '--warmup', '0', '--connect-timeout', String(CONNECT_TIMEOUT_S),
    ],
    plannedSeconds: CONNECT_TIMEOUT_S + options.seconds,
  });
  if (stderr.trim()) process.stderr.write(stderr);
  if (!result) {
    console.error(`loadgen produced no result (exit ${exitCode})`);
    process.exitCode = 1;
    return;
  }
  console.log(`mismatches: ${result.mismatches}`);
  console.log(
    `errors: ${result.errors}, connect failures: ${result.connect_failures}, ` +
      `messages: ${result.messages} (${result.msgs_per_s.toFixed(0)}/s) over ${result.connections} connections`,
  );
  const failed = exitCode !== 0 || result.mismatches > 0 || result.errors > 0 || result.connect_failures > 0;
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err.message);
  process.exitCode = 1;
});
