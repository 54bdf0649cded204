'use strict';
// `node bench/servers/http-server.js <node|reactor> <express|plain|https|https-sni|h2c> <port>`:
// the same HTTP app served by node:http's own listener or through
// epoll-reactor's serveHttp. `https` is the plain app on an https.Server
// with the key and certificate at $BENCH_TLS_KEY and $BENCH_TLS_CERT;
// serveHttp then terminates TLS on the reactor thread. `h2c` is the plain app
// on a cleartext http2.Server (bench/http2.js). BENCH_HTTP_BODY=<bytes> sets
// the plain app's body length (default: a 16-byte hello). Prints
// `listening <port>` once ready.
const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const https = require('node:https');

const [impl, kind, portText] = process.argv.slice(2);
const port = Number(portText ?? 0);

let handler;
if (kind === 'express') {
  const express = require('express');
  const app = express();
  app.get('/', (req, res) => res.send('hello from express\n'));
  handler = app;
} else {
  // BENCH_HTTP_BODY=<bytes>: a body of that size instead of the 16-byte hello.
  const bodyBytes = Number(process.env.BENCH_HTTP_BODY ?? 0);
  const body = bodyBytes > 0 ? `${'x'.repeat(bodyBytes - 1)}\n` : 'hello from http\n';
  handler = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  };
}
const tlsOptions = () => ({ key: fs.readFileSync(process.env.BENCH_TLS_KEY), cert: fs.readFileSync(process.env.BENCH_TLS_CERT) });
const httpServer = kind === 'https' ? https.createServer(tlsOptions(), handler)
  // An SNICallback answering with a context node's tls.createSecureContext
  // made (of the same key), as multi-name servers do.
  : kind === 'https-sni' ? httpsWithSniCallback()
  : kind === 'h2c' ? http2.createServer(handler) : http.createServer(handler);

function httpsWithSniCallback() {
  const context = require('node:tls').createSecureContext(tlsOptions());
  return https.createServer({ ...tlsOptions(), SNICallback: (_name, callback) => callback(null, context) }, handler);
}

function ready(address) {
  process.stdout.write(`listening ${address.port}\n`);
}

if (impl === 'reactor') {
  const { serveHttp } = require('../../dist');
  const server = serveHttp(httpServer, { port, host: '127.0.0.1' });
  server.on('listening', () => ready(server.address()));
} else {
  httpServer.listen(port, '127.0.0.1', () => ready(httpServer.address()));
}
process.on('SIGTERM', () => process.exit(0));
