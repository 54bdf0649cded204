'use strict';
// The echo server the benchmarks measure, written the way a user would write
// it. Only the module that provides createServer differs between impls.
//
// usage: node bench/servers/echo-server.js <net|reactor> [port] [--trigger edge|level] [--drain short-read|eagain]
//                                          [--thread own|js]
// (port 0 = any). Listens on 127.0.0.1, prints "listening <port>" once listening.
// --trigger, --drain and --thread pass to epoll-reactor's configure(), for the
// runs that show why its defaults are what they are.

const IMPLEMENTATIONS = {
  net: () => require('node:net'),
  reactor: () => require('../../dist'),
};

const [implName = 'net', portArg = '0', ...flags] = process.argv.slice(2);
if (!IMPLEMENTATIONS[implName]) {
  console.error(`unknown impl '${implName}'; expected one of: ${Object.keys(IMPLEMENTATIONS).join(', ')}`);
  process.exit(2);
}
const implementation = IMPLEMENTATIONS[implName]();
const { createServer } = implementation;
if (flags.length > 0) {
  const reactorOptions = {};
  for (let i = 0; i < flags.length; i += 2) {
    if (flags[i] === '--trigger') reactorOptions.trigger = flags[i + 1];
    else if (flags[i] === '--drain') reactorOptions.drain = flags[i + 1];
    else if (flags[i] === '--thread') reactorOptions.thread = flags[i + 1];
    else {
      console.error(`unknown flag '${flags[i]}'`);
      process.exit(2);
    }
  }
  if (implName !== 'reactor') {
    console.error('--trigger, --drain and --thread apply to the reactor only');
    process.exit(2);
  }
  implementation.configure(reactorOptions);
}

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
