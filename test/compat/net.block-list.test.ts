// Issue 14 (Node 22+ trees, test-net-blocklist and test-net-server-blocklist):
// the blockList option. A client does not connect to a blocked address
// (ERR_IP_BLOCKED; one of several is a failed attempt and the next is tried);
// a server closes a connection from one without a 'connection'. Node 20's net
// has no such option and ignores it, and so does the package there.
import type { LookupOptions } from 'node:dns';
import { once } from 'node:events';
import * as net from 'node:net';

import { mustCall } from '../helpers';
import { listenLocal, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

const netHasBlockList = Number(process.versions.node.split('.')[0]) >= 22;
const maybe = netHasBlockList ? test : test.skip;

type LookupCallback = (error: Error | null, address: unknown, family?: unknown) => void;

function blocking(...addresses: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const address of addresses) list.addAddress(address);
  return list;
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  maybe('connect() to a blocked address fails with ERR_IP_BLOCKED', async () => {
    const server = trackServer(net.createServer(mustCall(() => {}, 0)));
    const port = await listenLocal(server);
    const socket = trackSocket(implementation.connect({ port, host: '127.0.0.1', blockList: blocking('127.0.0.1') } as
      unknown as net.NetConnectOpts));
    const error = await within(new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve)),
      2000, "'error'");
    expect(error.code).toBe('ERR_IP_BLOCKED');
    expect(error.message).toBe('IP(127.0.0.1) is blocked by net.BlockList');
  });

  maybe('of several addresses, a blocked one is a failed attempt and the next connects', async () => {
    const server = trackServer(net.createServer((socket) => socket.end()));
    const port = await listenLocal(server);
    const lookup = (_host: string, options: LookupOptions, callback: LookupCallback): void => {
      process.nextTick(callback, null, options.all
        ? [{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }] : '127.0.0.2', 4);
    };
    const socket = trackSocket(implementation.connect({
      port, host: 'example.invalid', lookup, blockList: blocking('127.0.0.2'),
    } as unknown as net.NetConnectOpts));
    const failed: unknown[] = [];
    socket.on('connectionAttemptFailed', (address: string, _port: number, _family: number, error: NodeJS.ErrnoException) =>
      failed.push([address, error.code]));
    await within(once(socket, 'connect'), 2000, "'connect'");
    expect(failed).toEqual([['127.0.0.2', 'ERR_IP_BLOCKED']]);
    expect(socket.remoteAddress).toBe('127.0.0.1');
  });

  maybe('a server closes a connection from a blocked address with no connection event', async () => {
    const server = trackServer(implementation.createServer({ blockList: blocking('127.0.0.1') } as net.ServerOpts,
      mustCall(() => {}, 0)));
    const port = await listenLocal(server);
    const client = trackSocket(net.connect({ port, host: '127.0.0.1' }));
    client.on('error', () => {});
    client.resume();
    await within(once(client, 'close'), 2000, "the client's 'close'");
  });

  test('a blockList that is not a net.BlockList: ERR_INVALID_ARG_TYPE where net has the option, ignored on Node 20', () => {
    const make = (): unknown => new implementation.Socket({ blockList: {} } as unknown as net.SocketConstructorOpts);
    if (netHasBlockList) expect(make).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    else expect(make).not.toThrow();
  });
});
