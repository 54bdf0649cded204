// destroy() with and without an error, destroy() while writes are pending,
// and resetAndDestroy(), which the peer sees as ECONNRESET.
import { once } from 'node:events';
import * as net from 'node:net';

import { mustCall, mustNotCall } from '../helpers';
import { connectPair, listenLocal, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

const MiB = 1024 * 1024;

/** Records a socket's 'end', 'error' and 'close' events in order. */
function recordEnding(socket: net.Socket): { events: string[]; closed: Promise<void> } {
  const events: string[] = [];
  socket.on('end', () => events.push('end'));
  socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code ?? error.message}`));
  const closed = new Promise<void>((resolve) => socket.on('close', (hadError) => {
    events.push(`close:${hadError}`);
    resolve();
  }));
  return { events, closed };
}

describe.each(implementations)('%s', (name, createServer) => {
  test("destroy(error): 'error' with that error, then 'close' with hadError true, once each", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const clientEnding = recordEnding(client);
    client.resume();
    const ending = recordEnding(socket);
    const boom = new Error('boom');
    let emitted: unknown;
    socket.on('error', (error) => { emitted = error; });
    expect(socket.destroy(boom)).toBe(socket);
    expect(socket.destroyed).toBe(true);
    expect(socket.readyState).toBe('closed');
    expect(ending.events).toEqual([]);
    await within(ending.closed, 2000, "'close'");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ending.events).toEqual(['error:boom', 'close:true']);
    expect(emitted).toBe(boom);
    expect(socket.errored).toBe(boom);
    await within(clientEnding.closed, 2000, "the client's 'close'");
    expect(clientEnding.events).toEqual(['end', 'close:false']);
  });

  test("destroy(): no 'error', 'close' with hadError false, once", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.resume();
    const ending = recordEnding(socket);
    expect(socket.destroy()).toBe(socket);
    socket.destroy();
    await within(ending.closed, 2000, "'close'");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ending.events).toEqual(['close:false']);
  });

  test("destroy() inside a 'data' listener: no 'data' follows from bytes still arriving", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.on('error', () => {});
    // The socket flows, so nothing waits in its readable buffer (from which
    // Readable would still emit); the later chunks arrive from the kernel in
    // the same turn of the loop or soon after, and must be dropped.
    socket.on('data', mustCall(() => { socket.destroy(); }));
    const closed = once(socket, 'close');
    client.write(Buffer.alloc(20 * 64 * 1024, 1));
    await within(closed, 2000, "'close'");
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  test('RELIABILITY #14: destroy() during writes: every write callback is called exactly once, before close', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.pause();
    client.on('error', () => {});
    const events: string[] = [];
    // 32 MiB is more than the kernel buffers take from a peer that does not
    // read, so the first write is still in progress and the rest are queued.
    socket.write(Buffer.alloc(32 * MiB), mustCall((error?: Error | null) => {
      events.push(`write 0:${(error as NodeJS.ErrnoException | null | undefined)?.code ?? error}`);
    }));
    for (let i = 1; i <= 3; i++) {
      socket.write(`queued ${i}`, mustCall((error?: Error | null) => {
        events.push(`write ${i}:${(error as NodeJS.ErrnoException | null | undefined)?.code ?? error}`);
      }));
    }
    socket.on('error', mustNotCall("'error'"));
    const closed = once(socket, 'close').then(([hadError]) => events.push(`close:${hadError}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual([]);
    socket.destroy();
    await within(closed, 2000, "'close'");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events.slice(1)).toEqual([
      'write 1:ERR_STREAM_DESTROYED',
      'write 2:ERR_STREAM_DESTROYED',
      'write 3:ERR_STREAM_DESTROYED',
      'close:false',
    ]);
    expect(events[0]).toMatch(/^write 0:/);
  });

  // A documented difference (docs/compatibility.md): net completes the write in
  // progress with no error although its bytes may be lost; epoll-reactor says so.
  test('destroy() during a write in progress completes its callback (net: no error; epoll-reactor: ERR_STREAM_DESTROYED)', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.pause();
    client.on('error', () => {});
    const written = new Promise<Error | null | undefined>((resolve) => socket.write(Buffer.alloc(32 * MiB), resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
    const error = await within(written, 2000, 'the write callback');
    if (name === 'node:net') expect(error).toBeNull();
    else expect((error as NodeJS.ErrnoException).code).toBe('ERR_STREAM_DESTROYED');
  });

  test('RELIABILITY #17: resetAndDestroy(): the peer gets ECONNRESET; this side closes without an error, and a second call is harmless', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const clientEnding = recordEnding(client);
    client.resume();
    const ending = recordEnding(socket);
    expect(socket.resetAndDestroy()).toBe(socket);
    expect(socket.destroyed).toBe(true);
    expect(socket.resetAndDestroy()).toBe(socket); // harmless a second time
    await within(ending.closed, 2000, "'close'");
    await within(clientEnding.closed, 2000, "the client's 'close'");
    expect(ending.events).toEqual(['close:false']);
    expect(clientEnding.events).toEqual(['error:ECONNRESET', 'close:true']);
  });
});
