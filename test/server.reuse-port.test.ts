// reusePort (SO_REUSEPORT, ours): several servers listen on one port and the
// kernel spreads connections among them; without it the second bind fails.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Server } from '../lib';
import { closeServer, connectLocal } from './helpers';

async function listenOn(server: Server, port: number, reusePort: boolean): Promise<void> {
  server.listen({ port, host: '127.0.0.1', reusePort });
  await once(server, 'listening');
}

test('two servers with reusePort share a port, and both get connections', async () => {
  const counts = [0, 0];
  const servers = [0, 1].map((index) => createServer((socket) => {
    counts[index]++;
    socket.end();
  }));
  await listenOn(servers[0], 0, true);
  const port = (servers[0].address() as net.AddressInfo).port;
  await listenOn(servers[1], port, true);
  for (let i = 0; i < 64; i++) {
    const client = await connectLocal(port);
    client.resume();
    await once(client, 'close');
  }
  expect(counts[0] + counts[1]).toBe(64);
  // The kernel hashes each connection's ports; over 64 both get some.
  expect(counts[0]).toBeGreaterThan(0);
  expect(counts[1]).toBeGreaterThan(0);
  await Promise.all(servers.map(closeServer));
});

test('without reusePort the second server gets EADDRINUSE', async () => {
  const first = createServer();
  await listenOn(first, 0, false);
  const port = (first.address() as net.AddressInfo).port;
  const second = createServer();
  second.listen({ port, host: '127.0.0.1' });
  const [error] = await once(second, 'error');
  expect(error.code).toBe('EADDRINUSE');
  await closeServer(first);
});
