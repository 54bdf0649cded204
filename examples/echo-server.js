'use strict';
// `npm run echo`: an echo server on 127.0.0.1:7000 (PORT and HOST override).
// Every byte a client sends comes back to it, in order.
const { createServer, backend } = require('..');

const port = Number(process.env.PORT ?? 7000);
const host = process.env.HOST ?? '127.0.0.1';

const server = createServer((socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => {}); // a client's reset is not the server's problem
});

server.listen(port, host, () => {
  const { address, port: bound } = server.address();
  console.log(`echo server (${backend}) listening on ${address}:${bound}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close();
    process.exit(0);
  });
}
