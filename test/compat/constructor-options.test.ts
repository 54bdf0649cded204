// The options of `new Socket()`, `connect()` and `createServer()`: what net
// refuses, and how, and what it accepts and applies (found by running the
// same calls against both implementations).
import { once } from 'node:events';

import { connectPair, listenLocal, readAll, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

const notNumbers: unknown[] = [null, true, '1', {}, [1], () => 1];

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('new Socket(null) is a socket with no options', () => {
    const socket = trackSocket(new implementation.Socket(null as never));
    expect(socket).toBeInstanceOf(implementation.Socket);
    expect(socket.allowHalfOpen).toBe(false);
  });

  test.each(notNumbers)('keepAliveInitialDelay %p is refused with ERR_INVALID_ARG_TYPE, by Socket, connect and createServer',
    (delay) => {
      const code = { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' };
      expect(() => trackSocket(new implementation.Socket({ keepAliveInitialDelay: delay } as never))).toThrow(
        expect.objectContaining(code));
      expect(() => trackSocket(implementation.connect({ port: 9, host: '127.0.0.1', keepAliveInitialDelay: delay } as never)))
        .toThrow(expect.objectContaining(code));
      expect(() => trackServer(implementation.createServer({ keepAliveInitialDelay: delay } as never))).toThrow(
        expect.objectContaining(code));
    });

  test.each(['encoding', 'defaultEncoding'])('an unknown %s is refused with ERR_UNKNOWN_ENCODING', (option) => {
    expect(() => trackSocket(new implementation.Socket({ [option]: 'no-such-encoding' } as never))).toThrow(
      expect.objectContaining({ code: 'ERR_UNKNOWN_ENCODING' }));
  });

  test("the encoding option decodes 'data' and defaultEncoding encodes string writes", async () => {
    const server = implementation.createServer((socket) => socket.pipe(socket));
    const port = await listenLocal(server);
    const client = trackSocket(new implementation.Socket({ encoding: 'hex', defaultEncoding: 'base64' } as never));
    client.connect(port, '127.0.0.1');
    await within(once(client, 'connect'), 2000, "the client's 'connect'");
    expect(client.readableEncoding).toBe('hex');
    const chunks: unknown[] = [];
    client.on('data', (chunk) => chunks.push(chunk));
    client.end(Buffer.from('hi!').toString('base64'));
    await within(once(client, 'end'), 2000, "the client's 'end'");
    expect(chunks.every((chunk) => typeof chunk === 'string')).toBe(true);
    expect(chunks.join('')).toBe(Buffer.from('hi!').toString('hex'));
  });

  test("createServer({ allowHalfOpen: 'yes' }): any truthy value keeps the accepted socket's writable side open", async () => {
    const server = implementation.createServer({ allowHalfOpen: 'yes' } as never);
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    expect(socket.allowHalfOpen).toBe(true);
    const received = readAll(client);
    client.end();
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    socket.end('after your end');
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe('after your end');
  });

  test('createServer(options, listener): a listener that is not a function is ignored, as net', () => {
    const server = implementation.createServer({}, null as never);
    expect(server.listenerCount('connection')).toBe(0);
    server.close();
    expect(() => implementation.createServer('options' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('createServer({ highWaterMark: -1 }) gives accepted sockets the default high-water mark', async () => {
    const server = implementation.createServer({ highWaterMark: -1 });
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    const defaults = trackSocket(new implementation.Socket());
    expect(socket.readableHighWaterMark).toBe(defaults.readableHighWaterMark);
    expect(socket.writableHighWaterMark).toBe(defaults.writableHighWaterMark);
  });

  test('a large integer out of range is shown with numerical separators, as Node shows it', () => {
    expect(() => new implementation.Socket(2 ** 53 as never)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('Received 9_007_199_254_740_992') }));
  });
});
