'use strict';
// `node bench/servers/proxy-server.js <net|reactor> <upstreamPort> [mode]`:
// a TCP proxy to 127.0.0.1:<upstreamPort>, the plain code a user writes.
// net: client.pipe(upstream).pipe(client). reactor: forward() on the reactor
// thread (mode auto|splice|copy). Prints `listening <port>` once ready.
const [impl, upstreamText, mode = 'auto'] = process.argv.slice(2);
const upstreamPort = Number(upstreamText);

let server;
if (impl === 'reactor') {
  const { createServer, connect, forward } = require('../../dist');
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
