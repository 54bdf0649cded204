// A server echoes what each client sends, byte for byte, and closes cleanly.
import { once } from 'node:events';

import { createServer, backend, Socket } from '../lib';
import { checkMustCalls, closeServer, connectLocal, listenLocal, mustCall, readExactly } from './helpers';

afterEach(checkMustCalls);

test('the native reactor is the backend on Linux', () => {
  expect(backend).toBe('epoll');
});

test('echoes a message and reports the connection addresses', async () => {
  const server = createServer(mustCall((socket: Socket) => {
    expect(socket.remoteAddress).toBe('127.0.0.1');
    expect(socket.remoteFamily).toBe('IPv4');
    expect(socket.localPort).toBe(port);
    expect(typeof socket.remotePort).toBe('number');
    socket.on('data', (chunk) => socket.write(chunk));
  }));
  const port = await listenLocal(server);
  const client = await connectLocal(port);
  client.write('hello, reactor');
  const echoed = await readExactly(client, 14);
  expect(echoed.toString()).toBe('hello, reactor');
  client.end();
  await once(client, 'close');
  await closeServer(server);
});

test('500 concurrent connections each get back exactly their own pattern', async () => {
  const server = createServer((socket) => socket.pipe(socket));
  const port = await listenLocal(server);
  const connections = 500;
  const size = 64 * 1024;
  const results = await Promise.all(Array.from({ length: connections }, async (_, index) => {
    const client = await connectLocal(port);
    // Each connection's pattern is distinct: its index, then a running counter.
    const pattern = Buffer.alloc(size);
    for (let i = 0; i < size; i++) pattern[i] = (index * 31 + i * 7 + (i >> 8)) & 0xff;
    pattern.writeUInt32BE(index, 0);
    client.end(pattern);
    const echoed = await readExactly(client, size);
    client.destroy();
    return echoed.equals(pattern);
  }));
  expect(results.filter((ok) => !ok)).toHaveLength(0);
  await closeServer(server);
});
