// new net.Socket({ handle: boundSocket }), where net has net.BoundSocket
// (Node 24.22 and 26): the socket adopts it (its fd(), address() and close()
// throw ERR_SOCKET_HANDLE_ADOPTED) and connect() connects from the address
// and port it is bound to; localAddress/localPort are refused beside it; a
// path it is bound to is the socket's localAddress, and its file is removed
// when the socket closes. Ending or destroying the socket closes the
// connection (no copy of the fd keeps it open), and whatever way the socket
// ends, the port is free again.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { trackServer, trackSocket, unixSocketPath, useCompatHarness, within } from './harness';
import * as reactor from '../../lib';
import { openFdCount, settledFdCount, thrownCode } from '../helpers';
import { BoundSocket, maybe } from './bound-socket';
import { netImplementations } from './implementations';

useCompatHarness();


/** A node:net server on 127.0.0.1 that reports each connection's remote port, then what it read until the client's FIN. */
async function portEchoServer(): Promise<{ port: number; seen: Array<Promise<[number, string]>> }> {
  const seen: Array<Promise<[number, string]>> = [];
  const server = trackServer(net.createServer((peer) => {
    seen.push(new Promise((resolve) => {
      let text = '';
      peer.setEncoding('utf8');
      peer.on('data', (chunk: string) => { text += chunk; });
      peer.on('end', () => {
        resolve([peer.remotePort!, text]);
        peer.end('bye');
      });
      peer.on('error', () => resolve([peer.remotePort!, 'error']));
    }));
  }));
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 2000, "'listening'");
  return { port: (server.address() as net.AddressInfo).port, seen };
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  maybe('connects from the bound port, adopts it, and end() closes the connection both ways', async () => {
    const { port, seen } = await portEchoServer();
    const bound = new BoundSocket!({ host: '127.0.0.1', port: 0 });
    const local = bound.address() as net.AddressInfo;
    const socket = trackSocket(new implementation.Socket({ handle: bound } as net.SocketConstructorOpts));
    expect([thrownCode(() => bound.fd()), thrownCode(() => bound.address()), thrownCode(() => bound.close())])
      .toEqual(Array(3).fill('ERR_SOCKET_HANDLE_ADOPTED'));
    expect(socket.address()).toEqual(local);
    socket.connect(port, '127.0.0.1');
    await within(once(socket, 'connect'), 2000, "'connect'");
    expect(socket.localPort).toBe(local.port);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { reply += chunk; });
    socket.end('from a bound port');
    await within(once(socket, 'close'), 2000, "the client's 'close'");
    expect(await within(seen[0]!, 2000, "the server's 'end'")).toEqual([local.port, 'from a bound port']);
    expect(reply).toBe('bye');
  });

  maybe('localAddress or localPort beside it throw ERR_INVALID_ARG_VALUE, and the socket still connects', async () => {
    const { port } = await portEchoServer();
    const bound = new BoundSocket!({ host: '127.0.0.1' });
    const socket = trackSocket(new implementation.Socket({ handle: bound } as net.SocketConstructorOpts));
    expect(thrownCode(() => socket.connect({ port, host: '127.0.0.1', localPort: 40000 })))
      .toBe('ERR_INVALID_ARG_VALUE');
    expect(thrownCode(() => socket.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' })))
      .toBe('ERR_INVALID_ARG_VALUE');
    socket.connect({ port, host: '127.0.0.1' });
    await within(once(socket, 'connect'), 2000, "'connect'");
    socket.destroy();
  });

  maybe('a refused connect fails with ECONNREFUSED and leaves no fd open', async () => {
    const refusing = trackServer(net.createServer());
    refusing.listen(0, '127.0.0.1');
    await within(once(refusing, 'listening'), 2000, "'listening'");
    const deadPort = (refusing.address() as net.AddressInfo).port;
    refusing.close();
    await within(once(refusing, 'close'), 2000, "'close'");
    const before = await settledFdCount();
    const socket = trackSocket(new implementation.Socket({ handle: new BoundSocket!({ host: '127.0.0.1' }) } as
      net.SocketConstructorOpts));
    socket.connect(deadPort, '127.0.0.1');
    const [error] = await within(once(socket, 'error'), 2000, "'error'") as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
    await within(once(socket, 'close'), 2000, "'close'");
    expect(await settledFdCount()).toBe(before);
  });

  maybe('destroyed before it connects, the socket leaves no fd open', async () => {
    const before = await settledFdCount();
    const socket = new implementation.Socket({ handle: new BoundSocket!({ host: '127.0.0.1' }) } as
      net.SocketConstructorOpts);
    expect(openFdCount()).toBe(before + 1);
    socket.destroy();
    await within(once(socket, 'close'), 2000, "'close'");
    expect(await settledFdCount()).toBe(before);
  });

  maybe('bound to a path: that path is the local address, and its file goes when the socket closes', async () => {
    const serverPath = unixSocketPath();
    const server = trackServer(net.createServer((peer) => peer.end('unix')));
    server.listen(serverPath);
    await within(once(server, 'listening'), 2000, "'listening'");
    const clientPath = unixSocketPath();
    const socket = trackSocket(new implementation.Socket({ handle: new BoundSocket!({ path: clientPath }) } as
      net.SocketConstructorOpts));
    socket.connect(serverPath);
    await within(once(socket, 'connect'), 2000, "'connect'");
    expect([socket.localAddress, fs.existsSync(clientPath)]).toEqual([clientPath, true]);
    socket.resume();
    await within(once(socket, 'close'), 2000, "'close'");
    expect(fs.existsSync(clientPath)).toBe(false);
  });

  maybe('with a BoundSocket as handle, an fd option is not looked at', () => {
    const bound = new BoundSocket!({ host: '127.0.0.1' });
    const local = bound.address();
    const socket = new implementation.Socket({ handle: bound, fd: -5 } as net.SocketConstructorOpts);
    expect(socket.address()).toEqual(local);
    socket.destroy();
  });

  maybe('a BoundSocket adopted already: the constructor throws ERR_SOCKET_HANDLE_ADOPTED', () => {
    const bound = new BoundSocket!({ host: '127.0.0.1' });
    bound.close();
    expect(thrownCode(() => new implementation.Socket({ handle: bound } as net.SocketConstructorOpts)))
      .toBe('ERR_SOCKET_HANDLE_ADOPTED');
  });
});

