// Writing to a socket that can no longer write: after end() (an error, on a
// later tick), after destroy() (a callback error but no 'error' event), and
// after the peer's FIN has ended it (EPIPE).
import { once } from 'node:events';
import * as net from 'node:net';

import { connectPair, listenLocal, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

interface WriteOutcome {
  returned: boolean;
  /** Events in order: 'callback:<code>', 'error:<code>', 'close:<hadError>'. */
  events: string[];
  /** True if anything in `events` happened before write() returned. */
  synchronous: boolean;
  callbackError: NodeJS.ErrnoException | null | undefined;
  errorEvent: NodeJS.ErrnoException | undefined;
}

/**
 * Calls socket.write('x', callback) and records what follows until 'close'
 * plus a short grace period, so that late or repeated events are counted.
 */
async function writeAndWatch(socket: net.Socket): Promise<WriteOutcome> {
  const events: string[] = [];
  const outcome: Partial<WriteOutcome> = { events };
  socket.on('error', (error: NodeJS.ErrnoException) => {
    events.push(`error:${error.code}`);
    outcome.errorEvent = error;
  });
  const closed = new Promise<void>((resolve) => socket.on('close', (hadError) => {
    events.push(`close:${hadError}`);
    resolve();
  }));
  outcome.returned = socket.write('x', (error?: Error | null) => {
    events.push(`callback:${(error as NodeJS.ErrnoException | null | undefined)?.code}`);
    outcome.callbackError = error as NodeJS.ErrnoException | null | undefined;
  });
  outcome.synchronous = events.length > 0;
  await within(closed, 2000, "the server socket's 'close'");
  await new Promise((resolve) => setTimeout(resolve, 20));
  return outcome as WriteOutcome;
}

describe.each(implementations)('%s', (_name, createServer) => {
  test("RELIABILITY #16: write() after end(): false, then the callback and 'error' get ERR_STREAM_WRITE_AFTER_END on a later tick", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.resume();
    socket.end();
    const outcome = await writeAndWatch(socket);
    expect(outcome.returned).toBe(false);
    expect(outcome.synchronous).toBe(false);
    expect(outcome.events).toEqual([
      'callback:ERR_STREAM_WRITE_AFTER_END',
      'error:ERR_STREAM_WRITE_AFTER_END',
      'close:true',
    ]);
    expect(outcome.errorEvent).toBe(outcome.callbackError);
    expect(outcome.errorEvent?.message).toBe('write after end');
  });

  test("RELIABILITY #16: write() after destroy(): false, the callback gets ERR_STREAM_DESTROYED, no 'error'", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.on('error', () => {});
    client.resume();
    socket.destroy();
    const outcome = await writeAndWatch(socket);
    expect(outcome.returned).toBe(false);
    expect(outcome.synchronous).toBe(false);
    expect(outcome.events).toEqual(['callback:ERR_STREAM_DESTROYED', 'close:false']);
    expect(outcome.callbackError?.message).toBe('Cannot call write after a stream was destroyed');
  });

  test("write() in the 'end' listener after our own end(): EPIPE to the callback, then 'error' on a later tick", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.resume();
    client.on('end', () => client.end());
    socket.resume();
    socket.end();
    const watched = new Promise<{ writableEnded: boolean; outcome: Promise<WriteOutcome> }>((resolve) => {
      // Inside the 'end' emit: the socket has ended and so has the peer.
      socket.once('end', () => resolve({ writableEnded: socket.writableEnded, outcome: writeAndWatch(socket) }));
    });
    const { writableEnded, outcome: watching } = await within(watched, 2000, "the server socket's 'end'");
    expect(writableEnded).toBe(true);
    const outcome = await watching;
    expect(outcome.returned).toBe(false);
    expect(outcome.synchronous).toBe(false);
    expect(outcome.events).toEqual(['callback:EPIPE', 'error:EPIPE', 'close:true']);
    expect(outcome.errorEvent?.message).toBe('This socket has been ended by the other party');
  });

  test('write() after the peer ended an allowHalfOpen=false socket and it closed: EPIPE to the callback only', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.resume();
    socket.resume();
    client.end();
    await within(once(socket, 'close'), 2000, "the server socket's 'close'");
    const events: string[] = [];
    socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
    const returned = socket.write('x', (error?: Error | null) => {
      events.push(`callback:${(error as NodeJS.ErrnoException | null | undefined)?.code}`);
    });
    const synchronous = events.length > 0;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect({ returned, synchronous, events }).toEqual({ returned: false, synchronous: false, events: ['callback:EPIPE'] });
  });
});
