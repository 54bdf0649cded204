'use strict';
// Counts, per 64 B round trip, what the echo server's threads do: system
// calls by kind, thread switches, wakeups of the JS thread and batches taken by JS, external
// ArrayBuffers and cleanup-hook moves, and malloc/free. Counts, not rates:
// a strict ping-pong with one connection runs the same sequence every round
// trip, so the counts hold on a busy machine too. With more connections they
// depend on how many round trips share a turn, so they are indicative there.
//
// usage: node bench/syscalls.js [--connections 1,100] [--round-trips 4000]
//                               [--root <checkout>] [--json] [--pin]
//   --root   a checkout whose dist/ and build/ to measure (default: this one),
//            e.g. a build of an older commit for a before/after table.
//
// Needs root (or perf_event_paranoid <= -1) for perf's syscall tracepoints
// and uprobes. The uprobes it adds (group "erbench") are removed at the end.
// The client is node:net in a separate process; every round trip sends 64
// bytes and waits for the same 64 bytes back before sending again.

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const MESSAGE_SIZE = 64;
const PROBE_GROUP = 'erbench';
// perf attaches asynchronously; the server is idle meanwhile (no timers, no
// traffic), so waiting longer only adds idle time that counts nothing.
const PERF_ATTACH_MS = 1500;

function parseArgs(argv) {
  const options = { connections: [1, 100], roundTrips: 4000, root: path.resolve(__dirname, '..'), json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--connections') options.connections = argv[++i].split(',').map(Number);
    else if (flag === '--round-trips') options.roundTrips = Number(argv[++i]);
    else if (flag === '--root') options.root = path.resolve(argv[++i]);
    else if (flag === '--json') options.json = true;
    else if (flag === '--pin') options.pin = true;
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

// ---- the client (runs as a child: node bench/syscalls.js --client port n r)

function runClient(port, connections, roundTrips) {
  const payload = Buffer.alloc(MESSAGE_SIZE, 0x61);
  const sockets = [];
  let connected = 0;
  let finished = 0;
  for (let c = 0; c < connections; c++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    sockets.push(socket);
    socket.on('connect', () => {
      if (++connected === connections) process.stdout.write('connected\n');
    });
    socket.on('error', (error) => {
      process.stderr.write(`client: ${error.message}\n`);
      process.exit(1);
    });
  }
  process.stdin.once('data', () => {
    for (const socket of sockets) {
      let left = roundTrips;
      let received = 0;
      socket.on('data', (chunk) => {
        received += chunk.length;
        while (received >= MESSAGE_SIZE) {
          received -= MESSAGE_SIZE;
          if (--left === 0) {
            if (++finished === connections) {
              process.stdout.write('done\n');
              for (const s of sockets) s.destroy();
              process.exit(0);
            }
            return;
          }
          socket.write(payload);
        }
      });
      socket.write(payload);
    }
  });
}

// ---- the harness

function lines(stream, onLine) {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    partial += chunk;
    let newline;
    while ((newline = partial.indexOf('\n')) >= 0) {
      onLine(partial.slice(0, newline));
      partial = partial.slice(newline + 1);
    }
  });
}

