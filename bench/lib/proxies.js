'use strict';
// Starting the proxies the proxy benchmarks compare: HAProxy (TCP mode, one
// thread; with `tls`, terminating TLS with `ssl crt`) and our own
// bench/servers/proxy-server.js (node:net/node:tls or epoll-reactor).
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { spawnTracked, waitForLine } = require('./children');

/** `taskset -c cpu` when pinning, else nothing. */
const on = (cpu, options) => (options.pin ? ['taskset', '-c', String(cpu)] : []);

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startLine(command, args, what, spawnOptions) {
  const child = spawnTracked(command, args, spawnOptions);
  const [, port] = await waitForLine(child, /^listening (\d+)/, 10000, what);
  return { child, port: Number(port) };
}

/**
 * HAProxy with one thread on CPU 1 (when pinned) in front of 127.0.0.1:upstreamPort;
 * with `tls` ({ key, cert } paths), it terminates TLS with them.
 */
async function startHaproxy(upstreamPort, options, tls) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haproxy-bench-'));
  const config = path.join(dir, 'haproxy.cfg');
  let bind = `  bind 127.0.0.1:${port}`;
  if (tls) {
    // HAProxy takes the certificate and its key in one file.
    const pem = path.join(dir, 'server.pem');
    fs.writeFileSync(pem, fs.readFileSync(tls.cert, 'utf8') + fs.readFileSync(tls.key, 'utf8'));
    bind += ` ssl crt ${pem}`;
  }
  fs.writeFileSync(config, [
    'global', '  nbthread 1', '  maxconn 8000',
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
    'frontend proxy', bind, '  default_backend upstream',
    'backend upstream', `  server echo 127.0.0.1:${upstreamPort}`, '',
  ].join('\n'));
  const prefix = on(1, options);
  const child = spawnTracked(prefix[0] ?? 'haproxy', [...prefix.slice(1), ...(prefix.length ? ['haproxy'] : []), '-db', '-f', config]);
  // HAProxy prints nothing when ready: wait until it accepts. (maxconn is
  // kept at 8,000: HAProxy refuses to start when 2 × maxconn exceeds the fd limit.)
  let accepting = false;
  for (let i = 0; i < 100 && !accepting && child.exitCode === null; i++) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    accepting = ok;
    if (!ok) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!accepting) throw new Error('haproxy did not start (run it by hand with the generated config to see why)');
  child.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return { child, port };
}

/**
 * bench/servers/proxy-server.js on CPU 1 (when pinned): `impl` net, reactor,
 * net-tls or reactor-tls (the TLS ones terminate with `tls`'s key and cert).
 */
function startScriptProxy(impl, upstreamPort, mode, options, tls, extraEnv = {}) {
  const script = path.join(__dirname, '..', 'servers', 'proxy-server.js');
  const prefix = on(1, options);
  const args = [script, impl, String(upstreamPort), mode];
  const env = { ...process.env, ...extraEnv, ...(tls ? { TLS_KEY: tls.key, TLS_CERT: tls.cert } : {}) };
  return prefix.length ? startLine(prefix[0], [...prefix.slice(1), process.execPath, ...args], impl, { env })
    : startLine(process.execPath, args, impl, { env });
}

module.exports = { on, freePort, startLine, startHaproxy, startScriptProxy };
