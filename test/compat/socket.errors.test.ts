// Errors a socket reports: a peer's reset, seen by a read or by a write, as
// a system error with code, errno and syscall; bad arguments to write(),
// thrown synchronously.
import * as net from 'node:net';

import { mustNotCall } from '../helpers';
import { connectPair, delay, listenLocal, useCompatHarness, within } from './harness';
import { implementations } from './implementations';
import { hangupEndsShortRead } from '../../lib/net-version';

useCompatHarness();

/** What a socket that reads its peer's last bytes after the peer's reset sees, as net of this Node. */
const endOrReset = hangupEndsShortRead ? ['end', 'close:false'] : ['error:ECONNRESET', 'close:true'];

/** Resolves with the socket's events in order, once it closes. */
function eventsUntilClose(socket: net.Socket): Promise<{ events: string[]; error?: NodeJS.ErrnoException }> {
  const events: string[] = [];
  let error: NodeJS.ErrnoException | undefined;
  socket.on('end', () => events.push('end'));
  socket.on('error', (e: NodeJS.ErrnoException) => {
    error = e;
    events.push(`error:${e.code}`);
  });
  return new Promise((resolve) => socket.on('close', (hadError) => {
    events.push(`close:${hadError}`);
    resolve({ events, error });
  }));
}

describe.each(implementations)('%s', (_name, createServer) => {
  test("a peer's reset, seen by a read: 'error' ECONNRESET from read, then 'close' with hadError", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    socket.resume();
    const outcome = eventsUntilClose(socket);
    client.resetAndDestroy();
    const { events, error } = await within(outcome, 2000, "'close'");
    expect(events).toEqual(['error:ECONNRESET', 'close:true']);
    expect(error).toMatchObject({ code: 'ECONNRESET', errno: -104, syscall: 'read', message: 'read ECONNRESET' });
  });

  test("a peer's reset, seen by a write: the write fails with ECONNRESET from write", async () => {
    // pauseOnConnect: the server does not read, so the write is the first to learn of the reset.
    const server = createServer({ pauseOnConnect: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const outcome = eventsUntilClose(socket);
    const clientClosed = new Promise((resolve) => client.on('close', resolve));
    client.resetAndDestroy();
    await within(clientClosed, 2000, "the client's 'close'");
    await delay(50);
    const written = new Promise<Error | null | undefined>((resolve) => socket.write('into the void', resolve));
    const { events, error } = await within(outcome, 2000, "'close'");
    expect(events).toEqual(['error:ECONNRESET', 'close:true']);
    expect(error).toMatchObject({ code: 'ECONNRESET', errno: -104, syscall: 'write', message: 'write ECONNRESET' });
    expect(await within(written, 2000, 'the write callback')).toBe(error);
  });

  test("a peer that writes and resets before the socket reads: its bytes, then 'end' (Node 20, 22) or ECONNRESET (24 on)", async () => {
    // libuv up to 1.49 (Node 20, 22) takes a short read with a hangup behind
    // it for the end of the stream, so net never reads the reset there; a
    // server with no 'error' listener must not crash where net's does not.
    // Node 24 and later read on to the reset.
    const server = createServer({ pauseOnConnect: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const outcome = eventsUntilClose(socket);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const clientClosed = new Promise((resolve) => client.on('close', resolve));
    client.write('the last words', () => client.resetAndDestroy());
    await within(clientClosed, 2000, "the client's 'close'");
    await delay(50);
    socket.resume();
    const { events } = await within(outcome, 2000, "'close'");
    expect(Buffer.concat(received).toString()).toBe('the last words');
    expect(events).toEqual(endOrReset);
  });

  test("a peer that fills the socket and resets while it is paused: on resume, what was queued, then 'end' (Node 20, 22) or ECONNRESET", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const outcome = eventsUntilClose(socket);
    let received = 0;
    const paused = new Promise<void>((resolve) => socket.on('data', (chunk: Buffer) => {
      if (received === 0) {
        socket.pause();
        resolve();
      }
      received += chunk.length;
    }));
    client.on('error', () => {});
    const clientClosed = new Promise((resolve) => client.on('close', resolve));
    client.write(Buffer.alloc(4 * 1024 * 1024, 'x'));
    await within(paused, 2000, 'the first chunk');
    await delay(300);  // the kernel's buffers fill behind the paused socket
    const receivedWhilePaused = received;
    client.resetAndDestroy();
    await within(clientClosed, 2000, "the client's 'close'");
    await delay(50);
    socket.resume();
    const { events } = await within(outcome, 5000, "'close'");
    expect(events).toEqual(endOrReset);
    expect(received).toBeGreaterThan(receivedWhilePaused);
  });

  test('RELIABILITY #41: write() with a chunk that is not a string or buffer throws synchronously', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    socket.on('error', mustNotCall("'error'"));
    expect(() => socket.write(123 as unknown as string)).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_TYPE',
      name: 'TypeError',
    }));
    expect(() => socket.write(null as unknown as string)).toThrow(expect.objectContaining({
      code: 'ERR_STREAM_NULL_VALUES',
      name: 'TypeError',
    }));
    expect(() => socket.write('x', 'no-such-encoding' as BufferEncoding)).toThrow(expect.objectContaining({
      code: 'ERR_UNKNOWN_ENCODING',
    }));
    await delay(20);
    expect(socket.destroyed).toBe(false);
  });
});
