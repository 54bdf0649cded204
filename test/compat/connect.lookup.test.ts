// Themes 5 and 9 of issue 14, issue 12 item 18: what a custom lookup answers
// is checked as node:net checks it. A bad answer is an 'error' on the socket
// on a later tick (ERR_INVALID_IP_ADDRESS, ERR_INVALID_ADDRESS_FAMILY), never
// an uncaught exception; autoSelectFamily: false asks for one address only.
import type { LookupOptions } from 'node:dns';
import * as net from 'node:net';

import { mustCall } from '../helpers';
import { listenLocal, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

type LookupCallback = (error: Error | null, address: unknown, family?: unknown) => void;

function errorOf(socket: net.Socket): Promise<NodeJS.ErrnoException> {
  return within(new Promise((resolve) => socket.once('error', resolve)), 2000, "'error'");
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test.each([
    ['a number', 42, 4, 'ERR_INVALID_IP_ADDRESS'],
    ['an object', { address: '127.0.0.1' }, 4, 'ERR_INVALID_IP_ADDRESS'],
    ['undefined', undefined, 4, 'ERR_INVALID_IP_ADDRESS'],
    ['a name, not an address', 'example.com', 4, 'ERR_INVALID_IP_ADDRESS'],
    ['family 100', '127.0.0.1', 100, 'ERR_INVALID_ADDRESS_FAMILY'],
  ])('a lookup that answers %s: %s on the socket, after connect() returned', async (_label, address, family, code) => {
    const lookup = (_host: string, options: LookupOptions, callback: LookupCallback): void => {
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port: 80, lookup } as unknown as net.NetConnectOpts));
    let returned = false;
    const failed = errorOf(socket);
    returned = true;
    const error = await failed;
    expect(returned).toBe(true);
    expect(error.code).toBe(code);
    await within(new Promise((resolve) => socket.once('close', resolve)), 2000, "'close'");
  });

  test("a lookup asked for all addresses that answers one, as a string: a 'lookup' per character, then ERR_INVALID_IP_ADDRESS", async () => {
    const lookup = (_host: string, options: LookupOptions, callback: LookupCallback): void => {
      expect(options.all).toBe(true);
      process.nextTick(callback, null, '127.0.0.1', 4);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port: 80, lookup, autoSelectFamily: true } as unknown as net.NetConnectOpts));
    const lookups: unknown[][] = [];
    socket.on('lookup', (...args: unknown[]) => lookups.push(args));
    socket.on('connect', mustCall(() => {}, 0));
    expect((await errorOf(socket)).code).toBe('ERR_INVALID_IP_ADDRESS');
    expect(lookups).toEqual(Array.from('127.0.0.1', () => [null, undefined, undefined, 'example.invalid']));
  });

  test('a lookup that fails: its error on the socket, and a lookup event', async () => {
    const failure = Object.assign(new Error('getaddrinfo ENOTFOUND example.invalid'), { code: 'ENOTFOUND' });
    // On a later tick, as dns.lookup answers: 'lookup' listeners added after connect() hear it.
    const lookup = (_host: string, _options: LookupOptions, callback: LookupCallback): void => {
      process.nextTick(callback, failure, undefined);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port: 80, lookup } as unknown as net.NetConnectOpts));
    socket.on('lookup', mustCall((error: Error | null) => expect(error).toBe(failure)));
    expect(await errorOf(socket)).toBe(failure);
  });

  test('autoSelectFamily: false asks the lookup for one address and connects to it', async () => {
    const server = net.createServer((socket) => socket.end());
    const port = await listenLocal(server);
    const seen: LookupOptions[] = [];
    const lookup = (_host: string, options: LookupOptions, callback: LookupCallback): void => {
      seen.push(options);
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port, lookup, autoSelectFamily: false } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
    expect(seen).toHaveLength(1);
    expect(seen[0].all).toBeFalsy();
    expect(socket.remoteAddress).toBe('127.0.0.1');
  });

  test('with a family given, the lookup is asked for that family and one address', async () => {
    const server = net.createServer((socket) => socket.end());
    const port = await listenLocal(server);
    const seen: LookupOptions[] = [];
    const lookup = (_host: string, options: LookupOptions, callback: LookupCallback): void => {
      seen.push(options);
      callback(null, '127.0.0.1', 4);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port, lookup, family: 4 } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
    expect(seen).toEqual([expect.objectContaining({ family: 4 })]);
    expect(seen[0].all).toBeFalsy();
  });

  test.each([
    ['no family', {}, undefined],
    ['family: null', { family: null }, null],
    ['family: 0', { family: 0 }, 0],
    ["family: 'IPv4'", { family: 'IPv4' }, 4],
  ])('with %s, the lookup is asked for the family as given', async (_label, given, expected) => {
    const seen: LookupOptions[] = [];
    const lookup = (_host: string, options: LookupOptions, callback: LookupCallback): void => {
      seen.push(options);
      callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), undefined);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port: 80, lookup, ...given } as unknown as net.NetConnectOpts));
    await errorOf(socket);
    expect(seen).toHaveLength(1);
    expect('family' in seen[0]).toBe(true);
    expect(seen[0].family).toBe(expected);
  });

  test('a host with a NUL byte: thrown before any other check and any lookup from Node 22 on; Node 20 asks the lookup', () => {
    const hosts: string[] = [];
    const lookup = (host: string, _options: LookupOptions, callback: LookupCallback): void => {
      hosts.push(host);
      callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), undefined);
    };
    const connect = (): net.Socket => trackSocket(implementation.connect(
      { host: 'example.invalid\0', port: 80, lookup } as unknown as net.NetConnectOpts)).on('error', () => {});
    if (Number(process.versions.node.split('.')[0]) >= 22) {
      expect(connect).toThrow(expect.objectContaining({
        code: 'ERR_INVALID_ARG_VALUE',
        message: "The property 'options.host' must be a string without null bytes. Received 'example.invalid\\x00'",
      }));
      // Checked before the port is.
      expect(() => implementation.connect({ host: 'a\0', port: -1 })).toThrow(expect.objectContaining({
        code: 'ERR_INVALID_ARG_VALUE',
      }));
      expect(hosts).toEqual([]);
    } else {
      connect();
      expect(hosts).toEqual(['example.invalid\0']);
    }
  });
});

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('a lookup that calls back twice while connecting: the second answer fails the socket with EALREADY, and nothing stays open', async () => {
    const server = net.createServer((socket) => socket.destroy());
    const port = await listenLocal(server);
    const lookup = (_host: string, _options: LookupOptions, callback: LookupCallback): void => {
      callback(null, '127.0.0.1', 4);
      callback(null, '127.0.0.1', 4);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port, autoSelectFamily: false, lookup } as unknown as net.NetConnectOpts));
    socket.on('connect', () => { throw new Error("'connect' after the second answer"); });
    const error = await errorOf(socket);
    expect(error.code).toBe('EALREADY');
    await within(new Promise((resolve) => socket.once('close', resolve)), 2000, "'close'");
    server.close();
  });

  test.each([
    ['localAddress: false', { localAddress: false }],
    ['localAddress: 0', { localAddress: 0 }],
    ['localPort: false', { localPort: false }],
    ["localPort: ''", { localPort: '' }],
  ])('%s binds nothing, as net: the socket connects', async (_label, local) => {
    const server = net.createServer((socket) => socket.end('hi'));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect({ host: '127.0.0.1', port, ...local } as unknown as net.NetConnectOpts));
    await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
    socket.destroy();
    server.close();
  });

  // net's single-address path emits 'lookup' before it checks that it still
  // connects; its every-address path (the default) checks first.
  test.each([
    ['every address (the default)', {}, []],
    ['one address (family: 4)', { family: 4 }, ['lookup 127.0.0.1']],
  ])("destroy() while looking up, %s: 'close', and 'lookup' only where net emits it", async (_label, options, expected) => {
    const lookup = (_host: string, lookupOptions: LookupOptions, callback: LookupCallback): void => {
      setTimeout(() => {
        if (lookupOptions.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
        else callback(null, '127.0.0.1', 4);
      }, 20);
    };
    const socket = trackSocket(implementation.connect({ host: 'example.invalid', port: 9, lookup, ...options } as unknown as net.NetConnectOpts));
    const lookups: string[] = [];
    socket.on('lookup', (_error: Error | null, address: string) => lookups.push(`lookup ${address}`));
    socket.destroy();
    await within(new Promise((resolve) => socket.once('close', resolve)), 2000, "'close'");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lookups).toEqual(expected);
  });
});
