'use strict';
const path = require('node:path');
// The echo server the benchmarks measure, written the way a user would write
// it. Only the module that provides createServer differs between impls.
//
// usage: node bench/servers/echo-server.js <net|reactor> [port] [--trigger edge|level] [--drain short-read|eagain]
//                                          [--thread own|js] [--writes N] [--package DIR]
// (port 0 = any). Listens on 127.0.0.1, prints "listening <port>" once listening.
// --trigger, --drain and --thread pass to epoll-reactor's configure(), for the
// runs that show why its defaults are what they are. --writes N echoes each
// chunk with N write() calls (a protocol server writing a header, then a
// body). --package DIR takes epoll-reactor from another built checkout.

const [implName = 'net', portArg = '0', ...flags] = process.argv.slice(2);
const reactorOptions = {};
let writes = 1;
let packageRoot = path.join(__dirname, '..', '..');
for (let i = 0; i < flags.length; i += 2) {
  if (flags[i] === '--trigger') reactorOptions.trigger = flags[i + 1];
  else if (flags[i] === '--drain') reactorOptions.drain = flags[i + 1];
  else if (flags[i] === '--thread') reactorOptions.thread = flags[i + 1];
  else if (flags[i] === '--writes') writes = Number(flags[i + 1]);
  else if (flags[i] === '--package') packageRoot = flags[i + 1];
  else {
    console.error(`unknown flag '${flags[i]}'`);
    process.exit(2);
  }
}
if (!(Number.isInteger(writes) && writes >= 1)) {
  console.error('--writes expects a whole number of at least 1');
  process.exit(2);
}

const IMPLEMENTATIONS = {
  net: () => require('node:net'),
  reactor: () => require(path.join(packageRoot, 'dist')),
};
if (!IMPLEMENTATIONS[implName]) {
  console.error(`unknown impl '${implName}'; expected one of: ${Object.keys(IMPLEMENTATIONS).join(', ')}`);
  process.exit(2);
}
const implementation = IMPLEMENTATIONS[implName]();
const { createServer } = implementation;
if (implName !== 'reactor' && (Object.keys(reactorOptions).length > 0 || flags.includes('--package'))) {
  console.error('--trigger, --drain, --thread and --package apply to the reactor only');
  process.exit(2);
}
if (Object.keys(reactorOptions).length > 0) implementation.configure(reactorOptions);

/** Writes `chunk` with `writes` write() calls, in order. */
function echo(socket, chunk) {
  if (writes === 1 || chunk.length < writes) {
    socket.write(chunk);
    return;
  }
  const step = Math.ceil(chunk.length / writes);
  for (let at = 0; at < chunk.length; at += step) socket.write(chunk.subarray(at, at + step));
}

const server = createServer((socket) => {
  socket.on('data', (chunk) => echo(socket, chunk));
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
