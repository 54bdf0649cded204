// pause() and resume() on an accepted socket, the backpressure a paused
// socket puts on its peer, and the pauseOnConnect server option.
import { once } from 'node:events';

import { mustCall, mustNotCall } from '../helpers';
import { connectPair, delay, listenLocal, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

const MiB = 1024 * 1024;

describe.each(implementations)('%s', (_name, createServer) => {
  test("a paused socket emits no 'data' until resume(), then everything in order", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    expect(socket.pause()).toBe(socket);
    expect(socket.isPaused()).toBe(true);
    const received: string[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk.toString()));

    client.write('first ');
    await delay(100);
    client.write('second');
    await delay(100);
    expect(received).toEqual([]);

    expect(socket.resume()).toBe(socket);
    expect(socket.isPaused()).toBe(false);
    await within((async () => {
      while (received.join('').length < 12) await once(socket, 'data');
    })(), 2000, 'the data after resume()');
    expect(received.join('')).toBe('first second');
  });

  test('a paused socket stops reading, so the peer backs up; resume() delivers every byte', async () => {
    const total = 32 * MiB;
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    socket.pause();
    client.write(Buffer.alloc(total, 1));
    await delay(300);
    // Neither the server nor the kernel holds 32 MiB: the client still has some.
    expect(client.writableLength).toBeGreaterThan(0);
    expect(socket.bytesRead).toBeLessThan(total);

    let received = 0;
    socket.on('data', (chunk: Buffer) => { received += chunk.length; });
    socket.resume();
    client.end();
    await within(once(socket, 'end'), 5000, "the server socket's 'end'");
    expect(received).toBe(total);
    expect(socket.bytesRead).toBe(total);
  });

  test("pause() inside a 'data' listener holds back later data until resume()", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk.toString());
      socket.pause();
    });
    client.write('one');
    await within(once(socket, 'data'), 2000, 'the first chunk');
    client.write('two');
    await delay(100);
    expect(received).toEqual(['one']);
    socket.resume();
    await within(once(socket, 'data'), 2000, 'the second chunk');
    expect(received).toEqual(['one', 'two']);
  });

  test('RELIABILITY #39: pauseOnConnect: nothing is read, not even into bytesRead, until resume()', async () => {
    const server = createServer({ pauseOnConnect: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    expect(socket.isPaused()).toBe(true);
    client.write('hello');
    await delay(150);
    expect(socket.bytesRead).toBe(0);
    expect(socket.readableLength).toBe(0);

    // A 'data' listener does not start the flow of a socket paused this way.
    const received: string[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    await delay(100);
    expect(received).toEqual([]);
    expect(socket.bytesRead).toBe(0);

    socket.resume();
    await within(once(socket, 'data'), 2000, "'data' after resume()");
    expect(received).toEqual(['hello']);
    expect(socket.bytesRead).toBe(5);
  });

  test("pauseOnConnect: a peer that ends at once is not seen until resume(), then 'end' and 'close'", async () => {
    const server = createServer({ pauseOnConnect: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    socket.on('end', mustCall());
    socket.on('error', mustNotCall("'error'"));
    client.end('bye');
    await delay(150);
    expect(socket.readableEnded).toBe(false);
    expect(socket.destroyed).toBe(false);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await within(once(socket, 'close'), 2000, "the server socket's 'close'");
    expect(Buffer.concat(received).toString()).toBe('bye');
  });
});
