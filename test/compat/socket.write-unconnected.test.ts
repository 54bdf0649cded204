// Issue 12 item 23, theme 8 of issue 14: a write on a socket that never
// connects calls back with ERR_SOCKET_CLOSED, emits it as 'error' and closes,
// as node:net does; a write queued while connecting, on a socket destroyed
// before it connected, calls back with ERR_SOCKET_CLOSED_BEFORE_CONNECTION.
import * as net from 'node:net';

import { trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (_name, implementation) => {
  test("new Socket().write('x', cb): cb(ERR_SOCKET_CLOSED), 'error', then 'close'", async () => {
    const socket = trackSocket(new implementation.Socket());
    const events: string[] = [];
    const closed = new Promise<void>((resolve) => socket.on('close', () => {
      events.push('close');
      resolve();
    }));
    socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
    const returned = socket.write('x', (error?: Error | null) => events.push(`callback:${(error as NodeJS.ErrnoException)?.code}`));
    expect(returned).toBe(false);
    await within(closed, 2000, "'close'");
    expect(events).toEqual(['callback:ERR_SOCKET_CLOSED', 'error:ERR_SOCKET_CLOSED', 'close']);
    expect(socket.destroyed).toBe(true);
  });

  test.each([['destroy()', undefined], ['destroy(error)', new Error('boom')]])(
    "%s of a socket that never connected: 'close' on the next tick, with no hadError argument, as net's", async (_label, error) => {
      const socket = trackSocket(new implementation.Socket());
      socket.on('error', () => {});
      const order: string[] = [];
      const closed = new Promise<unknown[]>((resolve) => socket.on('close', (...args: unknown[]) => {
        order.push('close');
        resolve(args);
      }));
      socket.destroy(error);
      setImmediate(() => order.push('immediate'));
      expect(await within(closed, 2000, "'close'")).toEqual([]);
      expect(order).toEqual(['close']);
    });

  test('new Socket().end(cb): called back at once from Node 22 on; on Node 20 it waits for a connect', async () => {
    const socket = trackSocket(new implementation.Socket());
    let called = false;
    socket.end(() => { called = true; });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(called).toBe(Number(process.versions.node.split('.')[0]) >= 22);
  });

  test('a write made while connecting, destroyed before connecting: ERR_SOCKET_CLOSED_BEFORE_CONNECTION', async () => {
    const socket = trackSocket(implementation.connect({ port: 9, host: '127.0.0.1' } as net.NetConnectOpts));
    socket.on('error', () => {});
    const called = new Promise<NodeJS.ErrnoException | null | undefined>((resolve) => socket.write('x', resolve));
    socket.destroy();
    const error = await within(called, 2000, 'the write callback');
    expect(error).toMatchObject({
      code: 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION',
      message: 'Socket closed before the connection was established',
    });
  });
});

describe.each(netImplementations)('%s, a write while connecting to a closed port', (_name, implementation) => {
  test("'error', 'close', then the write's callback, from a 'close' listener added with the write", async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const socket = trackSocket(implementation.connect(port, '127.0.0.1'));
    const events: string[] = [];
    socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
    socket.on('close', () => events.push('close (added before the write)'));
    socket.write('ping', (error?: Error | null) => events.push(`callback:${(error as NodeJS.ErrnoException)?.code}`));
    const closed = new Promise<void>((resolve) => socket.on('close', () => {
      events.push('close (added after)');
      resolve();
    }));
    await within(closed, 2000, "'close'");
    expect(events).toEqual(['error:ECONNREFUSED', 'close (added before the write)',
      'callback:ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'close (added after)']);
  });
});
