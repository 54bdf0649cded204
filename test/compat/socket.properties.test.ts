// What an accepted socket says about itself: its addresses, readyState as
// each side ends, and the setters that return the socket for chaining.
import { once } from 'node:events';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { connectPair, listenLocal, trackServer, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (name, createServer) => {
  test('remote and local addresses, families and ports, and address()', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    expect({
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      remoteFamily: socket.remoteFamily,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      localFamily: socket.localFamily,
    }).toEqual({
      remoteAddress: '127.0.0.1',
      remotePort: client.localPort,
      remoteFamily: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: port,
      localFamily: 'IPv4',
    });
    expect(socket.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
  });

  test('each accepted socket reports the address it was reached at: on the unspecified address, per connection', async () => {
    const server = trackServer(createServer());
    server.listen(0, '0.0.0.0');
    await within(once(server, 'listening'), 2000, "'listening'");
    const { port } = server.address() as net.AddressInfo;
    // Both reach the one listener; each connection's own local address is its destination.
    for (const host of ['127.0.0.1', '127.0.0.2', '127.0.0.1']) {
      const { client, socket } = await connectPair(server, port, { host });
      expect([socket.localAddress, socket.localPort, socket.localFamily]).toEqual([host, port, 'IPv4']);
      expect(socket.address()).toEqual({ address: host, family: 'IPv4', port });
      expect(client.remoteAddress).toBe(host);
    }
  });

  test("on '::', each accepted socket reports its own destination: IPv4 clients as IPv4-mapped, IPv6 ones as sent", async () => {
    const server = trackServer(createServer());
    server.listen(0, '::');
    await within(once(server, 'listening'), 2000, "'listening'");
    const { port } = server.address() as net.AddressInfo;
    for (const [host, local] of [['127.0.0.1', '::ffff:127.0.0.1'], ['::1', '::1'], ['127.0.0.2', '::ffff:127.0.0.2']]) {
      const { socket } = await connectPair(server, port, { host });
      expect([socket.localAddress, socket.localPort, socket.localFamily]).toEqual([local, port, 'IPv6']);
    }
  });

  test('on an IPv4-mapped IPv6 address, accepted sockets report it as bound', async () => {
    const server = trackServer(createServer());
    server.listen(0, '::ffff:127.0.0.1');
    await within(once(server, 'listening'), 2000, "'listening'");
    const { port } = server.address() as net.AddressInfo;
    const { socket } = await connectPair(server, port, { host: '127.0.0.1' });
    expect([socket.localAddress, socket.localPort, socket.localFamily]).toEqual(['::ffff:127.0.0.1', port, 'IPv6']);
  });

  test('on one IPv6 address, accepted sockets report that address', async () => {
    const server = trackServer(createServer());
    server.listen(0, '::1');
    await within(once(server, 'listening'), 2000, "'listening'");
    const { port } = server.address() as net.AddressInfo;
    const { client, socket } = await connectPair(server, port, { host: '::1' });
    expect([socket.localAddress, socket.localPort, socket.localFamily]).toEqual(['::1', port, 'IPv6']);
    expect([socket.remoteAddress, socket.remotePort]).toEqual(['::1', client.localPort]);
  });

  test('an accepted socket is connected: not pending, not connecting, readyState open', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    expect(socket.pending).toBe(false);
    expect(socket.connecting).toBe(false);
    expect(socket.readyState).toBe('open');
    expect(socket.readable).toBe(true);
    expect(socket.writable).toBe(true);
    expect(socket.destroyed).toBe(false);
    expect(socket.allowHalfOpen).toBe(false);
  });

  // net's pending is `!this._handle || this.connecting`: true again once closed.
  test('a closed socket is pending again, as one with no handle, and its bufferSize is undefined', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    const bufferSizeOpen = socket.bufferSize;
    socket.destroy();
    await within(once(socket, 'close'), 2000, "'close'");
    expect([socket.pending, socket.connecting, socket.readyState]).toEqual([true, false, 'closed']);
    expect([bufferSizeOpen, socket.bufferSize]).toEqual([0, undefined]);
  });

  test("the server's highWaterMark option sets both high-water marks of accepted sockets", async () => {
    const server = createServer({ highWaterMark: 1024 } as net.ServerOpts);
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    expect([socket.readableHighWaterMark, socket.writableHighWaterMark]).toEqual([1024, 1024]);
  });

  test('readyState: open, writeOnly after the peer ends, closed after we end too', async () => {
    const server = createServer({ allowHalfOpen: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    socket.resume();
    client.resume();
    const states = [socket.readyState];
    client.end();
    await within(once(socket, 'end'), 2000, "the server socket's 'end'");
    states.push(socket.readyState);
    const closed = once(socket, 'close');
    socket.end();
    states.push(socket.readyState);
    await within(closed, 2000, "'close'");
    states.push(socket.readyState);
    expect(states).toEqual(['open', 'writeOnly', 'closed', 'closed']);
  });

  test('readyState: readOnly after we end, closed after destroy()', async () => {
    const server = createServer({ allowHalfOpen: true });
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port, { allowHalfOpen: true });
    client.resume();
    socket.end();
    const afterEnd = socket.readyState;
    socket.destroy();
    expect([afterEnd, socket.readyState]).toEqual(['readOnly', 'closed']);
  });

  test('setNoDelay(), setKeepAlive(), ref(), unref(), setEncoding() return the socket', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    expect(socket.setNoDelay()).toBe(socket);
    expect(socket.setNoDelay(false)).toBe(socket);
    expect(socket.setNoDelay(true)).toBe(socket);
    expect(socket.setKeepAlive(true, 1000)).toBe(socket);
    expect(socket.setKeepAlive(false)).toBe(socket);
    expect(socket.setKeepAlive()).toBe(socket);
    expect(socket.unref()).toBe(socket);
    expect(socket.ref()).toBe(socket);
    expect(socket.setEncoding('utf8')).toBe(socket);
    expect(socket.pause()).toBe(socket);
    expect(socket.resume()).toBe(socket);
  });

  test('setNoDelay() and setKeepAlive() on a destroyed socket still return it', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.on('error', () => {});
    socket.destroy();
    expect(socket.setNoDelay(true)).toBe(socket);
    expect(socket.setKeepAlive(true, 1000)).toBe(socket);
  });

  test("socket.server is the server that accepted it", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    expect((socket as net.Socket & { server: unknown }).server).toBe(server);
  });

  test('an accepted socket is a stream.Duplex', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    expect(socket).toBeInstanceOf(Duplex);
  });

  // A documented difference (docs/compatibility.md): a reactor socket is a
  // stream.Duplex with net.Socket's members, not a net.Socket subclass.
  test('an accepted socket is an instance of net.Socket (net only; a documented difference)', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    expect(socket instanceof net.Socket).toBe(name === 'node:net');
  });
});
