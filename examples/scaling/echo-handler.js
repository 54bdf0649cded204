'use strict';
// The connection listener every worker of examples/scaling/host.js runs: an
// echo. Written exactly as for a single createServer(); serveOnWorkers loads
// it once in each worker.
module.exports = (socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => {}); // a client's reset is not the server's problem
};
