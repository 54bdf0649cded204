'use strict';
// The server process of the soak (scripts/soak.js): one epoll-reactor process
// serving every kind of traffic the soak sends, on its own port each. Prints
// one JSON line with the ports when it listens, and counters on SIGTERM.
// Needs the built package (dist/): `npx tsc -p tsconfig.build.json`.

const path = require('node:path');
const { connect, createServer, forward } = require(path.join(__dirname, '..', 'dist'));

// Idle connections on the 'idle' port are closed after this long.
const IDLE_TIMEOUT_MS = 300;
// Every connection anywhere else is closed if silent this long, so a client
// bug cannot pile up connections unseen.
const HYGIENE_TIMEOUT_MS = 30_000;
const FIREHOSE_CHUNK = Buffer.alloc(64 * 1024, 'firehose');

const counters = { accepted: 0, errors: 0, timeouts: 0, forwards: 0, forwardErrors: 0, firehoseBytes: 0 };

function served(onConnection) {
  return createServer((socket) => {
    counters.accepted++;
    socket.on('error', () => counters.errors++);
    onConnection(socket);
  });
}

const echo = served((socket) => {
  socket.setTimeout(HYGIENE_TIMEOUT_MS, () => socket.destroy());
  socket.pipe(socket);
});

// Writes as fast as the reader takes it, and no faster: a slow reader holds
// the server at its highWaterMark, not at an ever-growing queue.
const firehose = served((socket) => {
  socket.setTimeout(HYGIENE_TIMEOUT_MS, () => socket.destroy());
  const pump = () => {
    while (!socket.destroyed) {
      counters.firehoseBytes += FIREHOSE_CHUNK.length;
      if (!socket.write(FIREHOSE_CHUNK)) break;
    }
  };
  socket.on('drain', pump);
  socket.resume();
  pump();
});

const idle = served((socket) => {
  socket.resume();
  socket.setTimeout(IDLE_TIMEOUT_MS, () => {
    counters.timeouts++;
    socket.destroy();
  });
});

let echoPort = 0;
const proxy = served((client) => {
  const upstream = connect(echoPort, '127.0.0.1');
  upstream.on('error', () => counters.errors++);
  forward(client, upstream).then((result) => {
    counters.forwards++;
    if (result.error) counters.forwardErrors++;
  });
});

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

(async () => {
  echoPort = await listen(echo);
  const ports = { echo: echoPort, firehose: await listen(firehose), idle: await listen(idle), proxy: await listen(proxy) };
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ports })}\n`);
})();

// The JS heap's share of RSS, so the soak report can tell V8 settling from a
// native leak: one line every 5 s.
setInterval(() => {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ memory: { rss, heapTotal, heapUsed, external, arrayBuffers } })}\n`);
}, 5000).unref();

process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ counters })}\n`);
  process.exit(0);
});
