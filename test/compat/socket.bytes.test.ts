// bytesWritten and bytesRead count bytes, not characters: exactly, at once
// for writes still buffered, and still readable after the socket closed.
import { once } from 'node:events';

import { connectPair, listenLocal, readAll, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (_name, createServer) => {
  test('RELIABILITY #19: bytesWritten counts the bytes of each write as it is made, in its encoding', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.resume(); // so that it sees the client's FIN and closes
    const counts: number[] = [socket.bytesWritten];
    socket.write('€uro'); // 3 + 3 bytes of UTF-8
    counts.push(socket.bytesWritten);
    socket.write(Buffer.alloc(1000));
    counts.push(socket.bytesWritten);
    socket.write('ff00', 'hex');
    counts.push(socket.bytesWritten);
    socket.write('é', 'latin1');
    counts.push(socket.bytesWritten);
    socket.write(new Uint8Array([1, 2, 3]));
    counts.push(socket.bytesWritten);
    expect(counts).toEqual([0, 6, 1006, 1008, 1009, 1012]);
    socket.end();
    expect((await within(received, 2000, "the client's 'end'")).length).toBe(1012);
    await within(once(socket, 'close'), 2000, "'close'");
    expect(socket.bytesWritten).toBe(1012);
  });

  test('RELIABILITY #19: bytesWritten includes writes held back by cork()', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.cork();
    socket.write('a');
    socket.write('€');
    expect(socket.bytesWritten).toBe(4);
    socket.uncork();
    expect(socket.bytesWritten).toBe(4);
    socket.end();
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe('a€');
    expect(socket.bytesWritten).toBe(4);
  });

  test('RELIABILITY #19: bytesRead counts the bytes received, multi-byte UTF-8 included, and survives close', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(socket);
    client.write('héllo€'); // 1 + 2 + 3 + 3 bytes
    client.write(Buffer.alloc(1000));
    client.end();
    expect((await within(received, 2000, "the server socket's 'end'")).length).toBe(1009);
    expect(socket.bytesRead).toBe(1009);
    await within(once(socket, 'close'), 2000, "'close'");
    expect(socket.bytesRead).toBe(1009);
  });

  test('bytesRead counts bytes, not characters, with setEncoding', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => { text += chunk; });
    client.end('😀€');
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    expect(text).toBe('😀€');
    expect(socket.bytesRead).toBe(7);
  });
});
