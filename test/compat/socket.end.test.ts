// end(data[, callback]) sends the data then a FIN; destroySoon() ends and
// destroys once everything is written.
import { mustCall } from '../helpers';
import { connectPair, listenLocal, readAll, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

const MiB = 1024 * 1024;

describe.each(implementations)('%s', (_name, createServer) => {
  test("end(data, callback): the peer gets the data then 'end'; the callback, then 'finish', once each", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const events: string[] = [];
    socket.on('finish', mustCall(() => { events.push('finish'); }));
    const ended = new Promise<void>((resolve) => {
      expect(socket.end('goodbye', mustCall(() => {
        events.push('callback');
        resolve();
      }))).toBe(socket);
    });
    expect(socket.writableEnded).toBe(true);
    expect(socket.writableFinished).toBe(false);
    expect((await within(readAll(client), 2000, "the client's 'end'")).toString()).toBe('goodbye');
    await within(ended, 2000, 'the end callback');
    // Writable runs end()'s callback just before it emits 'finish'.
    expect(events).toEqual(['callback', 'finish']);
    expect(socket.writableFinished).toBe(true);
    expect(socket.readyState).toBe('readOnly');
  });

  test("end(data, 'hex') encodes the data", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.end('cafe', 'hex');
    expect(await within(received, 2000, "the client's 'end'")).toEqual(Buffer.from([0xca, 0xfe]));
  });

  test("destroySoon(): everything written arrives, then 'end'; the socket closes without an error", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const received = readAll(client);
    const events: string[] = [];
    socket.on('finish', () => events.push('finish'));
    const closed = new Promise<void>((resolve) => socket.on('close', (hadError) => {
      events.push(`close:${hadError}`);
      resolve();
    }));
    socket.write(Buffer.alloc(4 * MiB, 3));
    socket.destroySoon();
    expect(socket.destroyed).toBe(false);
    expect(socket.writableEnded).toBe(true);
    const data = await within(received, 5000, "the client's 'end'");
    expect(data.length).toBe(4 * MiB);
    expect(data.every((byte) => byte === 3)).toBe(true);
    await within(closed, 2000, "'close'");
    expect(events).toEqual(['finish', 'close:false']);
    expect(socket.destroyed).toBe(true);
  });
});
