// Theme 2 of issue 14: a closed socket can connect again, as net.Socket can,
// and its counters start again from 0 for the new connection.
import { once } from 'node:events';
import * as net from 'node:net';

import { endNeverConnectedAtOnce } from '../../lib/net-version';
import { mustCall } from '../helpers';
import { delay, listenLocal, trackSocket, useCompatHarness, within } from './harness';
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

  test("destroy() and connect() while the first connection's FIN waits for a reply's write: the next connection reads", async () => {
    // Bytes and FIN together make the reply's write complete before 'end';
    // the socket connects again on the tick after that callback.
    const first = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
      socket.end('first');
    });
    const second = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
      setTimeout(() => socket.write('second'), 100);
    });
    const firstPort = await listenLocal(first);
    const secondPort = await listenLocal(second);
    const events: string[] = [];
    const socket = trackSocket(new implementation.Socket({ allowHalfOpen: true }));
    let phase = 1;
    const secondData = new Promise<void>((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`));
      socket.on('connect', () => events.push(`connect ${phase}`));
      socket.on('end', () => events.push(`end ${phase}`));
      socket.on('data', (chunk: Buffer) => {
        events.push(`data ${chunk.toString()}`);
        if (phase === 2) {
          resolve();
          return;
        }
        socket.write('reply', () => {
          phase = 2;
          process.nextTick(() => {
            socket.destroy();
            socket.connect(secondPort, '127.0.0.1');
          });
        });
      });
    });
    socket.connect(firstPort, '127.0.0.1');
    await within(secondData, 3000, "the second connection's data");
    expect(events.filter((event) => event !== 'end 1')).toEqual(['connect 1', 'data first', 'connect 2', 'data second']);
    socket.destroy();
  });

  test('writes behind one in flight, then destroy(): the peer receives them all, on the first connection and the next', async () => {
    const received: string[] = [];
    const server = net.createServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', () => {});
      // At the FIN: two sockets whose FINs land in one turn of the server's
      // loop can close in either order (ci242 on Node 22; net's client, which
      // closes its fd before 'close', rarely lets two land together). The
      // FINs themselves come in order: 0 of 6,000 reversed.
      socket.on('end', () => received.push(Buffer.concat(chunks).toString()));
    });
    const port = await listenLocal(server);
    const client = trackSocket(new implementation.Socket());
    for (const round of [1, 2]) {
      client.connect(port, '127.0.0.1', () => {
        for (const part of ['a', 'b', 'c']) client.write(`${part}${round};`);
        client.destroy();
      });
      await within(once(client, 'close'), 2000, `connection ${round}'s 'close'`);
    }
    const deadline = Date.now() + 2000;
    while (received.length < 2 && Date.now() < deadline) await delay(10);
    expect(received).toEqual(['a1;b1;c1;', 'a2;b2;c2;']);
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

describe.each(netImplementations)('%s, end() before the first connect()', (_name, implementation) => {
  test('connect() starts the streams again, as net\'s initSocketHandle: on Node 22 and later the socket writes and reads', async () => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    const port = await listenLocal(server);
    const socket = trackSocket(new implementation.Socket());
    socket.on('error', () => {});
    socket.end();
    expect(socket.writableEnded).toBe(true);
    await delay(20);
    socket.connect(port, '127.0.0.1');
    await within(new Promise((resolve) => socket.once('connect', resolve)), 2000, "'connect'");
    expect(socket.writable).toBe(true);
    expect(socket.writableEnded).toBe(false);
    const written = new Promise<unknown>((resolve) => socket.write('ping', resolve));
    if (endNeverConnectedAtOnce) {
      // That end() finished before the connect: nothing is left of it.
      expect(await within(written, 2000, 'the write')).toBeFalsy();
      const [echoed] = await within(once(socket, 'data'), 2000, 'the echo') as [Buffer];
      expect(echoed.toString()).toBe('ping');
    } else {
      // Node 20's end() waited for the connect, and shut the socket down
      // then: the write fails with EPIPE.
      expect(await within(written, 2000, 'the write')).toMatchObject({ code: 'EPIPE', syscall: 'write' });
    }
  });
});
