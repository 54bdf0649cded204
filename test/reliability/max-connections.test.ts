// RELIABILITY #26: maxConnections = 10 with 20 clients: 10 are served, the
// other 10 are closed without a byte, each with one 'drop'.
import * as net from 'node:net';

import { createServer, Socket } from '../../lib';
import { listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';

afterEach(releaseTracked);

test("RELIABILITY #26: maxConnections 10, 20 clients: 10 served, 10 closed without data, 10 'drop' events", async () => {
  const server = track(createServer((socket: Socket) => socket.pipe(socket)));
  server.maxConnections = 10;
  let drops = 0;
  server.on('drop', () => drops++);
  const port = await listenLocal(server);
  const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => new Promise<string>((resolve) => {
    const client = track(net.connect(port, '127.0.0.1'));
    let received = '';
    client.on('error', () => undefined);
    client.on('connect', () => client.write(`client ${i}`));
    client.on('data', (chunk: Buffer) => {
      received += chunk;
      if (received === `client ${i}`) resolve('served'); // stays open, holding its slot
    });
    client.on('close', () => resolve(received === '' ? 'closed without data' : `closed after ${JSON.stringify(received)}`));
  })));
  expect(outcomes.filter((outcome) => outcome === 'served')).toHaveLength(10);
  expect(outcomes.filter((outcome) => outcome === 'closed without data')).toHaveLength(10);
  expect(drops).toBe(10);
  const count = await new Promise<number>((resolve) => server.getConnections((_error, n) => resolve(n)));
  expect(count).toBe(10);
});
