// Themes 7 and 8 of issue 14: counters and members as node:net has them.
// bytesWritten counts bytes written while connecting and is undefined on the
// prototype; the legacy _connecting mirrors connecting; objectMode options are
// refused; resetAndDestroy() on a socket with no connection emits
// ERR_SOCKET_CLOSED.
import * as net from 'node:net';

import { listenLocal, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('bytesWritten counts corked writes made while connecting, before and after connect', async () => {
    // The server reads everything, so that its close never resets the connection.
    const server = net.createServer((socket) => socket.resume().end());
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect(port, '127.0.0.1'));
    socket.cork();
    socket.write('one');
    socket.write(Buffer.from('twø', 'utf8'));
    socket.uncork();
    expect(socket.bytesWritten).toBe(7);
    await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
    expect(socket.bytesWritten).toBe(7);
    socket.resume();
    await within(new Promise((resolve) => socket.once('end', resolve)), 2000, "'end'");
    expect(socket.bytesWritten).toBe(7);
  });

  test('bytesWritten read on the prototype is undefined', () => {
    expect(implementation.Socket.prototype.bytesWritten).toBeUndefined();
  });

  test('_connecting is connecting', async () => {
    const server = net.createServer((socket) => socket.end());
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect(port, '127.0.0.1')) as net.Socket & { _connecting: boolean };
    expect(socket._connecting).toBe(true);
    await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
    expect(socket._connecting).toBe(false);
  });

  test.each(['objectMode', 'readableObjectMode', 'writableObjectMode'])('new Socket({ %s: true }) throws ERR_INVALID_ARG_VALUE', (option) => {
    expect(() => new implementation.Socket({ [option]: true } as net.SocketConstructorOpts))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  test("resetAndDestroy() on a socket with no connection: 'error' ERR_SOCKET_CLOSED, then 'close'", async () => {
    const socket = trackSocket(new implementation.Socket());
    const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.resetAndDestroy();
    expect((await within(error, 2000, "'error'")).code).toBe('ERR_SOCKET_CLOSED');
    await within(closed, 2000, "'close'");
  });
});
