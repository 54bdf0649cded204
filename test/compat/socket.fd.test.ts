// Theme 9 of issue 14: new Socket({ fd }) takes a connected socket over, as
// net's does; the fd is checked with net's codes first.
import * as fs from 'node:fs';
import * as net from 'node:net';

import { listenLocal, startChild, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

/**
 * A connected TCP socket for a child's fd 3: the parent connects to `port`,
 * the child inherits a duplicate, and the parent closes its own before the
 * peer sends anything, so the child's fd is the only one reading.
 */
async function connectedFdForChild(port: number): Promise<net.Socket> {
  const client = trackSocket(net.connect(port, '127.0.0.1'));
  await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "the client's 'connect'");
  client.pause();
  return client;
}

function echoServer(): net.Server {
  return trackServer(net.createServer((socket) => {
    socket.on('data', (data) => socket.end(`echo:${data}`));
  }));
}

describe.each(netImplementations)('%s', (name, implementation) => {
  test.each([
    ['-1', 'ERR_OUT_OF_RANGE', -1],
    ["'foo'", 'ERR_INVALID_ARG_TYPE', 'foo'],
    ['1.5', 'ERR_OUT_OF_RANGE', 1.5],
  ])('fd %s is refused with %s', (_label, code, fd) => {
    expect(() => new implementation.Socket({ fd } as unknown as net.SocketConstructorOpts)).toThrow(
      expect.objectContaining({ code }));
  });

  // The type named is libuv's uv_guess_handle's: a file or a character
  // device is FILE, anything else that is no socket, pipe or terminal UNKNOWN.
  test.each([
    ['a regular file', 'FILE', __filename],
    ['a character device', 'FILE', '/dev/null'],
    ['a directory', 'UNKNOWN', __dirname],
  ])('an fd of %s is ERR_INVALID_FD_TYPE %s', (_what, type, file) => {
    const fd = fs.openSync(file, 'r');
    try {
      expect(() => new implementation.Socket({ fd })).toThrow(expect.objectContaining({
        code: 'ERR_INVALID_FD_TYPE', message: `Unsupported fd type: ${type}`,
      }));
    } finally {
      fs.closeSync(fd);
    }
  });

  test.each([
    ['{ fd }', '{ fd: 3 }'],
    ['the legacy number', '3'],
  ])('a connected socket given as %s is read and written, open at once', async (_label, argument) => {
    const port = await listenLocal(echoServer());
    const client = await connectedFdForChild(port);
    const child = startChild(name, [
      `const socket = new netModule.Socket(${argument});`,
      'report({ readable: socket.readable, writable: socket.writable, pending: socket.pending,',
      '  connecting: socket.connecting, remotePort: socket.remotePort });',
      "socket.on('data', (data) => report({ data: String(data) }));",
      "socket.on('close', () => report({ closed: true }));",
      "socket.write('from-child');",
    ].join('\n'), [(client as unknown as { _handle: { fd: number } })._handle.fd]);
    client.destroy();
    expect(await child.next((line) => 'readable' in line)).toEqual({
      readable: true, writable: true, pending: false, connecting: false, remotePort: port,
    });
    expect(await child.next((line) => 'data' in line)).toEqual({ data: 'echo:from-child' });
    await child.next((line) => line.closed === true);
    expect(await child.exitWithin(5000)).toBe(0);
  });

  test('readable: false leaves the read side closed, the write side open', async () => {
    const port = await listenLocal(echoServer());
    const client = await connectedFdForChild(port);
    const child = startChild(name, [
      'const socket = new netModule.Socket({ fd: 3, readable: false });',
      'report({ readable: socket.readable, writable: socket.writable });',
      'socket.destroy();',
    ].join('\n'), [(client as unknown as { _handle: { fd: number } })._handle.fd]);
    client.destroy();
    expect(await child.next((line) => 'readable' in line)).toEqual({ readable: false, writable: true });
    expect(await child.exitWithin(5000)).toBe(0);
  });
});
