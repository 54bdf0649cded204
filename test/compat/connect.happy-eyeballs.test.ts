// Theme 9 of issue 14: connecting to a host with several addresses, as
// node:net's internalConnectMultiple does it. Each address in turn, families
// alternating; 'connectionAttempt', 'connectionAttemptFailed' and
// 'connectionAttemptTimeout' with net's arguments; autoSelectFamilyAttempted-
// Addresses; an AggregateError when every address fails; and with
// autoSelectFamily: false only the first address.
import type { LookupOptions } from 'node:dns';
import { once } from 'node:events';
import * as net from 'node:net';
import { types } from 'node:util';

import { mustCall } from '../helpers';
import { listenLocal, startChild, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

type LookupCallback = (error: Error | null, address: unknown, family?: unknown) => void;

/**
 * A lookup that answers `addresses` (all of them when asked for all, else the
 * first) on a later tick, as dns.lookup does, so listeners added after
 * connect() hear every attempt.
 */
function mockedLookup(...addresses: string[]) {
  return (_host: string, options: LookupOptions, callback: LookupCallback): void => {
    const entries = addresses.map((address) => ({ address, family: net.isIP(address) }));
    if (options.all) process.nextTick(callback, null, entries);
    else process.nextTick(callback, null, entries[0].address, entries[0].family);
  };
}

/** Every connectionAttempt* event of `socket`, in order, with its arguments. */
function recordAttempts(socket: net.Socket): unknown[][] {
  const events: unknown[][] = [];
  for (const name of ['connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout']) {
    socket.on(name, (...args: unknown[]) => {
      const last = args[args.length - 1];
      // The error of a failed attempt, by its code and message (node:net's
      // errors come from another realm than jest's Error).
      if (types.isNativeError(last)) args[args.length - 1] = [(last as NodeJS.ErrnoException).code, last.message];
      events.push([name, ...args]);
    });
  }
  return events;
}

/** A port on 127.0.0.1 where nothing listens any more. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listenLocal(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function connected(socket: net.Socket): Promise<unknown> {
  return within(once(socket, 'connect'), 5000, "'connect'");
}

function failed(socket: net.Socket): Promise<NodeJS.ErrnoException & { errors?: Error[] }> {
  return within(new Promise((resolve) => socket.once('error', resolve)), 5000, "'error'");
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('::1 refused, then 127.0.0.1 connects: both attempts, their events and the attempted addresses', async () => {
    const server = trackServer(net.createServer((socket) => socket.end()));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect({
      host: 'example.invalid', port, lookup: mockedLookup('::1', '127.0.0.1'), autoSelectFamily: true,
      autoSelectFamilyAttemptTimeout: 2000,
    } as unknown as net.NetConnectOpts));
    const events = recordAttempts(socket);
    socket.on('ready', mustCall(() => {
      expect(socket.autoSelectFamilyAttemptedAddresses).toEqual([`::1:${port}`, `127.0.0.1:${port}`]);
    }));
    await connected(socket);
    expect(events).toEqual([
      ['connectionAttempt', '::1', port, 6],
      ['connectionAttemptFailed', '::1', port, 6, ['ECONNREFUSED', `connect ECONNREFUSED ::1:${port}`]],
      ['connectionAttempt', '127.0.0.1', port, 4],
    ]);
    expect(socket.remoteAddress).toBe('127.0.0.1');
  });

  test('families alternate, starting with the first one the lookup answered', async () => {
    const server = trackServer(net.createServer((socket) => socket.end()));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect({
      host: 'example.invalid', port, lookup: mockedLookup('127.0.0.1', '127.0.0.1', '::1'),
    } as unknown as net.NetConnectOpts));
    const events = recordAttempts(socket);
    await connected(socket);
    // The duplicate is tried once; 127.0.0.1 answers, so ::1 is never tried.
    expect(socket.autoSelectFamilyAttemptedAddresses).toEqual([`127.0.0.1:${port}`]);
    expect(events).toEqual([['connectionAttempt', '127.0.0.1', port, 4]]);
  });

  test('every address refused: an AggregateError of each attempt\'s error, code of the first', async () => {
    const port = await closedPort();
    const socket = trackSocket(implementation.connect({
      host: 'example.invalid', port, lookup: mockedLookup('::1', '127.0.0.1'),
    } as unknown as net.NetConnectOpts));
    const events = recordAttempts(socket);
    socket.on('connect', mustCall(() => {}, 0));
    const error = await failed(socket);
    expect(error.constructor.name).toBe('AggregateError');
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.errors!.map((each) => each.message)).toEqual([
      `connect ECONNREFUSED ::1:${port}`, `connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    expect(error.errors!.map((each) => (each as NodeJS.ErrnoException).syscall)).toEqual(['connect', 'connect']);
    expect(socket.autoSelectFamilyAttemptedAddresses).toEqual([`::1:${port}`, `127.0.0.1:${port}`]);
    expect(events.map((event) => event[0])).toEqual([
      'connectionAttempt', 'connectionAttemptFailed', 'connectionAttempt', 'connectionAttemptFailed',
    ]);
    await within(once(socket, 'close'), 2000, "'close'");
  });

  test('autoSelectFamily: false tries the first address only, and its error is the socket\'s', async () => {
    const server = trackServer(net.createServer(mustCall(() => {}, 0)));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect({
      host: 'example.invalid', port, lookup: mockedLookup('::1', '127.0.0.1'), autoSelectFamily: false,
    } as unknown as net.NetConnectOpts));
    const events = recordAttempts(socket);
    const error = await failed(socket);
    expect(error.constructor.name).not.toBe('AggregateError');
    expect(error.code).toBe('ECONNREFUSED');
    expect(error.message).toBe(`connect ECONNREFUSED ::1:${port}`);
    expect(socket.autoSelectFamilyAttemptedAddresses).toBeUndefined();
    expect(events).toEqual([
      ['connectionAttempt', '::1', port, 6],
      ['connectionAttemptFailed', '::1', port, 6, ['ECONNREFUSED', `connect ECONNREFUSED ::1:${port}`]],
    ]);
  });

  test('an address given as an IP: one connectionAttempt, no attempted-addresses list', async () => {
    const server = trackServer(net.createServer((socket) => socket.end()));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect({ host: '127.0.0.1', port }));
    const events = recordAttempts(socket);
    await connected(socket);
    expect(events).toEqual([['connectionAttempt', '127.0.0.1', port, 4]]);
    expect(socket.autoSelectFamilyAttemptedAddresses).toBeUndefined();
  });

  test('an address that does not answer within the attempt timeout is given up for the next', async () => {
    // A listener on ::1 whose process never accepts (its event loop is
    // blocked), with a backlog of 1: once two connections fill its accept
    // queue, the kernel drops further SYNs, so a connect there stays pending.
    const stuck = startChild('node:net', [
      "const listener = require('node:net').createServer();",
      "listener.listen({ port: 0, host: '::1', backlog: 1 }, () => {",
      '  report({ port: listener.address().port });',
      '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);',
      '});',
    ].join('\n'));
    const port = (await stuck.next((line) => typeof line.port === 'number')).port as number;
    const fillers: net.Socket[] = [];
    for (let i = 0; i < 2; i++) {
      fillers.push(trackSocket(net.connect({ host: '::1', port })));
      await connected(fillers[i]);
    }
    const server = trackServer(net.createServer((socket) => socket.end()));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    const socket = trackSocket(implementation.connect({
      host: 'example.invalid', port, lookup: mockedLookup('::1', '127.0.0.1'), autoSelectFamilyAttemptTimeout: 10,
    } as unknown as net.NetConnectOpts));
    const events = recordAttempts(socket);
    await connected(socket);
    expect(events).toEqual([
      ['connectionAttempt', '::1', port, 6],
      ['connectionAttemptTimeout', '::1', port, 6],
      ['connectionAttempt', '127.0.0.1', port, 4],
    ]);
    expect(socket.autoSelectFamilyAttemptedAddresses).toEqual([`::1:${port}`, `127.0.0.1:${port}`]);
    expect(socket.remoteAddress).toBe('127.0.0.1');
    // Before the listener goes, or its end resets them.
    for (const filler of fillers) filler.destroy();
    await stuck.kill();
  });

  test('a Unix path: the attempt events carry the path and no port or family', async () => {
    const path = '/nonexistent/compat.sock';
    const socket = trackSocket(new implementation.Socket());
    const events = recordAttempts(socket);
    socket.connect({ path });
    // As net: a Unix connect starts within connect(), with no lookup.
    expect(events).toEqual([['connectionAttempt', path, undefined, undefined]]);
    const error = await failed(socket);
    expect(error.code).toBe('ENOENT');
    // libuv reports every error of a Unix connect later, as a failed attempt.
    expect(events).toEqual([
      ['connectionAttempt', path, undefined, undefined],
      ['connectionAttemptFailed', path, undefined, undefined, ['ENOENT', `connect ENOENT ${path}`]],
    ]);
  });
});
