'use strict';
// Compiles the C side of the benchmarks (the load generator, the reference
// echo server, the thread-wakeup probe) into bench/.build/, skipping any
// binary newer than its source.
// Usable as a script (`node bench/build-loadgen.js`) or as a module.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const BENCH_DIR = __dirname;
const BUILD_DIR = path.join(BENCH_DIR, '.build');
const CFLAGS = ['-O2', '-Wall', '-Wextra'];

const TARGETS = {
  loadgen: { source: 'loadgen.c', libs: ['-lm'] },
  'c-echo-server': { source: 'c-echo-server.c', libs: [] },
  // What a wakeup between two threads costs here (docs/benchmarks.md, "Session 23").
  'thread-wakeup': { source: 'thread-wakeup.c', libs: ['-lpthread'] },
  // The same load generator speaking TLS (--tls); needs OpenSSL's headers and
  // libraries (Debian: libssl-dev), so only the TLS benchmarks build it.
  'loadgen-tls': { source: 'loadgen.c', libs: ['-DLOADGEN_TLS', '-lm', '-lssl', '-lcrypto'] },
};

function isUpToDate(output, source) {
  try {
    return fs.statSync(output).mtimeMs >= fs.statSync(source).mtimeMs;
  } catch {
    return false; // no binary yet
  }
}

/** Builds one target if stale and returns the path of its binary. */
function buildTarget(name) {
  const { source, libs } = TARGETS[name];
  const sourcePath = path.join(BENCH_DIR, source);
  const outputPath = path.join(BUILD_DIR, name);
  if (isUpToDate(outputPath, sourcePath)) return outputPath;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const compiler = process.env.CC || 'cc';
  const args = [...CFLAGS, '-o', outputPath, sourcePath, ...libs];
  try {
    execFileSync(compiler, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    const reason = err.code === 'ENOENT' ? `${compiler} not found; install a C compiler or set CC` : err.message;
    throw new Error(`building bench/${source} failed: ${reason}`);
  }
  process.stderr.write(`built ${path.relative(process.cwd(), outputPath)}\n`);
  return outputPath;
}

/** Builds everything but the TLS load generator; returns { loadgen, cEchoServer, threadWakeup } binary paths. */
function buildAll() {
  return { loadgen: buildTarget('loadgen'), cEchoServer: buildTarget('c-echo-server'), threadWakeup: buildTarget('thread-wakeup') };
}

/** Builds the TLS load generator; returns its path. */
function buildTlsLoadgen() {
  return buildTarget('loadgen-tls');
}

module.exports = { buildAll, buildTlsLoadgen, BUILD_DIR };

if (require.main === module) {
  try {
    const built = buildAll();
    for (const file of Object.values(built)) console.log(file);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
