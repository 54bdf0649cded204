// Issue 14: node:net's diagnostics_channel messages, published by the package
// at the same moments: 'net.server.socket' for each accepted connection,
// 'net.client.socket' for each outbound socket (from net.connect() on Node
// 20, from every Socket#connect() from Node 22), and the tracing channel
// 'net.server.listen' (asyncStart with the options, then asyncEnd, or error).
import * as diagnosticsChannel from 'node:diagnostics_channel';
import * as net from 'node:net';

import { listenLocal, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

const connectFromSocket = Number(process.versions.node.split('.')[0]) >= 22;

/** Subscribes to `name` for the duration of a test; returns the messages so far. */
function record(name: string, cleanups: Array<() => void>): unknown[] {
  const messages: unknown[] = [];
  const listener = (message: unknown): void => { messages.push(message); };
  diagnosticsChannel.subscribe(name, listener);
  cleanups.push(() => diagnosticsChannel.unsubscribe(name, listener));
  return messages;
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  test("'net.server.socket' carries each accepted socket, after 'connection'", async () => {
    const messages = record('net.server.socket', cleanups);
    const accepted: net.Socket[] = [];
    const server = implementation.createServer((socket) => {
      accepted.push(socket);
      expect(messages).toHaveLength(accepted.length - 1);
    });
    const port = await listenLocal(server);
    trackSocket(net.connect(port, '127.0.0.1'));
    await within(new Promise((resolve) => server.once('connection', () => setImmediate(resolve))), 2000, 'a connection');
    expect(messages).toEqual([{ socket: accepted[0] }]);
  });

  test("'net.client.socket' carries the sockets connect() and createConnection() make", async () => {
    const messages = record('net.client.socket', cleanups);
    const server = net.createServer((socket) => socket.destroy());
    const port = await listenLocal(server);
    const first = trackSocket(implementation.connect(port, '127.0.0.1'));
    const second = trackSocket(implementation.createConnection(port, '127.0.0.1'));
    const third = trackSocket(new implementation.Socket());
    third.connect(port, '127.0.0.1');
    for (const socket of [first, second, third]) socket.on('error', () => {});
    expect(messages).toEqual(connectFromSocket
      ? [{ socket: first }, { socket: second }, { socket: third }]
      : [{ socket: first }, { socket: second }]);
  });

  test("'tracing:net.server.listen': asyncStart with the options, then asyncEnd; error for EADDRINUSE", async () => {
    const events: Array<[string, Record<string, unknown>]> = [];
    const handlers = {
      start: () => events.push(['start', {}]),
      end: () => events.push(['end', {}]),
      asyncStart: (message: unknown) => events.push(['asyncStart', message as Record<string, unknown>]),
      asyncEnd: (message: unknown) => events.push(['asyncEnd', message as Record<string, unknown>]),
      error: (message: unknown) => events.push(['error', message as Record<string, unknown>]),
    };
    const channel = diagnosticsChannel.tracingChannel('net.server.listen');
    channel.subscribe(handlers);
    cleanups.push(() => channel.unsubscribe(handlers));

    const server = trackServer(implementation.createServer());
    const options = { port: 0, host: '127.0.0.1', customOption: true };
    await new Promise<void>((resolve) => server.listen(options, resolve));
    expect(events.map(([kind]) => kind)).toEqual(['asyncStart', 'asyncEnd']);
    expect(events[0][1]).toEqual({ server, options: expect.objectContaining({ customOption: true }) });
    expect(events[1][1]).toEqual({ server });

    events.length = 0;
    const second = trackServer(implementation.createServer());
    const failed = new Promise((resolve) => second.once('error', resolve));
    second.listen({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1' });
    await within(failed, 2000, "the second server's 'error'");
    expect(events.map(([kind]) => kind)).toEqual(['asyncStart', 'error']);
    expect(events[1][1]).toEqual({ server: second, error: expect.objectContaining({ code: 'EADDRINUSE' }) });
  });
});