maybe('a BoundSocket subclass is adopted as one', async () => {
  class Reserved extends BoundSocket! {}
  const bound = new Reserved({ host: '127.0.0.1' });
  const local = bound.address();
  const socket = new reactor.Socket({ handle: bound } as unknown as reactor.SocketOptions);
  expect([socket.address(), thrownCode(() => bound.fd())]).toEqual([local, 'ERR_SOCKET_HANDLE_ADOPTED']);
  socket.destroy();
});

maybe('where node\'s BoundSocket cannot be taken over, it is refused, not half adopted', () => {
  const prototype = BoundSocket!.prototype as unknown as Record<symbol, unknown>;
  const consume = Object.getOwnPropertySymbols(prototype).find((symbol) => symbol.description === 'kBoundSocketConsume')!;
  const method = prototype[consume];
  delete prototype[consume];
  const bound = new BoundSocket!({ host: '127.0.0.1' });
  try {
    expect(thrownCode(() => new reactor.Socket({ handle: bound } as unknown as reactor.SocketOptions)))
      .toBe('ERR_EPOLL_REACTOR_UNSUPPORTED');
    expect(thrownCode(() => reactor.createServer().listen(bound as never))).toBe('ERR_EPOLL_REACTOR_UNSUPPORTED');
    expect(typeof (bound.address() as net.AddressInfo).port).toBe('number');
  } finally {
    prototype[consume] = method;
    bound.close();
  }
});
