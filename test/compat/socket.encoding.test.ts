// setEncoding() on the readable side, including characters whose bytes
// arrive in different chunks, and string encodings on the writable side.
import { once } from 'node:events';
import * as net from 'node:net';

import { connectPair, delay, listenLocal, readAll, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

/** Sends `bytes` one at a time, with a pause after each so that each is its own segment. */
async function dribble(client: net.Socket, bytes: Buffer): Promise<void> {
  client.setNoDelay(true);
  for (let i = 0; i < bytes.length; i++) {
    client.write(bytes.subarray(i, i + 1));
    await delay(15);
  }
}

describe.each(implementations)('%s', (_name, createServer) => {
  test("setEncoding('utf8'): characters split across chunks arrive whole, never as U+FFFD", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    expect(socket.setEncoding('utf8')).toBe(socket);
    expect(socket.readableEncoding).toBe('utf8');
    const chunks: unknown[] = [];
    socket.on('data', (chunk: unknown) => chunks.push(chunk));
    const text = 'a€😀b';
    await dribble(client, Buffer.from(text));
    client.end();
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    expect(chunks.every((chunk) => typeof chunk === 'string' && chunk.length > 0)).toBe(true);
    expect(chunks.join('')).toBe(text);
    expect(chunks.some((chunk) => (chunk as string).includes('\ufffd'))).toBe(false);
    expect(socket.bytesRead).toBe(Buffer.byteLength(text));
  });

  test("setEncoding('base64') re-groups bytes split across chunks", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    socket.setEncoding('base64');
    const chunks: string[] = [];
    socket.on('data', (chunk: string) => chunks.push(chunk));
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x01]);
    await dribble(client, bytes);
    client.end();
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    expect(chunks.join('')).toBe(bytes.toString('base64'));
  });

  test("an invalid UTF-8 byte at the end becomes one U+FFFD at 'end'", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => { text += chunk; });
    client.end(Buffer.from([0x41, 0xe2, 0x82]));
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    expect(text).toBe('A\ufffd');
  });

  test('writes in utf16le, latin1, base64 and hex send the bytes of that encoding', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.write('hé', 'utf16le');
    socket.write('é', 'latin1');
    socket.write('aGk=', 'base64');
    socket.write('00ff', 'hex');
    socket.setDefaultEncoding('hex');
    socket.write('7f');
    socket.end();
    expect(await within(received, 2000, "the client's 'end'")).toEqual(Buffer.from([
      0x68, 0x00, 0xe9, 0x00, // 'hé' in UTF-16LE
      0xe9, // 'é' in latin1
      0x68, 0x69, // 'hi'
      0x00, 0xff,
      0x7f,
    ]));
    expect(socket.bytesWritten).toBe(10);
  });
});
