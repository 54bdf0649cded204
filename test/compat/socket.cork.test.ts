// cork() holds writes back, callbacks included, until as many uncork()
// calls; end() flushes a corked socket.
import { mustCall } from '../helpers';
import { connectPair, delay, listenLocal, readAll, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (_name, createServer) => {
  test('nothing is sent and no callback runs while corked; uncork() sends all, callbacks in order', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const received: string[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    const callbacks: string[] = [];
    socket.cork();
    socket.write('a', mustCall(() => { callbacks.push('a'); }));
    socket.write('b', mustCall(() => { callbacks.push('b'); }));
    socket.write('c', mustCall(() => { callbacks.push('c'); }));
    await delay(100);
    expect(received).toEqual([]);
    expect(callbacks).toEqual([]);

    socket.uncork();
    await within((async () => {
      while (callbacks.length < 3 || received.join('').length < 3) await delay(5);
    })(), 2000, 'the writes after uncork()');
    expect(received.join('')).toBe('abc');
    expect(callbacks).toEqual(['a', 'b', 'c']);
  });

  test('cork() nests: writableCorked counts, and only the last uncork() flushes', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received: string[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    socket.cork();
    socket.cork();
    expect(socket.writableCorked).toBe(2);
    socket.write('held');
    socket.uncork();
    expect(socket.writableCorked).toBe(1);
    await delay(100);
    expect(received).toEqual([]);
    socket.uncork();
    expect(socket.writableCorked).toBe(0);
    await within((async () => {
      while (received.join('').length < 4) await delay(5);
    })(), 2000, 'the write after the last uncork()');
    expect(received.join('')).toBe('held');
  });

  test('end() on a corked socket sends everything, then the FIN', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.cork();
    socket.write('x');
    socket.end('y');
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe('xy');
  });
});
