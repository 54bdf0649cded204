#!/usr/bin/env node
'use strict';
// Runs Node's own net tests (test/parallel/test-net-*, test-socket-*,
// test-tcp-wrap*) twice each: on plain Node, and with a preload that puts
// epoll-reactor in place of node:net's createServer, Server, connect,
// createConnection and Socket for user code (the test files and test/common).
// Node's internal modules (http, tls, child_process) keep node:net: they do not
// load modules through Module._load or the ESM resolver.
// With --suite pipe, the same for test-pipe-* (Unix sockets).
// With --suite tls, the same for test-tls-*: node:tls's createServer and
// Server become the package's createSecureServer and SecureServer (servers
// only: tls.connect, the clients, stay node's).
// With --suite http, the same for test-http-* (not http2, not https): every
// http.Server's listen() becomes serveHttp(server, <the same listen options>),
// so the server is served from reactor connections; serveHttp makes the
// reactor server the http.Server's listener (address(), 'listening', close(),
// listening, ref/unref). node:http's clients, and node:net everywhere, stay
// node's. listen(handle) keeps node's own listen (serveHttp takes options).
// With --suite https, the same for test-https-*: every https.Server's listen()
// becomes serveHttp(server, <the same listen options>), which serves it with
// reactor TLS from the server's own options (docs/tls.md); https.Server does
// not inherit from http.Server, so its prototype is patched the same way
// (http.Server's is left alone). node:https's clients stay node's.
//
// Node's test files are taken from a local mirror of denoland/node_test (a git
// directory with no work tree), extracted into a temporary folder that is
// removed afterwards; they are never committed here.
//
// Usage:
//   node scripts/node-suite.js [--mirror DIR] [--commit REF] [--node PATH]
//     [--jobs N] [--timeout MS] [--filter REGEX] [--json FILE] [--markdown FILE] [--keep]
//     [--suite net|pipe|tls|http|https]
//   node scripts/node-suite.js --report RESULTS.json [--markdown FILE]   (the table again, from a run's --json)
// Defaults: the mirror at /work/.mirror/denoland+node_test/repo, commit be779569
// (Node 20.11.1's test/), this node, 2 jobs, 60 s per run. Build dist/ first
// (npm run build); the preload loads a copy of dist/ and the addon taken at the
// start, so rebuilding while it runs does not change what is measured.
// Known reasons for failures live in scripts/node-suite-reasons.json and are
// merged into the markdown table.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DEFAULT_MIRROR = '/work/.mirror/denoland+node_test/repo';
// What each suite runs, and which of a node module's exports the package replaces.
const NET_OVERRIDES = { createServer: 'createServer', Server: 'Server', connect: 'connect',
  createConnection: 'createConnection', Socket: 'Socket' };
const SUITES = {
  net: { pattern: /^test-(net-|socket-|tcp-wrap).*\.(js|mjs)$/, module: 'net', overrides: NET_OVERRIDES },
  // Unix sockets; half of these files use net only through node:http or
  // child_process, which keep node's (session 56: 10 of 10 pass both ways).
  pipe: { pattern: /^test-pipe-.*\.(js|mjs)$/, module: 'net', overrides: NET_OVERRIDES },
  tls: {
    pattern: /^test-tls-.*\.(js|mjs)$/,
    module: 'tls',
    overrides: { createServer: 'createSecureServer', Server: 'SecureServer' },
  },
  // test-http-* only: test-http2-* and test-https-* do not match.
  http: { pattern: /^test-http-.*\.(js|mjs)$/, serveHttp: 'http' },
  // test-https-*: every https.Server's listen() becomes serveHttp() (reactor TLS).
  https: { pattern: /^test-https-.*\.(js|mjs)$/, serveHttp: 'https' },
};

