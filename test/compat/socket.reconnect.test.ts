// Theme 2 of issue 14: a closed socket can connect again, as net.Socket can,
// and its counters start again from 0 for the new connection.
import * as net from 'node:net';

import { mustCall } from '../helpers';
import { listenLocal, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('connect() from the close listener opens a new connection, three times', async () => {
    const server = net.createServer((socket) => {
      socket.resume();
      socket.on('end', () => socket.end());
    });
    const port = await listenLocal(server);
    const client = trackSocket(implementation.connect(port, '127.0.0.1'));
    const written: number[] = [];
    const done = new Promise<void>((resolve) => {
      client.on('connect', mustCall(() => client.end('abc'), 3));
      client.resume();
      client.on('close', (hadError) => {
        expect(hadError).toBe(false);
        written.push(client.bytesWritten);
        if (written.length < 3) client.connect(port, '127.0.0.1');
        else resolve();
      });
    });
    await within(done, 5000, 'three connections');
    expect(written).toEqual([3, 3, 3]);
  });

  test('a socket destroyed after its first connection ended connects again and works', async () => {
    // The first connection's destroy() may reach the server as a reset.
    const server = net.createServer((socket) => socket.on('error', () => {}).end('hi'));
    const port = await listenLocal(server);
    const client = trackSocket(new implementation.Socket());
    client.connect(port, '127.0.0.1');
    client.resume();
    await within(new Promise((resolve) => client.once('end', resolve)), 2000, "the first connection's 'end'");
    client.destroy();
    await within(new Promise((resolve) => client.once('close', resolve)), 2000, "'close'");
    const received: Buffer[] = [];
    client.connect(port, '127.0.0.1');
    client.on('data', (chunk: Buffer) => received.push(chunk));
    await within(new Promise((resolve) => client.once('end', resolve)), 2000, "'end'");
    expect(Buffer.concat(received).toString()).toBe('hi');
    expect(client.bytesRead).toBe(2);
  });
});
