'use strict';
// The echo server the benchmarks measure, written the way a user would write
// it. Only the module that provides createServer differs between impls.
//
// usage: node bench/servers/echo-server.js <net|reactor> [port]   (port 0 = any)
// Listens on 127.0.0.1, prints "listening <port>" once listening.

const IMPLEMENTATIONS = {
  net: () => require('node:net'),
  reactor: () => require('../../dist'),
};

const [implName = 'net', portArg = '0'] = process.argv.slice(2);
if (!IMPLEMENTATIONS[implName]) {
  console.error(`unknown impl '${implName}'; expected one of: ${Object.keys(IMPLEMENTATIONS).join(', ')}`);
  process.exit(2);
}
const { createServer } = IMPLEMENTATIONS[implName]();

const server = createServer((socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  // A benchmark client that disconnects mid-echo is not a server failure.
  socket.on('error', () => {});
});

server.listen(Number(portArg), '127.0.0.1', () => {
  const address = typeof server.address === 'function' ? server.address() : null;
  const port = address && typeof address === 'object' ? address.port : Number(portArg);
  process.stdout.write(`listening ${port}\n`);
});

process.on('SIGTERM', () => {
  // close() only stops accepting; open connections would keep it waiting.
  server.close();
  process.exit(0);
});
