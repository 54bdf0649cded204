// Node 25's test-net-socket-tos, and what net does around it (Node 24.22 and
// 26): setTypeOfService()/getTypeOfService() and the typeOfService option.
// A connected TCP socket sets and reads the kernel's IP_TOS (IPV6_TCLASS on
// an IPv6 socket, v4-mapped peers included); before it connects, and on a
// Unix socket, the value is only kept, and a value set before the
// connection is applied when it connects. Bad values throw net's errors
// before anything changes. Where net has no such methods (Node 20, 22),
// neither has the package.
import { once } from 'node:events';
import * as net from 'node:net';

import { thrownCode } from '../helpers';
import { acceptedSocket, trackServer, trackSocket, unixSocketPath, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

interface TypeOfService {
  setTypeOfService(tos: unknown): unknown;
  getTypeOfService(): number;
}

const netHasTypeOfService = typeof (net.Socket.prototype as Partial<TypeOfService>).setTypeOfService === 'function';
const maybe = netHasTypeOfService ? test : test.skip;
// Linux keeps a TCP socket's ECN bits (the low two) for itself: 0xff set
// reads back as 0xfc. So a value read with them cleared came from the
// kernel, not from a copy kept in JS (net's test masks them instead).

function tosOf(socket: net.Socket): TypeOfService {
  return socket as unknown as TypeOfService;
}

async function listenOn(server: net.Server, host: string): Promise<number> {
  trackServer(server);
  server.listen(0, host);
  await within(once(server, 'listening'), 2000, "'listening'");
  return (server.address() as net.AddressInfo).port;
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  maybe('bad values throw net\'s errors and leave the value as it was', () => {
    const socket = tosOf(trackSocket(new implementation.Socket()));
    socket.setTypeOfService(0x20);
    const codes = ['invalid', NaN, 256, -1, 1.5, undefined].map((value) => thrownCode(() => socket.setTypeOfService(value)));
    expect(codes).toEqual(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE',
      'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE']);
    expect(socket.getTypeOfService()).toBe(0x20);
  });

  maybe('the typeOfService option is checked as net checks it', () => {
    const make = (value: unknown) => () => new implementation.Socket({ typeOfService: value } as net.SocketConstructorOpts);
    expect(make(300)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(make('16')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(tosOf(trackSocket(make(0x48)())).getTypeOfService()).toBe(0x48);
  });

  maybe('a socket that never connected reads 0, then what was set; set returns the socket', () => {
    const socket = trackSocket(new implementation.Socket());
    expect(tosOf(socket).getTypeOfService()).toBe(0);
    expect(tosOf(socket).setTypeOfService(0x10)).toBe(socket);
    expect(tosOf(socket).getTypeOfService()).toBe(0x10);
  });

  for (const host of ['127.0.0.1', '::1']) {
    maybe(`${host}: a value set before connect() is the kernel's once connected, and later sets reach it`, async () => {
      const server = net.createServer((peer) => peer.end());
      const port = await listenOn(server, host);
      const client = trackSocket(new implementation.Socket());
      tosOf(client).setTypeOfService(0x10);
      client.connect(port, host);
      await within(once(client, 'connect'), 2000, "'connect'");
      const seen = [tosOf(client).getTypeOfService()];
      for (const value of [0x00, 0xff, 0x3f, 0x28]) {
        tosOf(client).setTypeOfService(value);
        seen.push(tosOf(client).getTypeOfService());
      }
      expect(seen).toEqual([0x10, 0x00, 0xfc, 0x3c, 0x28]);
      client.resume();
      await within(once(client, 'close'), 2000, "'close'");
    });
  }

  maybe('connect({ typeOfService }) connects with it', async () => {
    const server = net.createServer((peer) => peer.end());
    const port = await listenOn(server, '127.0.0.1');
    const client = trackSocket(implementation.connect({ port, host: '127.0.0.1', typeOfService: 0x4b } as
      net.NetConnectOpts));
    await within(once(client, 'connect'), 2000, "'connect'");
    expect(tosOf(client).getTypeOfService()).toBe(0x48);
    client.resume();
  });

  maybe('an accepted socket on an IPv6 listener with a v4-mapped peer sets its own and reads it back', async () => {
    const server = trackServer(implementation.createServer());
    const port = await listenOn(server, '::');
    const client = trackSocket(net.connect(port, '127.0.0.1'));
    const accepted = await acceptedSocket(server);
    expect(accepted.remoteAddress).toBe('::ffff:127.0.0.1');
    const before = tosOf(accepted).getTypeOfService();
    tosOf(accepted).setTypeOfService(0x2b);
    expect([before, tosOf(accepted).getTypeOfService()]).toEqual([0, 0x28]);
    accepted.destroy();
    // Once destroyed there is no kernel socket: the value last set, as net.
    expect(tosOf(accepted).getTypeOfService()).toBe(0x2b);
    client.destroy();
  });

  maybe('a Unix socket keeps the value without applying it, as net\'s pipe handle', async () => {
    const path = unixSocketPath();
    const server = trackServer(net.createServer((peer) => peer.end()));
    server.listen(path);
    await within(once(server, 'listening'), 2000, "'listening'");
    const client = trackSocket(implementation.connect(path));
    await within(once(client, 'connect'), 2000, "'connect'");
    expect(tosOf(client).getTypeOfService()).toBe(0);
    tosOf(client).setTypeOfService(0xff);
    expect(tosOf(client).getTypeOfService()).toBe(0xff);
    client.resume();
  });

  test('the methods exist exactly where net\'s Socket has them', () => {
    const socket = trackSocket(new implementation.Socket()) as unknown as Partial<TypeOfService>;
    expect([typeof socket.setTypeOfService, typeof socket.getTypeOfService])
      .toEqual(netHasTypeOfService ? ['function', 'function'] : ['undefined', 'undefined']);
  });
});