function parseArguments(argv) {
  const options = {
    mirror: DEFAULT_MIRROR, commit: 'be779569', node: process.execPath, jobs: 2, timeout: 60_000,
    filter: null, json: null, markdown: null, keep: false, report: null, suite: 'net',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--mirror': options.mirror = value(); break;
      case '--commit': options.commit = value(); break;
      case '--node': options.node = value(); break;
      case '--jobs': options.jobs = Math.max(1, Number(value())); break;
      case '--timeout': options.timeout = Number(value()); break;
      case '--filter': options.filter = new RegExp(value()); break;
      case '--json': options.json = value(); break;
      case '--markdown': options.markdown = value(); break;
      case '--keep': options.keep = true; break;
      case '--report': options.report = value(); break;
      case '--suite': options.suite = value(); if (!SUITES[options.suite]) fail(`unknown suite ${options.suite}`); break;
      case '--help': case '-h':
        process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 34).join('\n') + '\n');
        process.exit(0);
        break;
      default: fail(`unknown argument ${flag} (see --help)`);
    }
  }
  return options;
}

function fail(message) {
  process.stderr.write(`node-suite: ${message}\n`);
  process.exit(2);
}

function git(mirror, args, options = {}) {
  return execFileSync('git', ['-C', mirror, ...args], { maxBuffer: 1 << 28, ...options });
}

