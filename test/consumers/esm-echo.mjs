// One echo through the package imported from an ES module by its name (the
// package resolves itself through package.json "exports"). Prints the reply.
import { createServer, isNative } from 'epoll-reactor';
import * as net from 'node:net';

if (!isNative) throw new Error('the native reactor did not load');
const server = createServer((socket) => socket.pipe(socket));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const client = net.connect(server.address().port, '127.0.0.1', () => client.end('from an ES module'));
let reply = '';
client.on('data', (chunk) => { reply += chunk; });
await new Promise((resolve) => client.on('close', resolve));
server.close();
process.stdout.write(reply);
