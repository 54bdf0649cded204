'use strict';
// The echo connection listener of bench/servers/echo-server.js, as a module
// that serveOnWorkers loads in each worker (bench/servers/pool-echo-server.js).
module.exports = (socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  // A benchmark client that disconnects mid-echo is not a server failure.
  socket.on('error', () => {});
};
