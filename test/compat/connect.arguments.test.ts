// Themes 3 and 8 of issue 14, issue 12 item 18: connect()'s arguments are
// checked as node:net checks them, synchronously and with Node's codes, and
// server.address() (family 'IPv4' / 'IPv6' as a string) can be passed on.
import * as net from 'node:net';

import { listenLocal, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (_name, implementation) => {
  test("connect(server.address()) connects, with family 'IPv4' as a string", async () => {
    const server = net.createServer((socket) => socket.end('ok'));
    const port = await listenLocal(server);
    const address = server.address() as net.AddressInfo;
    expect(address.family).toBe('IPv4');
    // host is not among the fields: as net, it defaults to localhost, and 'IPv4' picks 127.0.0.1.
    const client = trackSocket(implementation.connect({ ...address, port } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    expect(client.remoteAddress).toBe('127.0.0.1');
  });

  test.each([
    ['{ localPort: "0" }', { port: 80, host: '127.0.0.1', localPort: '0' }, 'ERR_INVALID_ARG_TYPE'],
    ['{ localPort: "x" }', { port: 80, host: '127.0.0.1', localPort: 'x' }, 'ERR_INVALID_ARG_TYPE'],
    ['{ port: null }', { port: null, host: '127.0.0.1' }, 'ERR_INVALID_ARG_TYPE'],
    ['{ port: true }', { port: true }, 'ERR_INVALID_ARG_TYPE'],
    ['{ port: 65536 }', { port: 65536 }, 'ERR_SOCKET_BAD_PORT'],
    ['{ localAddress: "x" }', { port: 80, localAddress: 'x' }, 'ERR_INVALID_IP_ADDRESS'],
    ['{ autoSelectFamily: "yes" }', { port: 80, autoSelectFamily: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    ['{ autoSelectFamilyAttemptTimeout: 0 }', { port: 80, autoSelectFamilyAttemptTimeout: 0 }, 'ERR_OUT_OF_RANGE'],
    ['{ family: 5 }', { port: 80, host: 'localhost', family: 5 }, 'ERR_INVALID_ARG_VALUE'],
    ['{}', {}, 'ERR_MISSING_ARGS'],
    ['{ objectMode: true }', { port: 80, objectMode: true }, 'ERR_INVALID_ARG_VALUE'],
    ['{ lookup: 1 }', { port: 80, host: 'localhost', lookup: 1 }, 'ERR_INVALID_ARG_TYPE'],
  ])('connect(%s) throws %s synchronously', (_label, options, code) => {
    expect(() => trackSocket(implementation.connect(options as unknown as net.NetConnectOpts)))
      .toThrow(expect.objectContaining({ code }));
  });

  test.each([
    ['{}', {}, '{}'],
    ['[1]', [1], '[ 1 ]'],
    ['1n', 1n, '1n'],
    ['new Number(1)', new Number(1), '[Number: 1]'],
  ])('a localAddress of %s is named in ERR_INVALID_IP_ADDRESS as net names it', (_label, localAddress, shown) => {
    expect(() => trackSocket(implementation.connect({ port: 80, host: '127.0.0.1', localAddress } as never)))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS', message: `Invalid IP address: ${shown}` }));
  });

  test.each([['before connect()', true], ['after connect()', false]])('connect({ signal }) aborted %s: AbortError, then close', async (_label, early) => {
    const server = net.createServer();
    const port = await listenLocal(server);
    const controller = new AbortController();
    if (early) controller.abort();
    const socket = trackSocket(implementation.connect({ port, host: '127.0.0.1', signal: controller.signal } as net.NetConnectOpts));
    const failed = new Promise<Error>((resolve) => socket.once('error', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    if (!early) controller.abort();
    expect((await within(failed, 2000, "'error'")).name).toBe('AbortError');
    await within(closed, 2000, "'close'");
  });

  test.each([
    ['{ host: 0 }', { host: 0 }],
    ['{ host: false }', { host: false }],
    ['{ path: "" }', { path: '', host: '127.0.0.1' }],
    ['{ path: false }', { path: false, host: '127.0.0.1' }],
    ['{ path: 0 }', { path: 0, host: '127.0.0.1' }],
  ])('a falsy %s is left out, as net: a TCP connection to the port', async (_label, extra) => {
    const server = net.createServer((socket) => socket.end('ok'));
    const port = await listenLocal(server);
    const client = trackSocket(implementation.connect({ port, ...extra } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    expect(client.remotePort).toBe(port);
  });

  test.each([
    ['{ family: true }', { family: true }],
    ['{ family: 5 }', { family: 5 }],
    ['{ lookup: false }', { lookup: false }],
    ['{ lookup: 1 }', { lookup: 1 }],
  ])('to an IP address, %s is not checked, as net looks nothing up: it connects', async (_label, extra) => {
    const server = net.createServer((socket) => socket.end('ok'));
    const port = await listenLocal(server);
    const client = trackSocket(implementation.connect({ port, host: '127.0.0.1', ...extra } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    expect(client.remotePort).toBe(port);
  });

  test('a custom lookup gets the family as given: dns.lookup, not net, checks it', async () => {
    const server = net.createServer((socket) => socket.end('ok'));
    const port = await listenLocal(server);
    const asked: unknown[] = [];
    const lookup = (_host: string, options: { family: unknown; all?: boolean }, callback: (...args: unknown[]) => void): void => {
      asked.push(options.family);
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    };
    const client = trackSocket(implementation.connect({ port, host: 'x.invalid', family: 5, lookup } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    expect(asked).toEqual([5]);
  });

  test.each([null, false, NaN, 0])('connect({ timeout: %p }) sets no timeout, as net.connect sets only a truthy one', async (timeout) => {
    const server = net.createServer((socket) => socket.end('ok'));
    const port = await listenLocal(server);
    const client = trackSocket(implementation.connect({ port, host: '127.0.0.1', timeout } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    expect(client.timeout).toBeUndefined();
  });

  test('connect({ path: false }) with no port: refused on a later tick, as net tries TCP port 0', async () => {
    const client = trackSocket(implementation.connect({ path: false, host: '127.0.0.1' } as unknown as net.NetConnectOpts));
    const error = await within(new Promise<NodeJS.ErrnoException>((resolve) => client.once('error', resolve)), 2000, "'error'");
    expect(error.code).toBe('ECONNREFUSED');
  });

  test("connect(' ') is a port, not a path: ERR_SOCKET_BAD_PORT", () => {
    expect(() => trackSocket(implementation.connect(' '))).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  });
});
