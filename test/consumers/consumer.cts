// A TypeScript consumer as a CommonJS module under module node16: the same
// package name resolves through "exports" to the same types/.
import reactor = require('epoll-reactor');

const server: reactor.Server = reactor.createServer((socket: reactor.Socket) => socket.pipe(socket));
server.listen(0, '127.0.0.1', () => server.close());
// @ts-expect-error createServer takes options or a listener, not a number
reactor.createServer(42);
