// setKeepAlive() as net sets it, read back from the kernel on the reactor
// thread (the reactor's socketOption(), for tests): idle seconds from the
// delay, and libuv's interval of 1 s and 10 probes unless told otherwise,
// which every supported Node's net sets (before, only TCP_KEEPIDLE was set,
// so dead peers were probed at the kernel's 75 s interval, 9 times). Node
// 24.22 and 26 also take an interval and a count, as arguments or as
// `{ enable, initialDelay, interval, count }`; 20 and 22 ignore them. A
// server's keepAlive option gives accepted sockets the same defaults.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../../lib';
import { getReactor } from '../../lib/reactor';
import { trackServer, trackSocket, useCompatHarness, within } from './harness';

useCompatHarness();

const takesIntervalAndCount = net.Socket.prototype.setKeepAlive.length >= 4;
const SO_KEEPALIVE = 1;
const TCP_KEEPIDLE = 2;
const TCP_KEEPINTVL = 3;
const TCP_KEEPCNT = 4;
const TCP_NODELAY = 5;

/** The kernel's keep-alive settings of a reactor socket: [on, idle, interval, count]. */
function keepAliveOf(socket: Socket): unknown[] {
  const native = getReactor().native;
  return [SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT].map((option) =>
    native.socketOption(socket.id, option as 1 | 2 | 3 | 4));
}

async function connectedPair(serverOptions: net.ServerOpts = {}): Promise<{ client: Socket; accepted: Socket }> {
  let accepted: Socket | undefined;
  const server = trackServer(createServer(serverOptions, (socket: Socket) => { accepted = socket; }) as unknown as
    net.Server);
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 2000, "'listening'");
  const client = trackSocket(new Socket() as unknown as net.Socket) as unknown as Socket;
  client.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await within(once(client, 'connect'), 2000, "'connect'");
  await within(new Promise<void>((resolve) => {
    const poll = (): void => { if (accepted !== undefined) resolve(); else setTimeout(poll, 5); };
    poll();
  }), 2000, 'the accepted socket');
  return { client, accepted: accepted! };
}

test('setKeepAlive(true, delay): SO_KEEPALIVE, the delay in seconds, libuv\'s interval of 1 s and 10 probes', async () => {
  const { client } = await connectedPair();
  const before = keepAliveOf(client);
  client.setKeepAlive(true, 5000);
  const on = keepAliveOf(client);
  client.setKeepAlive(false);
  expect([before[0], on, keepAliveOf(client)[0]]).toEqual([0, [1, 5, 1, 10], 0]);
});

test('a delay below a second, or none, sets SO_KEEPALIVE alone, as net', async () => {
  const { client } = await connectedPair();
  const defaults = keepAliveOf(client);
  client.setKeepAlive(true, 999);
  expect(keepAliveOf(client)).toEqual([1, ...defaults.slice(1)]);
});

test('a server\'s keepAlive option gives each accepted socket the delay and libuv\'s defaults', async () => {
  const { accepted } = await connectedPair({ keepAlive: true, keepAliveInitialDelay: 7000 });
  expect(keepAliveOf(accepted)).toEqual([1, 7, 1, 10]);
});

test('a delay set before connect() applies once connected', async () => {
  let accepted = false;
  const server = trackServer(createServer(() => { accepted = true; }) as unknown as net.Server);
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 2000, "'listening'");
  const client = trackSocket(new Socket() as unknown as net.Socket) as unknown as Socket;
  client.setKeepAlive(true, 3000);
  client.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await within(once(client, 'connect'), 2000, "'connect'");
  expect(keepAliveOf(client)).toEqual([1, 3, 1, 10]);
  expect(typeof accepted).toBe('boolean');
});

test('set while the connect is in progress, keep-alive and no-delay apply once connected, as net', async () => {
  const server = trackServer(createServer(() => {}) as unknown as net.Server);
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 2000, "'listening'");
  const port = (server.address() as net.AddressInfo).port;
  // Set a tick after connect(): the socket has its reactor connection by
  // then (an IP address needs no lookup), and its connect is still in
  // progress, as far as JS knows; the settings must reach the kernel.
  const clients = await Promise.all(Array.from({ length: 20 }, async () => {
    const client = trackSocket(new Socket() as unknown as net.Socket) as unknown as Socket;
    const connected = once(client, 'connect');
    client.connect(port, '127.0.0.1');
    await new Promise((resolve) => process.nextTick(resolve));
    const midway = client.connecting && client.id !== 0;
    client.setKeepAlive(true, 2000);
    client.setNoDelay(true);
    await within(connected, 2000, "'connect'");
    return { client, midway };
  }));
  const native = getReactor().native;
  for (const { client } of clients) {
    expect([...keepAliveOf(client), native.socketOption(client.id, TCP_NODELAY)]).toEqual([1, 2, 1, 10, 1]);
  }
  // What the test is about: some of them were set midway.
  expect(clients.some(({ midway }) => midway)).toBe(true);
});

(takesIntervalAndCount ? test : test.skip)('Node 24.22+: an interval and a count, as arguments or as an object', async () => {
  const { client } = await connectedPair();
  const seen: unknown[] = [];
  client.setKeepAlive(true, 6000, 3000);
  seen.push(keepAliveOf(client));
  client.setKeepAlive(true, 6000, undefined, 5);
  seen.push(keepAliveOf(client));
  client.setKeepAlive({ enable: true, initialDelay: 4000, interval: 2000, count: 7 } as never);
  seen.push(keepAliveOf(client));
  // A count that is not a uint32 is 10, as node's handle reads it.
  client.setKeepAlive(true, 6000, 2000, 1.5);
  seen.push(keepAliveOf(client));
  expect(seen).toEqual([[1, 6, 3, 10], [1, 6, 1, 5], [1, 4, 2, 7], [1, 6, 2, 10]]);
});

(takesIntervalAndCount ? test.skip : test)('before Node 24.22: an interval and a count are ignored, as net', async () => {
  const { client } = await connectedPair();
  (client.setKeepAlive as (...args: unknown[]) => unknown)(true, 6000, 3000, 5);
  expect(keepAliveOf(client)).toEqual([1, 6, 1, 10]);
});

test("new Socket({ keepAlive, keepAliveInitialDelay, noDelay }) applies them once connected, as net's constructor options", async () => {
  const server = trackServer(createServer() as unknown as net.Server);
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 2000, "'listening'");
  const client = trackSocket(new Socket({ keepAlive: true, keepAliveInitialDelay: 4000, noDelay: true }) as unknown as
    net.Socket) as unknown as Socket;
  client.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await within(once(client, 'connect'), 2000, "'connect'");
  expect(keepAliveOf(client)).toEqual([1, 4, 1, 10]);
  expect(getReactor().native.socketOption(client.id, TCP_NODELAY)).toBe(1);
});
