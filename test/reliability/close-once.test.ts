// RELIABILITY #18: however destroy() and end() are combined and repeated,
// a socket emits exactly one 'close' (and nothing after it).
import { once } from 'node:events';

import { createServer, Socket } from '../../lib';
import { connectLocal, listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';

afterEach(releaseTracked);

const sequences: Array<Array<'destroy' | 'end'>> = [
  ['destroy', 'destroy', 'end', 'end'],
  ['end', 'end', 'destroy', 'destroy'],
  ['end', 'destroy', 'end', 'destroy'],
  ['destroy', 'end', 'destroy', 'end'],
];

test.each(sequences.map((sequence) => [sequence.join(', '), sequence] as const))(
  "RELIABILITY #18: %s: exactly one 'close', no 'error', nothing emitted after 'close'", async (_, sequence) => {
    const server = track(createServer());
    const port = await listenLocal(server);
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = track(await connectLocal(port));
    client.resume();
    const clientClosed = once(client, 'close');
    const [socket] = await accepted;
    const events: string[] = [];
    const emit = socket.emit.bind(socket);
    socket.emit = ((event: string | symbol, ...args: unknown[]) => {
      events.push(String(event));
      return emit(event, ...args);
    }) as typeof socket.emit;
    for (const call of sequence) {
      if (call === 'destroy') socket.destroy();
      else socket.end();
    }
    // Twice more on a later tick, after 'close' may have come.
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const call of sequence) {
      if (call === 'destroy') socket.destroy();
      else socket.end();
    }
    await clientClosed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events.filter((event) => event === 'close')).toEqual(['close']);
    expect(events).not.toContain('error');
    expect(events.slice(events.indexOf('close') + 1)).toEqual([]);
  });
