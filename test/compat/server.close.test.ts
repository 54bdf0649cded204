// close() stops accepting but waits for live connections before 'close';
// getConnections() counts them; close() on a server that is not running
// reports ERR_SERVER_NOT_RUNNING; `await server[Symbol.asyncDispose]()` closes.
import { once } from 'node:events';
import * as net from 'node:net';
import { types } from 'node:util';

import { mustCall, mustNotCall } from '../helpers';
import {
  connectClient, connectPair, delay, listenLocal, readAll, startChild, trackServer, trackSocket, useCompatHarness, within,
} from './harness';
import { implementations } from './implementations';

useCompatHarness();

function connectionCount(server: net.Server): Promise<{ count: number; synchronous: boolean }> {
  return new Promise((resolve, reject) => {
    let synchronous = true;
    server.getConnections((error, count) => (error ? reject(error) : resolve({ count, synchronous })));
    synchronous = false;
  });
}

describe.each(implementations)('%s', (name, createServer) => {
  test("close() with live connections: they are still served, and 'close' comes after the last ends", async () => {
    const server = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
    const port = await listenLocal(server);
    const first = await connectPair(server, port);
    const second = await connectPair(server, port);

    let closed = false;
    server.on('close', mustCall(() => { closed = true; }));
    const closing = new Promise<Error | undefined>((resolve) => server.close(mustCall(resolve)));
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();

    // Accepted connections still work after close().
    first.client.write('still here');
    const [echo] = await within(once(first.client, 'data'), 2000, 'the echo');
    expect(echo.toString()).toBe('still here');

    first.client.end();
    await within(once(first.socket, 'close'), 2000, "the first socket's 'close'");
    await delay(50);
    expect(closed).toBe(false);
    expect(await connectionCount(server)).toEqual({ count: 1, synchronous: false });

    second.client.end();
    expect(await within(closing, 2000, "the server's 'close'")).toBeUndefined();
    expect(closed).toBe(true);
    expect(second.socket.destroyed).toBe(true);
  });

  test("the last connection's destroy() lets the server's 'close' come before that socket's 'close', as net counts it in _destroy", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    const order: string[] = [];
    server.on('close', () => order.push('server close'));
    socket.on('close', () => order.push('socket close'));
    server.close();
    socket.destroy();
    // As net's _destroy: the count drops at once.
    expect(await connectionCount(server)).toEqual({ count: 0, synchronous: false });
    await within(once(socket, 'close'), 2000, "the socket's 'close'");
    await delay(20);
    expect(order).toEqual(['server close', 'socket close']);
  });

  test("connections the server had not yet taken when close() ran are reset, as net's backlog is", async () => {
    const server = createServer(mustNotCall("a 'connection' the server had not taken"));
    const port = await listenLocal(server);
    const outcomes = Array.from({ length: 3 }, () => new Promise<string>((resolve) => {
      const client = trackSocket(net.connect(port, '127.0.0.1'));
      client.on('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
      client.on('end', () => resolve('end'));
      client.resume();
    }));
    // The connects go out in ticks queued before this one (net.connect to an
    // address); then, before the loop can poll, JS is busy while the kernel
    // (and the reactor thread) take them, and close() comes first.
    await new Promise((resolve) => process.nextTick(resolve));
    const until = Date.now() + 200;
    while (Date.now() < until);
    server.close();
    expect(await within(Promise.all(outcomes), 3000, 'the clients')).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  });

  test('a connection attempted just after close() returns is refused', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    server.close();
    // node:net closes the listening socket inside close(), so the kernel
    // refuses at once; it must not accept into a backlog and reset later.
    const client = trackSocket(net.connect(port, '127.0.0.1'));
    client.on('connect', mustNotCall("the client's 'connect'"));
    const [error] = await within(once(client, 'error'), 2000, "the client's 'error'");
    expect(error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
  });

  test('getConnections() calls back asynchronously with the number of open connections', async () => {
    const server = createServer((socket) => socket.resume());
    const port = await listenLocal(server);
    expect(await connectionCount(server)).toEqual({ count: 0, synchronous: false });
    const pairs = [await connectPair(server, port), await connectPair(server, port), await connectPair(server, port)];
    expect(await connectionCount(server)).toEqual({ count: 3, synchronous: false });
    pairs[1].client.destroy();
    await within(once(pairs[1].socket, 'close'), 2000, "the server socket's 'close'");
    expect(await connectionCount(server)).toEqual({ count: 2, synchronous: false });
    expect(server.getConnections(() => {})).toBe(server);
  });

  test("close(cb) on a server that never listened: cb gets ERR_SERVER_NOT_RUNNING later, 'close' is emitted", async () => {
    const server = trackServer(createServer());
    server.on('close', mustCall());
    let synchronous = true;
    const [error] = await within(new Promise<[Error]>((resolve) => {
      const returned = server.close(mustCall((closeError?: Error) => resolve([closeError as Error])));
      expect(returned).toBe(server);
    }), 2000, 'the close callback').finally(() => { synchronous = false; });
    expect(synchronous).toBe(false);
    // Node's errors come from outside jest's realm, so instanceof Error cannot tell.
    expect(types.isNativeError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING', message: 'Server is not running.' });
  });

  test('a second close(cb) after the server closed gets ERR_SERVER_NOT_RUNNING', async () => {
    const server = createServer();
    await listenLocal(server);
    const first = await within(new Promise<Error | undefined>((resolve) => server.close(mustCall(resolve))),
      2000, 'the first close');
    expect(first).toBeUndefined();
    const [error] = await within(new Promise<[Error | undefined]>((resolve) => {
      server.close(mustCall((closeError?: Error) => resolve([closeError])));
    }), 2000, 'the second close callback');
    expect(error).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  // Symbol.asyncDispose is Node's own symbol, which jest's sandbox does not
  // share, so these run in a child process, as real code would.
  test('await server[Symbol.asyncDispose]() closes the server, waiting for its connections', async () => {
    const child = startChild(name, `
      const net = require('node:net');
      const server = createServer();
      let closeEvents = 0;
      server.on('close', () => closeEvents++);
      server.listen(0, '127.0.0.1', async () => {
        const client = net.connect(server.address().port, '127.0.0.1');
        await new Promise((resolve) => server.once('connection', (socket) => resolve(socket.resume())));
        let disposed = false;
        const disposing = server[Symbol.asyncDispose]().then(() => { disposed = true; });
        const listening = server.listening;
        setTimeout(() => {
          const disposedWhileConnected = disposed;
          client.end();
          disposing.then(() => setImmediate(() => report({ listening, disposedWhileConnected, closeEvents })));
        }, 100);
      });
    `);
    expect(await child.next((line) => 'closeEvents' in line)).toEqual({
      listening: false,
      disposedWhileConnected: false,
      closeEvents: 1,
    });
    expect(await child.exitWithin(3000)).toBe(0);
  });

  test("server[Symbol.asyncDispose]() on a server that is not listening resolves without 'close'", async () => {
    const child = startChild(name, `
      const server = createServer();
      let closeEvents = 0;
      server.on('close', () => closeEvents++);
      Promise.resolve(server[Symbol.asyncDispose]())
        .then(() => setTimeout(() => report({ resolved: true, closeEvents }), 20));
    `);
    expect(await child.next((line) => 'resolved' in line)).toEqual({ resolved: true, closeEvents: 0 });
    expect(await child.exitWithin(3000)).toBe(0);
  });

  test('a connection accepted before close() gets its data through to the end', async () => {
    const server = createServer((socket) => {
      server.close();
      socket.resume();
      socket.end(Buffer.alloc(256 * 1024, 7));
    });
    const port = await listenLocal(server);
    const serverClosed = once(server, 'close');
    const client = await connectClient(port);
    const received = await within(readAll(client), 5000, 'the whole reply');
    expect(received.length).toBe(256 * 1024);
    expect(received.every((byte) => byte === 7)).toBe(true);
    await within(serverClosed, 2000, "the server's 'close'");
  });
});