/** Extracts test/common, test/fixtures and the selected test/parallel files; returns their names. */
function extract(options, directory) {
  if (!fs.existsSync(options.mirror)) {
    fail(`no Node test mirror at ${options.mirror}. Fetch denoland/node_test (a git directory) and pass ` +
      '--mirror DIR; this runner is a measuring tool, not part of CI.');
  }
  let names;
  try {
    names = git(options.mirror, ['ls-tree', '--name-only', `${options.commit}:test/parallel`]).toString().split('\n');
  } catch {
    fail(`commit ${options.commit} has no test/parallel in ${options.mirror}`);
  }
  const { pattern } = SUITES[options.suite];
  names = names.filter((name) => pattern.test(name) && (!options.filter || options.filter.test(name)));
  // The mirror lacks some large fixture blobs, so files are written one by one
  // (git cat-file --batch) and a missing object is skipped rather than fatal.
  const entries = git(options.mirror, ['ls-tree', '-r', '-z', options.commit, 'test/common', 'test/fixtures',
    ...names.map((name) => `test/parallel/${name}`)]).toString().split('\0').filter(Boolean).map((line) => {
    const [meta, file] = line.split('\t');
    const [mode, type, object] = meta.split(' ');
    return { mode, type, object, file };
  }).filter((entry) => entry.type === 'blob');
  const batch = git(options.mirror, ['cat-file', '--batch'], {
    input: entries.map((entry) => entry.object).join('\n') + '\n',
  });
  let offset = 0;
  for (const entry of entries) {
    const end = batch.indexOf(10, offset);
    const header = batch.subarray(offset, end).toString().split(' ');
    offset = end + 1;
    if (header[1] === 'missing') continue;
    const size = Number(header[2]);
    const target = path.join(directory, entry.file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (entry.mode === '120000') {
      try { fs.symlinkSync(batch.subarray(offset, offset + size).toString(), target); } catch { /* duplicate */ }
    } else {
      fs.writeFileSync(target, batch.subarray(offset, offset + size), { mode: entry.mode === '100755' ? 0o755 : 0o644 });
    }
    offset += size + 1;
  }
  // test/common's ESM entry needs the tree to be CommonJS by default, as Node's repository is.
  fs.writeFileSync(path.join(directory, 'package.json'), '{"type":"commonjs"}\n');
  return names;
}

/**
 * Writes the preload files into `directory`; returns the flags that load them.
 * The test code (files under `testRoot`) that requires the suite's module, by
 * CommonJS or ESM, gets it with the package's replacements in place.
 */
function writePreload(directory, testRoot, suite) {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) fail('dist/ is missing: run npm run build first');
  const snapshot = path.join(directory, 'package');
  fs.cpSync(path.join(ROOT, 'dist'), path.join(snapshot, 'dist'), { recursive: true });
  const addon = path.join(ROOT, 'build', 'Release', 'epoll_reactor.node');
  if (fs.existsSync(addon)) fs.cpSync(addon, path.join(snapshot, 'build', 'Release', 'epoll_reactor.node'));
  // lib/binding.ts finds the addon with node-gyp-build, which the snapshot must resolve itself.
  const finder = path.dirname(require.resolve('node-gyp-build/package.json', { paths: [ROOT] }));
  fs.cpSync(finder, path.join(snapshot, 'node_modules', 'node-gyp-build'), { recursive: true });
  const dist = path.join(snapshot, 'dist');
  if (suite.serveHttp) return writeServeHttpPreload(directory, dist, suite.serveHttp);
  const { module: name, overrides } = suite;
  const substitute = path.join(directory, `${name}-substitute.cjs`);
  fs.writeFileSync(substitute, `'use strict';
// node:${name} with epoll-reactor's ${Object.values(overrides).join(', ')} in place of its ${Object.keys(overrides).join(', ')}.
const original = require('node:${name}');
const reactor = require(${JSON.stringify(dist)});
const overrides = {
${Object.entries(overrides).map(([key, ours]) => `  ${key}: reactor.${ours},`).join('\n')}
};
module.exports = new Proxy(original, {
  get(target, key) { return Object.prototype.hasOwnProperty.call(overrides, key) ? overrides[key] : Reflect.get(target, key); },
  set(target, key, value) {
    if (Object.prototype.hasOwnProperty.call(overrides, key)) overrides[key] = value; else Reflect.set(target, key, value);
    return true;
  },
  getOwnPropertyDescriptor(target, key) {
    const descriptor = Reflect.getOwnPropertyDescriptor(target, key);
    if (descriptor && Object.prototype.hasOwnProperty.call(overrides, key)) descriptor.value = overrides[key];
    return descriptor;
  },
});
`);
  const names = Object.keys(require(`node:${name}`)).filter((key) => /^[A-Za-z_$][\w$]*$/.test(key));
  const shim = path.join(directory, `${name}-shim.mjs`);
  fs.writeFileSync(shim, `import { createRequire } from 'node:module';
const substitute = createRequire(import.meta.url)(${JSON.stringify(substitute)});
export default substitute;
${names.map((key) => `export const ${key} = substitute.${key};`).join('\n')}
`);
  const hooks = path.join(directory, `${name}-hooks.mjs`);
  fs.writeFileSync(hooks, `const root = ${JSON.stringify(new URL(`file://${testRoot}/`).href)};
export async function resolve(specifier, context, next) {
  if ((specifier === '${name}' || specifier === 'node:${name}') && context.parentURL && context.parentURL.startsWith(root)) {
    return { url: ${JSON.stringify(new URL(`file://${shim}`).href)}, shortCircuit: true };
  }
  return next(specifier, context);
}
`);
  const preload = path.join(directory, 'preload.cjs');
  fs.writeFileSync(preload, `'use strict';
const Module = require('node:module');
const root = ${JSON.stringify(testRoot + path.sep)};
let substitute;
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if ((request === '${name}' || request === 'node:${name}') && parent && parent.filename && parent.filename.startsWith(root)) {
    return substitute || (substitute = load.call(this, ${JSON.stringify(substitute)}, parent, false));
  }
  return load.apply(this, arguments);
};
if (typeof Module.register === 'function') Module.register(${JSON.stringify(new URL(`file://${hooks}`).href)});
`);
  return ['-r', preload];
}

/**
 * The http suite's preload: http.Server.prototype.listen(...args) normalises
 * its arguments as net.Server#listen does (net's normalizeArgs and backlog
 * rules) into one options object and calls serveHttp(server, options); the
 * listen callback is a once('listening') listener, as net registers it.
 * A server already listening, and listen(handle), go to node's own listen
 * (which throws ERR_SERVER_ALREADY_LISTEN, or listens on the handle).
 * Only `moduleName`'s Server is patched (http.Server for the http suite,
 * https.Server for the https suite: neither inherits from the other, nor do
 * http2 servers), and node:net itself is untouched. Where serveHttp leaves a
 * server on its own listener (PSK, engines: docs/tls.md), it calls the
 * server's listen() itself, which then goes to node's.
 */
function writeServeHttpPreload(directory, dist, moduleName) {
  const preload = path.join(directory, 'preload.cjs');
  fs.writeFileSync(preload, `'use strict';
const served = require('node:${moduleName}');
const { serveHttp } = require(${JSON.stringify(dist)});
const ownListen = served.Server.prototype.listen;
const toNumber = (x) => ((x = Number(x)) >= 0 ? x : false);
const reactorServer = Symbol.for('node-suite.reactorServer');
let serving = false;
Object.defineProperty(served.Server.prototype, 'listen', {
  configurable: true, writable: true, enumerable: false,
  value: function listen(...args) {
    if (this._handle || serving) return ownListen.apply(this, args);
    const first = args[0];
    let options = {};
    if (typeof first === 'object' && first !== null) {
      if (first._handle || first.handle || typeof first.getAsyncId === 'function') return ownListen.apply(this, args);
      options = { ...first };
    } else if (typeof first === 'string' && toNumber(first) === false) {
      options.path = first;
    } else {
      options.port = first;
      if (args.length > 1 && typeof args[1] === 'string') options.host = args[1];
    }
    if (args.length === 0 || typeof first === 'function' || first === null) options.port = 0;
    const callback = args[args.length - 1];
    const backlog = toNumber(args.length > 1 && args[1]) || toNumber(args.length > 2 && args[2]);
    if (backlog && !options.backlog) options.backlog = backlog;
    if (typeof callback === 'function') this.once('listening', callback);
    serving = true;
    try {
      this[reactorServer] = serveHttp(this, options);
    } finally {
      serving = false;
    }
    return this;
  },
});
`);
  return ['-r', preload];
}

/** The `// Flags:` line of a Node test, as Node's tools/test.py reads it. */
function testFlags(file) {
  const match = /^\/\/ Flags:(.*)$/m.exec(fs.readFileSync(file, 'utf8'));
  return match ? match[1].trim().split(/\s+/).filter(Boolean) : [];
}

function runOne(options, file, extraFlags, slot) {
  return new Promise((resolve) => {
    const started = Date.now();
    const args = [...testFlags(file), ...extraFlags, file];
    const child = spawn(options.node, args, {
      cwd: path.dirname(file),
      detached: true, // its own process group, so that its children die with it on a timeout
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TEST_THREAD_ID: String(slot), NODE_TEST_DIR: path.dirname(path.dirname(file)),
        NODE_COMMON_PORT: String(20000 + Math.floor(Math.random() * 20000)) },
    });
    let output = '';
    const collect = (chunk) => { if (output.length < 64 * 1024) output += chunk; };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }, options.timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const skipped = /^1\.\.0 # Skipped/m.test(output);
      const status = timedOut ? 'timeout' : skipped ? 'skip' : code === 0 ? 'pass' : 'fail';
      resolve({ status, code, signal, ms: Date.now() - started, output });
    });
  });
}

