// server.close() as net's: it stops accepting at once, leaves existing
// connections working, and emits 'close' once, after the last of them closes.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { checkMustCalls, connectLocal, listenLocal, mustCall, mustNotCall, readExactly, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Connects and resolves with the error the connection fails with, or null if it connects. */
function connectError(port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const socket = track(net.connect(port, '127.0.0.1'));
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error));
  });
}

async function echoRoundTrip(client: net.Socket, text: string): Promise<string> {
  client.write(text);
  return (await readExactly(client, Buffer.byteLength(text))).toString();
}

test("RELIABILITY #13: close() with live connections: no new ones, old ones keep working, one 'close' after the last", async () => {
  const live = 3;
  const serverSockets: Socket[] = [];
  const server = track(createServer(mustCall((socket: Socket) => {
    serverSockets.push(socket);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('close', mustCall());
  }, live)));
  const port = await listenLocal(server);
  const clients = await Promise.all(Array.from({ length: live }, async () => track(await connectLocal(port))));
  await Promise.all(clients.map(async (client, i) => expect(await echoRoundTrip(client, `before ${i}`)).toBe(`before ${i}`)));
  expect(serverSockets).toHaveLength(live);

  let closeEmitted = 0;
  server.on('close', mustCall(() => { closeEmitted++; }));
  const closeCallback = mustCall((error?: Error) => expect(error).toBeUndefined());
  server.close(closeCallback);
  expect(server.listening).toBe(false);
  expect(server.address()).toBeNull();
  server.on('connection', mustNotCall('a connection after close()'));

  // No new connections: the port is closed.
  const refused = await connectError(port);
  expect(refused?.code).toBe('ECONNREFUSED');

  // Existing connections still echo.
  await Promise.all(clients.map(async (client, i) => expect(await echoRoundTrip(client, `after ${i}`)).toBe(`after ${i}`)));

  // 'close' waits for every connection; count them down.
  for (let i = 0; i < live; i++) {
    await sleep(50);
    expect(closeEmitted).toBe(0);
    const remaining = await new Promise<number>((resolve, reject) =>
      server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
    expect(remaining).toBe(live - i);
    clients[i].end();
    await once(clients[i], 'close');
  }
  await waitFor(() => closeEmitted > 0, 5000, "the server's 'close'");
  await sleep(100);  // a second 'close' would show up here
  expect(closeEmitted).toBe(1);
  expect(serverSockets.every((socket) => socket.destroyed)).toBe(true);
}, 30000);

test('a connect made as soon as close() returns is refused, every time (as with net)', async () => {
  // net closes the listening fd inside close(), so no connect after it can
  // reach the backlog. Run the same loop against net as the reference.
  const attempts = 100;
  async function outcomes(make: () => net.Server): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < attempts; i++) {
      const server = track(make());
      server.on('connection', (socket: net.Socket) => socket.destroy());
      const port = await listenLocal(server);
      server.close();
      const error = await connectError(port);
      const outcome = error === null ? 'connected' : String(error.code);
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
    return counts;
  }
  expect(await outcomes(() => net.createServer())).toEqual({ ECONNREFUSED: attempts });
  expect(await outcomes(() => createServer() as unknown as net.Server)).toEqual({ ECONNREFUSED: attempts });
}, 30000);

test('close() when not listening calls back with ERR_SERVER_NOT_RUNNING, as net does', async () => {
  async function closeUnstarted(server: net.Server): Promise<{ error: NodeJS.ErrnoException | undefined; closeEvents: number }> {
    let closeEvents = 0;
    server.on('close', () => closeEvents++);
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => server.close(resolve));
    await sleep(20);
    return { error, closeEvents };
  }
  const reference = await closeUnstarted(net.createServer());
  expect(reference.error?.code).toBe('ERR_SERVER_NOT_RUNNING');
  const ours = await closeUnstarted(track(createServer()) as unknown as net.Server);
  expect(ours.error).toBeInstanceOf(Error);
  expect(ours.error?.code).toBe(reference.error?.code);
  expect(ours.error?.message).toBe(reference.error?.message);
  expect(ours.closeEvents).toBe(reference.closeEvents);
}, 10000);

test('close() a second time, after the first one closed it, also gets ERR_SERVER_NOT_RUNNING', async () => {
  const server = track(createServer());
  await listenLocal(server);
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => server.close(resolve));
  expect(error?.code).toBe('ERR_SERVER_NOT_RUNNING');
}, 10000);
