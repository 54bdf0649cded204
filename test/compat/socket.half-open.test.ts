// Half-open connections both ways with allowHalfOpen, and without it the
// automatic end that follows the peer's FIN (deferred to the next tick, so a
// write in the 'end' listener still goes out).
import { once } from 'node:events';
import * as net from 'node:net';

import { mustCall } from '../helpers';
import { connectPair, delay, listenLocal, readAll, trackSocket, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

/** Records a socket's 'end', 'finish', 'error' and 'close' events in order. */
function recordLifecycle(socket: net.Socket): { events: string[]; closed: Promise<void> } {
  const events: string[] = [];
  socket.on('end', () => events.push('end'));
  socket.on('finish', () => events.push('finish'));
  socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
  const closed = new Promise<void>((resolve) => socket.on('close', (hadError) => {
    events.push(`close:${hadError}`);
    resolve();
  }));
  return { events, closed };
}

describe.each(implementations)('%s', (_name, createServer) => {
  test('allowHalfOpen: after the client ends, the server socket is writeOnly and can still reply', async () => {
    const server = createServer({ allowHalfOpen: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const lifecycle = recordLifecycle(socket);
    const received: string[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    const reply = readAll(client);

    client.end('question');
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    expect(received.join('')).toBe('question');
    expect(socket.readyState).toBe('writeOnly');
    expect(socket.writable).toBe(true);

    socket.write('answer, ');
    socket.end('and goodbye');
    expect((await within(reply, 2000, 'the reply')).toString()).toBe('answer, and goodbye');
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['end', 'finish', 'close:false']);
  });

  test('allowHalfOpen: after the server ends, it is readOnly and still receives from a half-open client', async () => {
    const server = createServer({ allowHalfOpen: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const lifecycle = recordLifecycle(socket);
    const fromClient = readAll(socket);
    const fromServer = readAll(client);

    const finished = once(socket, 'finish');
    socket.end('bye');
    expect((await within(fromServer, 2000, "the client's 'end'")).toString()).toBe('bye');
    await within(finished, 2000, "the server socket's 'finish'");
    expect(socket.readyState).toBe('readOnly');

    client.write('more ');
    client.end('data');
    expect((await within(fromClient, 2000, "the server socket's 'end'")).toString()).toBe('more data');
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['finish', 'end', 'close:false']);
  });

  test("without allowHalfOpen the client's FIN ends the server socket too: 'end', 'finish', 'close'", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const lifecycle = recordLifecycle(socket);
    socket.resume();
    const clientEnded = readAll(client);

    client.end();
    await within(clientEnded, 2000, "the client's 'end'");
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['end', 'finish', 'close:false']);
    expect(socket.readyState).toBe('closed');
  });

  test("without allowHalfOpen a write in the 'end' listener still reaches the peer", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const lifecycle = recordLifecycle(socket);
    socket.resume();
    let inEndListener: { writableEnded: boolean; returned: boolean } | undefined;
    const written = new Promise<Error | null | undefined>((resolve) => {
      socket.on('end', mustCall(() => {
        // node:net ends the socket itself only on the next tick.
        const writableEnded = socket.writableEnded;
        inEndListener = { writableEnded, returned: socket.write('last words', mustCall(resolve)) };
      }));
    });
    const reply = readAll(client);
    client.end();
    expect(await within(written, 2000, 'the write callback')).toBeNull();
    expect(inEndListener).toEqual({ writableEnded: false, returned: true });
    expect((await within(reply, 2000, 'the reply')).toString()).toBe('last words');
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['end', 'finish', 'close:false']);
  });

  // Duplex ends the writable side on a tick it queues after every 'end'
  // listener has run, so a tick the listener queued comes first.
  test("without allowHalfOpen a write on a tick the 'end' listener queued still reaches the peer", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const lifecycle = recordLifecycle(socket);
    socket.resume();
    const written = new Promise<Error | null | undefined>((resolve) => {
      socket.on('end', () => process.nextTick(() => socket.write('deferred words', resolve)));
    });
    const reply = readAll(client);
    client.end();
    expect(await within(written, 2000, 'the write callback')).toBeNull();
    expect((await within(reply, 2000, 'the reply')).toString()).toBe('deferred words');
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['end', 'finish', 'close:false']);
  });

  test("bytes and FIN read together: what the 'data' listener writes completes before 'end'", async () => {
    // net reads the FIN a turn after the bytes (node:http answers pipelined
    // requests before 'end' on this). Paused until both are in, so they are
    // read in one go.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    const events: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      events.push(`data ${chunk.toString()}`);
      socket.write(`answer to ${chunk.toString()}`, () => events.push('write callback'));
    });
    const ended = new Promise<void>((resolve) => socket.on('end', () => {
      events.push('end');
      socket.end();
      resolve();
    }));
    const reply = readAll(client);
    client.end('question');
    await within(once(client, 'finish'), 2000, "the client's 'finish'");
    await delay(50);
    socket.resume();
    await within(ended, 2000, "the server socket's 'end'");
    expect((await within(reply, 2000, 'the reply')).toString()).toBe('answer to question');
    expect(events).toEqual(['data question', 'write callback', 'end']);
  });

  test("bytes and FIN that come with the connection: what the 'data' listener writes completes before 'end'", async () => {
    // The listener is added in the 'connection' listener; the Readable flows a tick later.
    const events: string[] = [];
    let ended!: () => void;
    const endEmitted = new Promise<void>((resolve) => { ended = resolve; });
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (chunk: Buffer) => {
        events.push(`data ${chunk.toString()}`);
        socket.write(`answer to ${chunk.toString()}`, () => events.push('write callback'));
      });
      socket.on('end', () => {
        events.push('end');
        socket.end();
        ended();
      });
    });
    const port = await listenLocal(server);
    const client = trackSocket(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    client.end('question');
    const reply = readAll(client);
    await within(endEmitted, 2000, "the server socket's 'end'");
    expect((await within(reply, 2000, 'the reply')).toString()).toBe('answer to question');
    expect(events).toEqual(['data question', 'write callback', 'end']);
  });

  test("a socket that writes from each write callback still gets the peer's 'end'", async () => {
    // What holds 'end' for the writes of the bytes before it must not hold it for good.
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const ended = new Promise<number>((resolve) => {
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        let writes = 0;
        let stop = false;
        const pump = (): void => {
          if (stop || socket.destroyed || writes >= 100_000) return;
          writes++;
          socket.write(chunk, pump);
        };
        socket.once('data', pump);
        socket.on('error', () => undefined);
        socket.on('end', () => {
          stop = true;
          socket.end();
          resolve(writes);
        });
      });
      void listenLocal(server).then((port) => {
        const client = trackSocket(net.connect(port, '127.0.0.1'));
        client.on('error', () => undefined);
        client.resume();
        client.end('request');
      });
    });
    expect(await within(ended, 3000, "the server socket's 'end'")).toBeLessThan(100_000);
  });

  test("a socket nobody reads from still emits 'end' and closes when the peer ends", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const lifecycle = recordLifecycle(socket);
    client.end();
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['end', 'finish', 'close:false']);
  });

  test("a socket nobody reads from, whose peer sent data, ends once the data is read", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const lifecycle = recordLifecycle(socket);
    client.end('unread');
    await within(once(socket, 'readable'), 2000, "'readable'");
    expect(lifecycle.events).toEqual([]);
    const received = readAll(socket);
    expect((await within(received, 2000, "the server socket's 'end'")).toString()).toBe('unread');
    await within(lifecycle.closed, 2000, "the server socket's 'close'");
    expect(lifecycle.events).toEqual(['end', 'finish', 'close:false']);
  });
});
