// connect() on a socket that is already connected or connecting, as net's
// goes: it does not throw. libuv makes a second connect(2), whose answer
// Linux gives: EALREADY while the first is in flight; 0 the first time after
// a socket's own handshake (Linux moves it to connected only then), so
// 'connect' comes again; EISCONN after that, and for an accepted socket.
// Node 20 to 26 agree on each case.
import { once } from 'node:events';
import * as net from 'node:net';

import { acceptedSocket, listenLocal, readAll, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { implementations, netImplementations } from './implementations';

useCompatHarness();

/** 'close' (with hadError), without once()'s rejection on the 'error' before it. */
function closed(socket: net.Socket): Promise<boolean> {
  return within(new Promise((resolve) => socket.once('close', resolve)), 2000, "'close'");
}

interface Failure { code?: string; syscall?: string; address?: string; port?: number; message: string }

/** What a socket's 'error' carries, with the local port made comparable. */
function failure(error: Failure, localPort: number | undefined): Failure {
  return {
    code: error.code, syscall: error.syscall, address: error.address, port: error.port,
    message: error.message.replace(` - Local (127.0.0.1:${localPort})`, ' - Local (127.0.0.1:<local>)'),
  };
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('while connecting: it returns the socket, and the second attempt fails it with EALREADY', async () => {
    const server = trackServer(net.createServer((socket) => socket.resume()));
    const port = await listenLocal(server);
    const client = trackSocket(implementation.connect(port, '127.0.0.1'));
    const events: string[] = [];
    client.on('connect', () => events.push('connect'));
    let error: Failure | undefined;
    client.on('error', (e: Failure) => { error = e; });
    expect(client.connect(port, '127.0.0.1', () => events.push('listener'))).toBe(client);
    expect(client.connecting).toBe(true);
    expect(await closed(client)).toBe(true);
    expect(events).toEqual([]);
    // net's message names the local end too (it has the handle to ask); the package's leaves it out.
    expect(error).toMatchObject({ code: 'EALREADY', syscall: 'connect', address: '127.0.0.1', port });
    expect(error!.message).toMatch(new RegExp(`^connect EALREADY 127\\.0\\.0\\.1:${port}( - Local \\(.*\\))?$`));
  });

  test('connected: the first call gives \'connect\' again (bytes written meanwhile go after it), the next EISCONN', async () => {
    const server = trackServer(net.createServer());
    const port = await listenLocal(server);
    const received = acceptedSocket(server).then((socket) => readAll(socket));
    const client = trackSocket(implementation.connect(port, '127.0.0.1'));
    await within(once(client, 'connect'), 2000, "'connect'");
    const events: string[] = [];
    client.on('connect', () => events.push('connect'));
    client.on('ready', () => events.push('ready'));
    const localPort = client.localPort;
    let error: Failure | undefined;
    client.on('error', (e: Failure) => { error = failure(e, localPort); });
    client.write('a');
    expect(client.connect(port, '127.0.0.1', () => events.push('listener'))).toBe(client);
    expect(client.connecting).toBe(true);
    expect(client.pending).toBe(true);
    client.write('b');
    await within(once(client, 'connect'), 2000, "the second 'connect'");
    expect(client.connecting).toBe(false);
    client.write('c');
    // A third connect(2) finds the socket connected.
    client.connect(port, '127.0.0.1');
    expect(await closed(client)).toBe(true);
    expect(events).toEqual(['connect', 'listener', 'ready']);
    expect(error).toEqual({
      code: 'EISCONN', syscall: 'connect', address: '127.0.0.1', port,
      message: `connect EISCONN 127.0.0.1:${port} - Local (127.0.0.1:<local>)`,
    });
    expect((await within(received, 2000, 'what the server read')).toString()).toBe('abc');
  });
});

describe.each(implementations)('%s', (_name, createServer) => {
  test('an accepted socket: connect() fails it with EISCONN', async () => {
    const server = trackServer(createServer());
    const port = await listenLocal(server);
    const client = trackSocket(net.connect(port, '127.0.0.1'));
    client.on('error', () => {});
    const accepted = await acceptedSocket(server);
    let error: Failure | undefined;
    accepted.on('error', (e: Failure) => { error = failure(e, port); });
    expect(accepted.connect(client.localPort!, '127.0.0.1')).toBe(accepted);
    expect(await closed(accepted)).toBe(true);
    expect(error).toEqual({
      code: 'EISCONN', syscall: 'connect', address: '127.0.0.1', port: client.localPort,
      message: `connect EISCONN 127.0.0.1:${client.localPort} - Local (127.0.0.1:<local>)`,
    });
  });
});
