// Theme 10 of issue 14: `instanceof net.Socket`. None of ws, undici, pg,
// mysql2, ioredis, Fastify and http-proxy checks it in its library code
// (docs/compatibility.md gives the commits read); they duck-type. So a reactor
// socket stays outside net.Socket's prototype chain: the one place that does
// check, Node's child_process handle passing, then refuses it with
// ERR_INVALID_HANDLE_TYPE, where an inherited net.Socket prototype would make
// it send the message without the socket (net's send() skips a socket with
// no _handle).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';

import * as reactor from '../../lib';
import { listenLocal, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('the members the libraries use in place of instanceof are there and work', async () => {
    const server = trackServer(net.createServer((socket) => socket.pipe(socket)));
    const port = await listenLocal(server);
    // pg and mysql2 take a caller's stream: made unconnected, connected by the library.
    const socket = trackSocket(new implementation.Socket());
    // ws: `if (socket.setNoDelay) socket.setNoDelay()`; pg: setNoDelay before connect.
    expect(typeof socket.setNoDelay).toBe('function');
    expect(socket.setNoDelay(true)).toBe(socket);
    socket.connect(port, '127.0.0.1');
    await within(once(socket, 'connect'), 2000, "'connect'");
    // ioredis, mysql2, undici: keep-alive once connected, chained.
    expect(socket.setKeepAlive(true, 1000)).toBe(socket);
    // undici's isStream: an object with pipe and on.
    expect(typeof socket.pipe).toBe('function');
    expect(typeof socket.on).toBe('function');
    // ws, Fastify, http-proxy, mysql2: a plain socket is not encrypted (no TLS fields).
    expect((socket as { encrypted?: boolean }).encrypted).toBeUndefined();
    expect((socket as { authorized?: boolean }).authorized).toBeUndefined();
    socket.end('ping');
    const echoed: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => echoed.push(chunk));
    await within(once(socket, 'end'), 2000, "'end'");
    expect(Buffer.concat(echoed).toString()).toBe('ping');
  });
});

describe('epoll-reactor', () => {
  test('a reactor socket is not an instance of net.Socket, and child_process refuses to send it', async () => {
    const server = trackServer(net.createServer());
    const port = await listenLocal(server);
    const socket = trackSocket(reactor.connect(port, '127.0.0.1') as unknown as net.Socket);
    await within(once(socket, 'connect'), 2000, "'connect'");
    expect((socket as unknown) instanceof net.Socket).toBe(false);
    const child = spawn(process.execPath, ['-e', "process.on('message', () => {}); process.on('disconnect', () => {})"],
      { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    try {
      expect(() => child.send('take this socket', socket))
        .toThrow(expect.objectContaining({ code: 'ERR_INVALID_HANDLE_TYPE' }));
    } finally {
      child.kill('SIGKILL');
      await within(once(child, 'exit'), 5000, 'the child to exit');
    }
  });
});