function waitForLine(child, wanted, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${wanted}"`)), timeoutMs);
    lines(child.stdout, (line) => {
      if (line.startsWith(wanted)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before "${wanted}"`));
    });
  });
}

function symbolOf(file, demangledName) {
  const table = execFileSync('nm', [file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const demangled = execFileSync('nm', ['-C', file], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n');
  const raw = table.split('\n');
  for (let i = 0; i < demangled.length; i++) {
    if (demangled[i].endsWith(` ${demangledName}`) && / [tT] /.test(demangled[i])) return raw[i].split(' ').pop();
  }
  return null;
}

// Uprobes: name -> [binary, symbol]. Each counts calls per thread.
function probeTargets(root) {
  const libc = execFileSync('sh', ['-c', 'ldd "$(command -v node)" | awk \'/libc.so/ {print $3}\''],
    { encoding: 'utf8' }).trim();
  const nodeBinary = fs.realpathSync(process.execPath);
  const addon = path.join(root, 'build/Release/epoll_reactor.node');
  const targets = {
    malloc: [libc, 'malloc'],
    free: [libc, 'free'],
    tsfn_call: [nodeBinary, 'napi_call_threadsafe_function'],
    // The wakeups of the JS thread: the reactor's own since session 29, a
    // threadsafe function's inside napi_call_threadsafe_function before.
    uv_async_send: [nodeBinary, 'uv_async_send'],
    external_ab: [nodeBinary, 'napi_create_external_arraybuffer'],
    hook_add: [nodeBinary, 'napi_add_env_cleanup_hook'],
  };
  // The wake callback since session 29 (DeliverToJs is inlined into it), or
  // the threadsafe function's callback before (--root of an older build).
  const deliver = symbolOf(addon, 'reactor::(anonymous namespace)::OnWake(uv_async_s*)') ??
    symbolOf(addon, 'reactor::DeliverToJs(Napi::Env, Napi::Function, reactor::Delivery*, void*)');
  if (deliver !== null) targets.deliver = [addon, deliver];
  return targets;
}

// The file address perf wants for `symbol` when it cannot use the binary's
// debug information (node's fails to resolve): the symbol's virtual address
// less its LOAD segment's virtual-minus-file offset.
function probeAddress(binary, symbol) {
  const entry = execFileSync('nm', [binary], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n').find((line) => line.endsWith(` ${symbol}`) && / [tT] /.test(line));
  if (entry === undefined) return null;
  const address = BigInt(`0x${entry.split(' ')[0]}`);
  const headers = execFileSync('readelf', ['-lW', binary], { encoding: 'utf8' });
  for (const line of headers.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== 'LOAD') continue;
    const offset = BigInt(fields[1]);
    const virtual = BigInt(fields[2]);
    const size = BigInt(fields[5]);
    if (address >= virtual && address < virtual + size) return `0x${(address - virtual + offset).toString(16)}`;
  }
  return null;
}

function addProbes(targets) {
  removeProbes();
  const added = [];
  for (const [name, [binary, symbol]] of Object.entries(targets)) {
    const event = `${PROBE_GROUP}:${name}`;
    let error;
    for (const where of [() => symbol, () => probeAddress(binary, symbol)]) {
      const at = where();
      if (at === null) continue;
      try {
        execFileSync('perf', ['probe', '-x', binary, '-a', `${event}=${at}`], { stdio: 'pipe' });
        added.push(event);
        error = undefined;
        break;
      } catch (failure) {
        error = String(failure.stderr ?? failure.message).trim();
      }
    }
    if (error !== undefined) process.stderr.write(`no uprobe for ${name}: ${error}\n`);
  }
  return added;
}

function removeProbes() {
  try {
    execFileSync('perf', ['probe', '-q', '-d', `${PROBE_GROUP}:*`], { stdio: 'pipe' });
  } catch {
    // none were there
  }
}

const SYSCALLS = ['epoll_wait', 'epoll_pwait', 'read', 'write', 'recvfrom', 'sendto', 'sendmsg', 'writev',
  'futex', 'epoll_ctl', 'mprotect', 'madvise', 'munmap', 'mmap'];

async function measure(options, connections) {
  const serverScript = path.join(options.root, 'bench/servers/echo-server.js');
  // --pin: the server (both its threads) on CPU 1 and the client on CPU 0,
  // as the pinned echo benchmark places them; the threads then share a core.
  const on = (cpu) => (options.pin ? ['taskset', ['-c', String(cpu), process.execPath]] : [process.execPath, []]);
  const [serverCommand, serverPrefix] = on(1);
  const server = spawn(serverCommand, [...serverPrefix, serverScript, 'reactor', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let client;
  let perf;
  try {
    const port = Number((await waitForLine(server, 'listening', 10000)).split(' ')[1]);
    const [clientCommand, clientPrefix] = on(0);
    client = spawn(clientCommand, [...clientPrefix, __filename, '--client', String(port), String(connections),
      String(options.roundTrips)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    await waitForLine(client, 'connected', 20000);
    const probes = addProbes(probeTargets(options.root));
    const events = ['raw_syscalls:sys_enter', ...SYSCALLS.map((name) => `syscalls:sys_enter_${name}`),
      'context-switches', ...probes];
    perf = spawn('perf', ['stat', '--per-thread', '-x,', '-p', String(server.pid), ...events.flatMap((e) => ['-e', e])],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let perfOutput = '';
    perf.stderr.setEncoding('utf8');
    perf.stderr.on('data', (chunk) => {
      perfOutput += chunk;
    });
    const perfExited = new Promise((resolve) => perf.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, PERF_ATTACH_MS));
    const done = waitForLine(client, 'done', 300000);
    client.stdin.write('go\n');
    await done;
    // Let the last round trip's batches and closes settle before counting stops.
    await new Promise((resolve) => setTimeout(resolve, 300));
    perf.kill('SIGINT');
    await perfExited;
    perf = undefined;
    return summarize(perfOutput, server.pid, connections * options.roundTrips);
  } finally {
    if (perf !== undefined) perf.kill('SIGKILL');
    if (client !== undefined && client.exitCode === null) client.kill('SIGKILL');
    server.kill('SIGTERM');
    removeProbes();
  }
}

function summarize(output, serverPid, roundTrips) {
  // Threads: the reactor thread (named epoll-reactor), the JS thread (the
  // process's main thread) and the rest (libuv and V8 platform workers).
  const threads = { reactor: {}, js: {}, other: {} };
  for (const line of output.split('\n')) {
    const fields = line.split(',');
    if (fields.length < 4) continue;
    const count = Number(fields[1]);
    if (!Number.isFinite(count)) continue;
    const dash = fields[0].lastIndexOf('-');
    const comm = fields[0].slice(0, dash);
    const tid = Number(fields[0].slice(dash + 1));
    const which = comm === 'epoll-reactor' ? 'reactor' : tid === serverPid ? 'js' : 'other';
    const event = fields[3].replace('syscalls:sys_enter_', '').replace('raw_syscalls:sys_enter', 'syscalls')
      .replace(`${PROBE_GROUP}:`, '');
    threads[which][event] = (threads[which][event] ?? 0) + count;
  }
  const perRoundTrip = {};
  for (const [thread, counts] of Object.entries(threads)) {
    perRoundTrip[thread] = Object.fromEntries(Object.entries(counts).map(([event, count]) => [event, count / roundTrips]));
  }
  return { roundTrips, perRoundTrip };
}

function format(connections, result) {
  const rows = [];
  const events = new Set();
  for (const counts of Object.values(result.perRoundTrip)) for (const event of Object.keys(counts)) events.add(event);
  const order = ['syscalls', ...SYSCALLS, 'context-switches', 'tsfn_call', 'uv_async_send', 'deliver', 'external_ab',
    'hook_add', 'malloc', 'free'];
  rows.push(`${connections} connection(s), ${result.roundTrips} round trips; counts per round trip`);
  rows.push(`| count | reactor thread | JS thread | other threads |`);
  rows.push('|---|---:|---:|---:|');
  for (const event of order) {
    if (!events.has(event)) continue;
    const cell = (thread) => (result.perRoundTrip[thread][event] ?? 0).toFixed(2);
    if (['reactor', 'js', 'other'].every((t) => (result.perRoundTrip[t][event] ?? 0) < 0.005)) continue;
    rows.push(`| ${event} | ${cell('reactor')} | ${cell('js')} | ${cell('other')} |`);
  }
  return rows.join('\n');
}

async function main() {
  if (process.argv[2] === '--client') {
    runClient(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
    return;
  }
  const options = parseArgs(process.argv.slice(2));
  const results = {};
  for (const connections of options.connections) {
    results[connections] = await measure(options, connections);
    if (!options.json) process.stdout.write(`${format(connections, results[connections])}\n\n`);
  }
  if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

process.on('SIGINT', () => {
  removeProbes();
  process.exit(130);
});

main().catch((error) => {
  removeProbes();
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
