// Issue 12 item 22: abstract Unix sockets ('\0name') interoperate with
// node:net both ways. The kernel tells abstract names apart by their length,
// and Node 20's libuv pads them with NULs to the whole sun_path (later ones do
// not), so the package must name them as this Node's libuv does; address()
// shows the name as given, and an adopted listener's shows no padding.
import * as net from 'node:net';

import { adoptServer } from '../../lib';
import { trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

let sequence = 0;
function abstractName(): string {
  return `\0epoll-reactor-compat-${process.pid}-${++sequence}`;
}

function replyFrom(socket: net.Socket): Promise<string> {
  let reply = '';
  socket.on('data', (chunk: Buffer) => { reply += chunk.toString(); });
  return within(new Promise((resolve, reject) => {
    socket.once('end', () => resolve(reply));
    socket.once('error', reject);
  }), 2000, 'the reply');
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('a server on an abstract name: node:net clients reach it, and address() is the name', async () => {
    const name = abstractName();
    const server = trackServer(implementation.createServer((socket) => socket.end('from server')));
    await new Promise<void>((resolve) => server.listen(name, resolve));
    expect(server.address()).toBe(name);
    const client = trackSocket(net.connect(name));
    expect(await replyFrom(client)).toBe('from server');
  });

  test('a client of a node:net server on an abstract name reaches it', async () => {
    const name = abstractName();
    const server = trackServer(net.createServer((socket) => socket.end('from node')));
    await new Promise<void>((resolve) => server.listen(name, resolve));
    const client = trackSocket(implementation.connect(name));
    expect(await replyFrom(client)).toBe('from node');
  });
});

test('adoptServer() of a node:net server on an abstract name: address() without trailing NULs, and it serves', async () => {
  const name = abstractName();
  const plain = net.createServer();
  await new Promise<void>((resolve) => plain.listen(name, resolve));
  const adopted = trackServer(adoptServer(plain) as unknown as net.Server);
  adopted.on('connection', (socket: net.Socket) => socket.end('adopted'));
  expect(adopted.address()).toBe(name);
  const client = trackSocket(net.connect(name));
  expect(await replyFrom(client)).toBe('adopted');
});
