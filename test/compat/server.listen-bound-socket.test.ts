// server.listen(boundSocket) and listen({ handle: boundSocket }), where net
// has net.BoundSocket (Node 24.22 and 26): the server listens on the socket
// the BoundSocket bound (the port it reserved, or its path), the BoundSocket
// is adopted (address(), fd() and close() throw ERR_SOCKET_HANDLE_ADOPTED),
// and close() releases it all: the port is refused, the socket file is gone.
// One already adopted fails listen() with that error, and a server already
// listening throws ERR_SERVER_ALREADY_LISTEN without adopting it.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { thrownCode } from '../helpers';
import { BoundSocket, maybe } from './bound-socket';
import { trackServer, trackSocket, unixSocketPath, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();


function adoptedCodes(bound: BoundSocket): string[] {
  return [() => bound.address(), () => bound.fd(), () => bound.close()].map(thrownCode);
}

/** What a client connecting to `target` reads before the server ends it, or its error code. */
function reply(target: { port: number; host: string } | string): Promise<string> {
  return new Promise((resolve) => {
    const client = trackSocket(typeof target === 'string' ? net.connect(target) : net.connect(target.port, target.host));
    let text = '';
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => { text += chunk; });
    client.on('end', () => resolve(text));
    client.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

async function close(server: net.Server): Promise<void> {
  server.close();
  await within(once(server, 'close'), 2000, "'close'");
}

describe.each(implementations)('%s', (_name, createServer) => {
  maybe('listen(bound, callback) serves the port it reserved and adopts it; close() frees the port', async () => {
    const bound = new BoundSocket!({ host: '127.0.0.1', port: 0 });
    const { port } = bound.address() as net.AddressInfo;
    const server = trackServer(createServer((socket) => socket.end('hello')));
    const listening = new Promise<void>((resolve) => server.listen(bound as never, resolve));
    await within(listening, 2000, 'the listen callback');
    expect(server.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
    expect(adoptedCodes(bound)).toEqual(Array(3).fill('ERR_SOCKET_HANDLE_ADOPTED'));
    expect(await within(reply({ port, host: '127.0.0.1' }), 2000, 'the reply')).toBe('hello');
    await close(server);
    expect(await within(reply({ port, host: '127.0.0.1' }), 2000, 'the reply')).toBe('ECONNREFUSED');
  });

  maybe('listen({ handle }) with a path: address() is the path; close() removes the socket file', async () => {
    const path = unixSocketPath();
    const bound = new BoundSocket!({ path });
    const server = trackServer(createServer((socket) => socket.end('over a path')));
    server.listen({ handle: bound } as net.ListenOptions);
    await within(once(server, 'listening'), 2000, "'listening'");
    expect(server.address()).toBe(path);
    expect(await within(reply(path), 2000, 'the reply')).toBe('over a path');
    await close(server);
    expect(fs.existsSync(path)).toBe(false);
  });

  maybe('an abstract name is served and released', async () => {
    const name = `\0epoll-reactor-bound-${process.pid}-${Date.now()}`;
    const bound = new BoundSocket!({ path: name });
    const server = trackServer(createServer((socket) => socket.end('abstract')));
    server.listen(bound as never);
    await within(once(server, 'listening'), 2000, "'listening'");
    expect(await within(reply(name), 2000, 'the reply')).toBe('abstract');
    await close(server);
    expect(await within(reply(name), 2000, 'the reply')).toBe('ECONNREFUSED');
  });

  maybe('a BoundSocket already adopted or closed: listen() throws ERR_SOCKET_HANDLE_ADOPTED', () => {
    const bound = new BoundSocket!({ host: '127.0.0.1' });
    bound.close();
    const server = trackServer(createServer());
    expect(() => server.listen(bound as never)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_HANDLE_ADOPTED' }));
    expect(server.listening).toBe(false);
  });

  maybe('a server already listening throws ERR_SERVER_ALREADY_LISTEN and leaves the BoundSocket its own', async () => {
    const server = trackServer(createServer());
    server.listen(0, '127.0.0.1');
    await within(once(server, 'listening'), 2000, "'listening'");
    const bound = new BoundSocket!({ host: '127.0.0.1' });
    expect(() => server.listen(bound as never)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
    expect(typeof (bound.address() as net.AddressInfo).port).toBe('number');
    bound.close();
  });
});
