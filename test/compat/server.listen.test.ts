// listen() in its forms, as net.Server#listen: options object, port only,
// host name, Unix socket path, an inherited fd; EADDRINUSE as an 'error' on a
// later tick; the arguments it refuses synchronously.
import { once } from 'node:events';
import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { execFileSync } from 'node:child_process';
import { types } from 'node:util';

import { mustCall, mustNotCall } from '../helpers';
import {
  acceptedSocket, connectClient, connectPair, listenLocal, readAll, startChild, trackServer, trackSocket,
  unixSocketPath, useCompatHarness, within,
} from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (name, createServer) => {
  test("listen({ port: 0, host: '127.0.0.1', backlog: 10 }, cb) binds 127.0.0.1 and calls cb once", async () => {
    const server = trackServer(createServer((socket) => socket.end('ok')));
    server.on('listening', mustCall());
    const listening = new Promise<void>((resolve) => {
      server.listen({ port: 0, host: '127.0.0.1', backlog: 10 }, mustCall(() => resolve()));
    });
    await within(listening, 2000, 'the listen callback');
    expect(server.listening).toBe(true);
    const address = server.address() as net.AddressInfo;
    expect(address).toEqual({ address: '127.0.0.1', family: 'IPv4', port: expect.any(Number) });
    expect(address.port).toBeGreaterThan(0);
    const client = await connectClient(address.port);
    expect((await within(readAll(client), 2000, 'the reply')).toString()).toBe('ok');
  });

  test('listen(0) without a host binds the default address at once', async () => {
    const reference = trackServer(net.createServer()).listen(0);
    await once(reference, 'listening');
    const expected = reference.address() as net.AddressInfo;
    await new Promise((resolve) => reference.close(resolve));

    const server = trackServer(createServer());
    server.on('listening', mustCall());
    server.listen(0);
    // With no host, node:net binds synchronously: address() works right away.
    expect(server.listening).toBe(true);
    const address = server.address() as net.AddressInfo;
    expect(address).toEqual({ address: expected.address, family: expected.family, port: expect.any(Number) });
    await within(once(server, 'listening'), 2000, "'listening'");

    // A dual-stack server sees an IPv4 client as an IPv4-mapped IPv6 address.
    const { socket } = await connectPair(server, address.port);
    const mapped = expected.family === 'IPv6';
    expect(socket.remoteAddress).toBe(mapped ? '::ffff:127.0.0.1' : '127.0.0.1');
    expect(socket.remoteFamily).toBe(mapped ? 'IPv6' : 'IPv4');
    expect(socket.localAddress).toBe(mapped ? '::ffff:127.0.0.1' : '127.0.0.1');
  });

  test('listen({ port: 0, host }) with a falsy host binds the unspecified address; a truthy non-string throws', async () => {
    for (const host of [false, 0]) {
      const server = trackServer(createServer()).listen({ port: 0, host: host as unknown as string });
      await within(once(server, 'listening'), 2000, "'listening'");
      expect((server.address() as net.AddressInfo).address).toBe('::');
      await new Promise((resolve) => server.close(resolve));
    }
    expect(() => trackServer(createServer()).listen({ port: 0, host: true as unknown as string })).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARG_TYPE',
        message: 'The "hostname" argument must be of type string. Received type boolean (true)',
      }));
  });

  test("listen('0', '127.0.0.1', 5, cb): a numeric string port and a backlog", async () => {
    const server = trackServer(createServer());
    // Ports often come from the environment as strings; @types/node says number.
    const port = '0' as unknown as number;
    await within(new Promise<void>((resolve) => server.listen(port, '127.0.0.1', 5, mustCall(() => resolve()))),
      2000, 'the listen callback');
    const address = server.address() as net.AddressInfo;
    expect(address.address).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
  });

  test("listen(0, 'localhost') binds the address dns.lookup gives for localhost", async () => {
    const { address: expected } = await dns.promises.lookup('localhost');
    const server = trackServer(createServer());
    server.on('listening', mustCall());
    server.listen(0, 'localhost');
    await within(once(server, 'listening'), 2000, "'listening'");
    expect((server.address() as net.AddressInfo).address).toBe(expected);
  });

  test('listen(path) serves a Unix socket, whose sockets have no TCP addresses, and close() removes the file', async () => {
    const socketPath = unixSocketPath();
    const server = trackServer(createServer((socket) => socket.resume().end('over unix')));
    server.on('listening', mustCall());
    server.listen(socketPath);
    expect(server.address()).toBe(socketPath);
    await within(once(server, 'listening'), 2000, "'listening'");

    const client = trackSocket(net.connect(socketPath));
    const reply = within(readAll(client), 2000, 'the reply');
    const socket = await acceptedSocket(server);
    expect(socket.remoteAddress).toBeUndefined();
    expect(socket.remotePort).toBeUndefined();
    expect(socket.remoteFamily).toBeUndefined();
    expect(socket.localAddress).toBeUndefined();
    expect(socket.localPort).toBeUndefined();
    expect(socket.address()).toEqual({});
    expect((await reply).toString()).toBe('over unix');

    await within(new Promise((resolve) => server.close(resolve)), 2000, "the server's 'close'");
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  test('listen({ path }, cb) is the same as listen(path, cb)', async () => {
    const socketPath = unixSocketPath();
    const server = trackServer(createServer((socket) => socket.end('hi')));
    await within(new Promise<void>((resolve) => server.listen({ path: socketPath }, mustCall(() => resolve()))),
      2000, 'the listen callback');
    expect(server.address()).toBe(socketPath);
    const client = trackSocket(net.connect(socketPath));
    expect((await within(readAll(client), 2000, 'the reply')).toString()).toBe('hi');
  });

  test("a taken port gives EADDRINUSE as an 'error' on a later tick, and the server can listen again", async () => {
    const first = trackServer(createServer());
    const port = await listenLocal(first);
    const second = trackServer(createServer());
    second.on('listening', mustNotCall("'listening' after EADDRINUSE"));
    second.listen(port, '127.0.0.1');
    // Listening for 'error' only after listen() returned still catches it.
    const [error] = await within(once(second, 'error'), 2000, "'error'");
    // Node's errors come from outside jest's realm, so instanceof Error cannot tell.
    expect(types.isNativeError(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'EADDRINUSE',
      errno: -98,
      syscall: 'listen',
      address: '127.0.0.1',
      port,
      message: `listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
    });
    expect(second.listening).toBe(false);
    expect(second.address()).toBeNull();

    // The documented recovery: listen again elsewhere on the same server.
    second.removeAllListeners('listening');
    second.listen(0, '127.0.0.1');
    await within(once(second, 'listening'), 2000, "'listening' on the second try");
    expect((second.address() as net.AddressInfo).port).not.toBe(port);
  });

  test('listen() on a listening server throws ERR_SERVER_ALREADY_LISTEN', async () => {
    const server = trackServer(createServer());
    await listenLocal(server);
    expect(() => server.listen(0)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
  });

  test("listen(0, '127.0.0.1') binds on a later tick, as net's lookup of even an IP address does", async () => {
    const server = trackServer(createServer());
    server.listen(0, '127.0.0.1');
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
    await within(once(server, 'listening'), 2000, "'listening'");
    expect(server.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port: expect.any(Number) });
  });

  test('a second listen() while the first looks its host up replaces it: one listening, both callbacks', async () => {
    for (const [first, second, expected] of [
      ['127.0.0.1', '::1', '::1'], ['localhost', '127.0.0.1', '127.0.0.1'], ['127.0.0.1', undefined, undefined],
    ] as const) {
      const server = trackServer(createServer());
      const events: string[] = [];
      server.on('listening', () => events.push('listening'));
      server.listen(0, first, () => events.push('first'));
      expect(() => server.listen(0, second as string, () => events.push('second'))).not.toThrow();
      await within(once(server, 'listening'), 2000, "'listening'");
      await new Promise((resolve) => setTimeout(resolve, 50));  // a first lookup that was not dropped would bind by now
      expect(events).toEqual(['listening', 'first', 'second']);
      const address = server.address() as net.AddressInfo;
      // Without a host: the default address, bound at once (:: or 0.0.0.0).
      if (expected !== undefined) expect(address.address).toBe(expected);
      else expect(['::', '0.0.0.0']).toContain(address.address);
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("close() before an IP address's lookup ends: no 'listening', and the callback gets ERR_SERVER_NOT_RUNNING", async () => {
    const server = trackServer(createServer());
    server.on('listening', mustNotCall("'listening'"));
    server.listen(0, '127.0.0.1');
    const error = await within(new Promise<Error | undefined>((resolve) => server.close(resolve)), 2000, 'close');
    expect(error).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.listening).toBe(false);
  });

  test.each([65536, -1, 1.5])('listen(%p) throws ERR_SOCKET_BAD_PORT synchronously', (port) => {
    const server = trackServer(createServer());
    server.on('listening', mustNotCall("'listening'"));
    expect(() => server.listen(port, '127.0.0.1')).toThrow(expect.objectContaining({
      name: 'RangeError',
      code: 'ERR_SOCKET_BAD_PORT',
    }));
    expect(server.listening).toBe(false);
  });

  test('listen({ fd }) serves a listening socket inherited from the parent process', async () => {
    // A node:net server in this process creates the listening socket; the
    // child inherits it as fd 3, then this process closes its own copy so
    // that only the child accepts.
    const holder = trackServer(net.createServer());
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as net.AddressInfo;
    const fd = (holder as unknown as { _handle: { fd: number } })._handle.fd;
    const child = startChild(name, `
      const server = createServer((socket) => socket.end('from the child'));
      server.on('error', (error) => report({ error: error.code ?? error.message }));
      server.listen({ fd: 3 }, () => report({ listening: server.address() }));
    `, [fd]);
    await new Promise((resolve) => holder.close(resolve));
    const line = await child.next((l) => 'listening' in l || 'error' in l);
    expect(line).toEqual({ listening: { address: '127.0.0.1', family: 'IPv4', port } });
    const client = await connectClient(port);
    expect((await within(readAll(client), 2000, 'the reply')).toString()).toBe('from the child');
    await child.kill();
  });

  test("listen() on a path in a directory that does not exist: 'error' EACCES, as libuv reports it, with net's port -1", async () => {
    const server = trackServer(createServer());
    const socketPath = `${unixSocketPath()}-missing/server.sock`;
    server.listen(socketPath);
    const [error] = await within(once(server, 'error'), 2000, "'error'") as [NodeJS.ErrnoException & { port?: number }];
    expect(error).toMatchObject({ code: 'EACCES', syscall: 'listen', address: socketPath, port: -1 });
    expect(error.message).toBe(`listen EACCES: permission denied ${socketPath}`);
    expect(server.listening).toBe(false);
  });

  test("a path already listened on: 'error' EADDRINUSE with the path and net's port -1", async () => {
    const socketPath = unixSocketPath();
    const first = trackServer(createServer());
    await new Promise<void>((resolve) => first.listen(socketPath, resolve));
    const second = trackServer(createServer());
    second.listen(socketPath);
    const [error] = await within(once(second, 'error'), 2000, "'error'") as [NodeJS.ErrnoException & { port?: number }];
    expect(error).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', address: socketPath, port: -1 });
    expect(error.message).toBe(`listen EADDRINUSE: address already in use ${socketPath}`);
  });

  test.each([{ readableAll: true }, { writableAll: true }, { readableAll: true, writableAll: true }])(
    'listen({ path, %p }): the socket file gets the mode net gives it on this Node', async (access) => {
      const modeAfterListen = async (create: typeof createServer): Promise<number> => {
        const server = trackServer(create());
        const socketPath = unixSocketPath();
        server.listen({ path: socketPath, ...access });
        await within(once(server, 'listening'), 2000, "'listening'");
        const mode = fs.statSync(socketPath).mode & 0o777;
        await new Promise((resolve) => server.close(resolve));
        return mode;
      };
      const expected = await modeAfterListen(net.createServer);
      expect(await modeAfterListen(createServer)).toBe(expected);
    });

  // The backlog the kernel reports for a listening socket (ss's Send-Q).
  const kernelBacklogOf = (port: number): number =>
    Number(execFileSync('ss', ['-ltnH', `sport = :${port}`]).toString().trim().split(/\s+/)[2]);
  const somaxconn = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

  test.each<[string, unknown[], number | 'somaxconn']>([
    ['(port, host, -1): not a backlog, so 511', [0, '127.0.0.1', -1], 511],
    ['(port, host, 1.5): its int32 value', [0, '127.0.0.1', 1.5], 1],
    ["(port, host, 'x'): not a number, so 511", [0, '127.0.0.1', 'x'], 511],
    ['(port, host, 0): none, so 511', [0, '127.0.0.1', 0], 511],
    ['(port, host, 7)', [0, '127.0.0.1', 7], 7],
    ["({ backlog: 'x' }): its int32 value, 0", [{ port: 0, host: '127.0.0.1', backlog: 'x' }], 0],
    ['({ backlog: -1 }): the kernel maximum', [{ port: 0, host: '127.0.0.1', backlog: -1 }], 'somaxconn'],
    ['({ backlog: 3 }, 9): the option first', [{ port: 0, host: '127.0.0.1', backlog: 3 }, 9], 3],
  ])('listen%s listens, with the backlog net gives the kernel', async (_label, args, expected) => {
    const server = trackServer(createServer());
    (server.listen as (...a: unknown[]) => net.Server)(...args);
    await within(once(server, 'listening'), 2000, "'listening'");
    const port = (server.address() as net.AddressInfo).port;
    expect(kernelBacklogOf(port)).toBe(expected === 'somaxconn' ? somaxconn : expected);
  });
});
