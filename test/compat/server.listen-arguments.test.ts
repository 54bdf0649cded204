// Theme 6 of issue 14, issue 12 item 22: listen() and close() take what
// node:net takes. listen(' ') and listen('') are ports (and bad ones),
// listen({ path: '' }) is invalid, a port comes before a path; a close() in
// the same tick as listen() means no 'listening'; close() ignores a callback
// that is not a function.
import * as fs from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';

import { mustNotCall } from '../helpers';
import { delay, trackServer, unixSocketPath, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (_name, createServer) => {
  test.each([
    ["' '", [' '], 'ERR_SOCKET_BAD_PORT'],
    ["''", [''], 'ERR_SOCKET_BAD_PORT'],
    ["{ path: '' }", [{ path: '' }], 'ERR_INVALID_ARG_VALUE'],
    ["{ path: ' ' }", [{ path: ' ' }], 'ERR_INVALID_ARG_VALUE'],
    ['{ port: -1, path }', [{ port: -1, path: 'unused.sock' }], 'ERR_SOCKET_BAD_PORT'],
    ['{}', [{}], 'ERR_INVALID_ARG_VALUE'],
    ['true', [true], 'ERR_INVALID_ARG_VALUE'],
    ['{ fd: -1 }', [{ fd: -1 }], 'ERR_INVALID_ARG_VALUE'],
    ['{ path: -1 }', [{ path: -1 }], 'ERR_INVALID_ARG_VALUE'],
  ])('listen(%s) throws %s and creates nothing', (_label, args, code) => {
    const cwd = fs.readdirSync(process.cwd());
    const server = trackServer(createServer());
    expect(() => (server.listen as (...a: unknown[]) => unknown)(...args)).toThrow(expect.objectContaining({ code }));
    expect(server.listening).toBe(false);
    expect(fs.readdirSync(process.cwd())).toEqual(cwd);
  });

  test("listen(0, callback) then close() in the same tick: no 'listening', no callback, one 'close'", async () => {
    const server = trackServer(createServer());
    server.listen(0, '127.0.0.1', mustNotCall('the listen callback'));
    server.on('listening', mustNotCall("'listening'"));
    const closed = new Promise((resolve) => server.once('close', resolve));
    server.close();
    await within(closed, 2000, "'close'");
    await delay(50);
  });

  test('listen(path) then close() in the same tick: no listening, and no socket file left', async () => {
    const socketPath = unixSocketPath();
    const server = trackServer(createServer());
    server.listen(socketPath, mustNotCall('the listen callback'));
    server.close();
    await within(new Promise((resolve) => server.once('close', resolve)), 2000, "'close'");
    await delay(50);
    expect(fs.existsSync(socketPath)).toBe(false);
    expect(fs.readdirSync(path.dirname(socketPath))).toEqual([]);
  });

  test.each([
    ['[]', [[]], 'Received []'],
    ['new Number(1)', [new Number(1)], 'Received [Number: 1]'],
    ['{ handle: {} }', [{ handle: {} }], 'Received {}'],
    ['{ _handle: {} }', [{ _handle: {} }], 'Received {}'],
  ])('listen(%s) throws ERR_INVALID_ARG_VALUE showing the options net looked at', (_label, args, shown) => {
    const server = trackServer(createServer());
    expect(() => (server.listen as (...a: unknown[]) => unknown)(...args)).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_VALUE',
      message: `The argument 'options' must have the property "port" or "path". ${shown}`,
    }));
  });

  test.each([
    ['a closed fd', () => ({ fd: 19000 })],
    ['a file', (file: number) => ({ fd: file })],
    ['fd 1.5', () => ({ fd: 1.5 })],
    ['fd 2 ** 31', () => ({ fd: 2 ** 31 })],
    ['{ handle: { fd } } of a closed fd', () => ({ handle: { fd: 19000 } })],
  ])("listen(%s): 'error' EINVAL on a later tick, as net cannot wrap it", async (_label, optionsFor) => {
    const file = fs.openSync(__filename, 'r');
    try {
      const server = trackServer(createServer());
      let returned = false;
      const failed = within(new Promise<NodeJS.ErrnoException>((resolve) => server.once('error', resolve)), 2000, "'error'");
      server.listen(optionsFor(file), mustNotCall('the listen callback'));
      returned = true;
      const error = await failed;
      expect(returned).toBe(true);
      expect({ code: error.code, syscall: error.syscall, message: error.message })
        .toEqual({ code: 'EINVAL', syscall: 'listen', message: 'listen EINVAL: invalid argument' });
      expect(server.listening).toBe(false);
      expect(fs.fstatSync(file).isFile()).toBe(true);  // not closed by the attempt
    } finally {
      fs.closeSync(file);
    }
  });

  test('listen(fn, host) listens on a port of its choosing on that host, and fn is not the listen callback', async () => {
    const server = trackServer(createServer());
    server.listen(mustNotCall('the first argument') as unknown as number, '127.0.0.1');
    await within(new Promise((resolve) => server.once('listening', resolve)), 2000, "'listening'");
    const address = server.address() as net.AddressInfo;
    expect(address.address).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    const client = net.connect(address.port, '127.0.0.1');
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    client.destroy();
  });

  test("a path server's address() is the path from listen() on: in the same tick, after a failed listen, and after close()", async () => {
    const missing = path.join(path.dirname(unixSocketPath()), 'no-such-dir', 'x.sock');
    const failing = trackServer(createServer());
    failing.listen(missing);
    const failed = within(once(failing, 'error'), 2000, "'error'");
    expect(failing.address()).toBe(missing);
    const [error] = await failed;
    expect((error as NodeJS.ErrnoException).code).toBe('EACCES');
    expect(failing.address()).toBe(missing);

    const socketPath = unixSocketPath();
    const server = trackServer(createServer());
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    expect(server.address()).toBe(socketPath);
    await new Promise((resolve) => server.close(resolve));
    expect(server.address()).toBe(socketPath);
  });

  test('close() with a callback that is not a function ignores it', async () => {
    const server = trackServer(createServer());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    expect(() => (server.close as (cb: unknown) => unknown)('not a function')).not.toThrow();
    await within(new Promise((resolve) => server.once('close', resolve)), 2000, "'close'");
  });
});
