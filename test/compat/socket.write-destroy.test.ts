// write(x); destroy() in the same tick: node:net has sent x by then (libuv
// tries every write at once), so the peer gets x and then the FIN. The
// reactor dropped x (issue 12 item 8). Chunks written while corked are not
// sent: net drops them with the socket.
import { once } from 'node:events';

import { connectPair, listenLocal, readAll, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (_name, createServer) => {
  test("write('bye'); destroy(): the peer receives 'bye', then the end", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    const closed = once(socket, 'close');
    socket.write('bye');
    socket.destroy();
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe('bye');
    await within(closed, 2000, "'close'");
  });

  test('writes of several sizes, then destroy(): the peer receives all of them in order', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    const parts = [Buffer.from('head;'), Buffer.alloc(20 * 1024, 'x'), Buffer.from(';tail')];
    for (const part of parts) socket.write(part);
    socket.destroy();
    expect((await within(received, 2000, "the client's 'end'")).equals(Buffer.concat(parts))).toBe(true);
  });

  test("end('bye'); destroy(): the peer receives 'bye'", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.end('bye');
    socket.destroy();
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe('bye');
  });

  test.each([
    { before: ['sent;'] },
    { before: ['sent;', 'behind;'] },
  ])('writes $before, cork(), a write, destroy(): the peer receives only what came before cork()', async ({ before }) => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    for (const text of before) socket.write(text);
    socket.cork();
    socket.write('corked');
    socket.destroy();
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe(before.join(''));
  });
});
