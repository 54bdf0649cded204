// A TypeScript consumer as an ES module: imports the package by its name,
// so the compiler resolves it through package.json "exports" to types/.
// test/consumers.test.ts compiles it with module node16 and with
// moduleResolution bundler (tsconfig.node16.json, tsconfig.bundler.json).
import { connect, createServer, isNative } from 'epoll-reactor';
import type { Server, Socket } from 'epoll-reactor';

const server: Server = createServer({ allowHalfOpen: false }, (socket: Socket) => {
  socket.setNoDelay(true);
  socket.pipe(socket);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not a TCP address');
  const client: Socket = connect(address.port, '127.0.0.1');
  client.end(isNative ? 'native' : 'net', () => server.close());
});

// The declarations must be precise enough to reject misuse, not `any`.
// @ts-expect-error a port is a number or a string, not a boolean
server.listen(true);
// @ts-expect-error there is no such method
server.acceptEverything();