/** The line of a failing run's output that says most about why. */
function firstError(output) {
  const lines = output.split('\n').map((line) => line.trim()).filter(Boolean);
  const error = lines.find((line) => /^(\w*Error|AssertionError|Mismatched|Error \[|node:internal.*\d+$)/.test(line) ||
    /^(TypeError|RangeError|Error)\b/.test(line));
  return (error || lines[lines.length - 1] || '').slice(0, 200);
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  if (options.report) {
    const saved = JSON.parse(fs.readFileSync(options.report, 'utf8'));
    options.commit = saved.summary.commit;
    options.suite = saved.summary.suite ?? 'net';
    const results = new Map(saved.tests.map((test) => [test.name, {
      node: { status: test.node, output: test.nodeError || '' },
      package: { status: test.package, output: test.packageError || '' },
    }]));
    report({ ...options, json: null }, saved.summary.node, saved.tests.map((test) => test.name), results);
    return;
  }
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'node-suite-'));
  const testRoot = path.join(directory, 'test');
  try {
    const names = extract(options, directory);
    const preloadFlags = writePreload(directory, testRoot, SUITES[options.suite]);
    const nodeVersion = execFileSync(options.node, ['-v']).toString().trim();
    process.stderr.write(`node-suite: ${names.length} tests of ${options.commit} on ${nodeVersion}, ` +
      `${options.jobs} at a time\n`);
    const runs = [];
    for (const name of names) {
      runs.push({ name, variant: 'node', flags: [] }, { name, variant: 'package', flags: preloadFlags });
    }
    const results = new Map(names.map((name) => [name, {}]));
    let next = 0;
    let done = 0;
    const worker = async (slot) => {
      while (next < runs.length) {
        const run = runs[next++];
        const result = await runOne(options, path.join(testRoot, 'parallel', run.name), run.flags, slot);
        results.get(run.name)[run.variant] = result;
        done++;
        if (result.status !== 'pass' && result.status !== 'skip') {
          process.stderr.write(`[${done}/${runs.length}] ${run.name} (${run.variant}): ${result.status}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.jobs }, (_, slot) => worker(slot + 1)));
    report(options, nodeVersion, names, results);
  } finally {
    if (!options.keep) fs.rmSync(directory, { recursive: true, force: true });
    else process.stderr.write(`node-suite: kept ${directory}\n`);
  }
}

function regressionsOf(rows) {
  return rows.filter((row) => row.node.status === 'pass' && row.package.status !== 'pass');
}

function report(options, nodeVersion, names, results) {
  const reasonsFile = path.join(__dirname, 'node-suite-reasons.json');
  const reasons = fs.existsSync(reasonsFile) ? JSON.parse(fs.readFileSync(reasonsFile, 'utf8')) : {};
  const rows = names.map((name) => ({ name, node: results.get(name).node, package: results.get(name).package }));
  const count = (predicate) => rows.filter(predicate).length;
  const passNode = rows.filter((row) => row.node.status === 'pass');
  const passBoth = passNode.filter((row) => row.package.status === 'pass');
  const regressions = regressionsOf(rows);
  // A failure the reasons file calls internal (Node internals, not the public API) is explained, not excused
  // silently: it is counted both ways.
  const internal = regressionsOf(rows).filter((row) => /^internal:/.test(reasons[row.name] || ''));
  const summary = {
    commit: options.commit, suite: options.suite, node: nodeVersion, tests: rows.length,
    skippedOnNode: count((row) => row.node.status === 'skip'),
    failingOnNode: count((row) => row.node.status === 'fail' || row.node.status === 'timeout'),
    passOnNode: passNode.length, passWithPackage: passBoth.length,
    ratio: passNode.length ? Number((passBoth.length / passNode.length).toFixed(3)) : 0,
    internal: internal.length,
    ratioWithoutInternal: passNode.length - internal.length
      ? Number((passBoth.length / (passNode.length - internal.length)).toFixed(3)) : 0,
  };
  if (options.json) {
    fs.writeFileSync(options.json, JSON.stringify({
      summary,
      tests: rows.map((row) => ({
        name: row.name, node: row.node.status, package: row.package.status,
        nodeError: row.node.status === 'pass' ? undefined : firstError(row.node.output),
        packageError: row.package.status === 'pass' ? undefined : firstError(row.package.output),
      })),
    }, null, 2) + '\n');
  }
  const lines = [
    `Node test tree ${options.commit}${options.suite === 'net' ? '' : ` (${options.suite} suite)`} on ${nodeVersion}: ${summary.tests} files; ${summary.skippedOnNode} skipped ` +
      `and ${summary.failingOnNode} failing on plain Node; **${summary.passWithPackage} of the ${summary.passOnNode} ` +
      `that pass on plain Node pass with the package (${summary.ratio})**; ${summary.internal} of the failures ` +
      `test Node internals (marked internal below); without them, ${summary.passWithPackage} of ` +
      `${summary.passOnNode - summary.internal} (${summary.ratioWithoutInternal}).`,
    '',
    '| test | with the package | reason |',
    '|---|---|---|',
    ...regressions.map((row) => `| ${row.name} | ${row.package.status} | ` +
      `${(reasons[row.name] || firstError(row.package.output)).replace(/\|/g, '\\|')} |`),
    '',
  ];
  const markdown = lines.join('\n');
  if (options.markdown) fs.writeFileSync(options.markdown, markdown);
  process.stdout.write(markdown);
}

main().catch((error) => {
  process.stderr.write(`node-suite: ${error.stack}\n`);
  process.exit(1);
});
