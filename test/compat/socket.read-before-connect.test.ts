// A client read from before it connects: a 'readable' listener, for await,
// toArray() or pipeline() asks for data while the socket is still
// connecting. net's _read then waits for 'connect' and starts reading, even
// though such a consumer leaves the stream not flowing (isPaused() true),
// the state in which a socket that nobody read from stays unread.
import * as net from 'node:net';
import { pipeline } from 'node:stream/promises';

import { listenLocal, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

/** A node:net server that sends `text` to each client and ends; its port. */
async function sendingServer(text: string): Promise<number> {
  return listenLocal(net.createServer((socket) => socket.end(text)));
}

const consumers: Array<[string, (socket: net.Socket) => Promise<string>]> = [
  ["a 'readable' listener", (socket) => new Promise((resolve) => {
    let text = '';
    socket.on('readable', () => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) text += chunk;
    });
    socket.on('end', () => resolve(text));
  })],
  ['for await', async (socket) => {
    let text = '';
    for await (const chunk of socket) text += chunk;
    return text;
  }],
  ['toArray()', async (socket) => Buffer.concat(await socket.toArray()).toString()],
  ['pipeline() into an async function', async (socket) => {
    let text = '';
    await pipeline(socket, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) text += chunk;
    });
    return text;
  }],
];

describe.each(netImplementations)('%s', (_name, netModule) => {
  test.each(consumers)('%s attached before the connect gets every byte and the end', async (_consumer, consume) => {
    const port = await sendingServer('0123456789');
    const client = trackSocket(netModule.connect(port, '127.0.0.1'));
    expect(await within(consume(client), 3000, 'the bytes and the end')).toBe('0123456789');
  });
});
