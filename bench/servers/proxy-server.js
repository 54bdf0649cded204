'use strict';
// `node bench/servers/proxy-server.js <net|reactor|reactor-address|reactor-address-preamble|net-tls|reactor-tls|reactor-tls-address>
//   <upstreamPort> [mode]`:
// a TCP proxy to 127.0.0.1:<upstreamPort>, the plain code a user writes.
// EPOLL_REACTOR_DIST: the package's dist/ to load (default this checkout's),
// so that bench/proxy.js can run another build's side by side.
// net: client.pipe(upstream).pipe(client). reactor: forward() on the reactor
// thread (mode auto|splice|copy). Prints `listening <port>` once ready.
const [impl, upstreamText, mode = 'auto'] = process.argv.slice(2);
const upstreamPort = Number(upstreamText);

// net-tls / reactor-tls: the same, terminating TLS from clients with the key
// and certificate files named by TLS_KEY and TLS_CERT (node:tls's
// tls.createServer, or epoll-reactor's createSecureServer, whose handshakes
// and records run on the reactor thread). Both set noDelay on both sides, as
// a proxy does (HAProxy and our proxy CLI too): a TLS 1.3 server sends its
// session tickets after the handshake, and with Nagle on the first reply then
// waits for the client's delayed ACK of them, 40 ms, which caps handshakes
// at about 1,000/s on 50 connections whatever the TLS engine.
const fs = require('node:fs');
const path = require('node:path');
const distPath = process.env.EPOLL_REACTOR_DIST || path.join(__dirname, '..', '..', 'dist');
const tlsOptions = () => ({ key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT) });

let server;
if (impl === 'reactor-tls') {
  const { createSecureServer, connect, forward } = require(distPath);
  server = createSecureServer({ ...tlsOptions(), noDelay: true }, (client) => {
    const upstream = connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    forward(client, upstream, { mode });
  });
  server.on('tlsClientError', () => {});
} else if (impl === 'reactor-tls-address') {
  // The same, with forward() to an address: the upstream connected on the
  // reactor thread, no upstream socket in JS, paused on connect so that the
  // forward starts without a round trip through JS.
  const { createSecureServer, forward } = require(distPath);
  server = createSecureServer({ ...tlsOptions(), noDelay: true, pauseOnConnect: true }, (client) => {
    client.on('error', () => {});
    forward(client, { port: upstreamPort, host: '127.0.0.1', noDelay: true }, { mode }).then((result) => {
      if (result.connected === false) client.destroy();
    });
  });
  server.on('tlsClientError', () => {});
} else if (impl === 'net-tls') {
  const net = require('node:net');
  const tls = require('node:tls');
  server = tls.createServer(tlsOptions(), (client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  server.on('tlsClientError', () => {});
} else if (impl === 'reactor-address') {
  // forward() to an address: the reactor thread connects the upstream, and
  // JS makes no socket for it. pauseOnConnect: nothing is read into JS
  // first, so the forward starts with no round trip through JS.
  const { createServer, forward } = require(distPath);
  server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => {});
    forward(client, { port: upstreamPort, host: '127.0.0.1' }, { mode }).then((result) => {
      if (result.connected === false) client.destroy();
    });
  });
} else if (impl === 'reactor-address-preamble') {
  // The same for a proxy that routes on its client's first bytes: it reads
  // them, puts them back with unshift(), and forwards to an address.
  const { createServer, forward } = require(distPath);
  server = createServer((client) => {
    client.on('error', () => {});
    client.once('data', (first) => {
      client.pause();
      client.unshift(first);
      forward(client, { port: upstreamPort, host: '127.0.0.1' }, { mode }).then((result) => {
        if (result.connected === false) client.destroy();
      });
    });
  });
} else if (impl === 'reactor') {
  const { createServer, connect, forward } = require(distPath);
  server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    forward(client, upstream, { mode });
  });
} else {
  const net = require('node:net');
  server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
}
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
