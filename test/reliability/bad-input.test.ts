// RELIABILITY #41: bad arguments to write() and setTimeout() fail the way
// node:net fails them, and never reach the native reactor. #42: the takeover
// entry points given an fd that is invalid, closed, not a socket, listening
// where a connection is expected, or already adopted, fail clearly, do not
// abort, and leave a foreign fd open.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { adopt, createServer, Server, Socket } from '../../lib';
import { getReactor } from '../../lib/reactor';
import { connectLocal, listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';

afterEach(releaseTracked);

function thrown(call: () => unknown): { name?: string; code?: string } {
  try {
    call();
  } catch (error) {
    return { name: (error as Error).name, code: (error as NodeJS.ErrnoException).code };
  }
  return {};
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

test("RELIABILITY #41: write(null), write({}), setTimeout(NaN): node:net's errors, and no native call made", async () => {
  const server = track(createServer());
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = track(await connectLocal(port));
  const [socket] = await accepted;
  // Record every call into the native reactor while the bad calls are made.
  const reactor = getReactor() as unknown as { native: Record<string, (...args: unknown[]) => unknown> };
  const original = reactor.native;
  const nativeCalls: string[] = [];
  reactor.native = new Proxy(original, {
    get(target, name) {
      const value = target[name as string];
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        nativeCalls.push(String(name));
        return value.apply(target, args);
      };
    },
  });

  const calls: Array<[string, (s: net.Socket) => unknown]> = [
    ['write(null)', (s) => s.write(null as never)],
    ['write({})', (s) => s.write({} as never)],
    ['setTimeout(NaN)', (s) => s.setTimeout(NaN)],
    ['setTimeout(-1)', (s) => s.setTimeout(-1)],
  ];
  for (const [what, call] of calls) {
    const expected = thrown(() => call(client));
    expect(expected.code).toBeDefined();
    expect({ what, ...thrown(() => call(socket as unknown as net.Socket)) }).toEqual({ what, ...expected });
  }
  await new Promise((resolve) => setImmediate(resolve));
  reactor.native = original;
  expect(nativeCalls).toEqual([]);
  // The socket still works.
  socket.write('fine');
  expect((await once(client, 'data'))[0].toString()).toBe('fine');
});

describe('RELIABILITY #42: the takeover API given a bad fd', () => {
  test('listen({ fd }) with an fd that is negative, closed, a file, or a connected socket: a clear error, no abort, the foreign fd still open', async () => {
    // node:net's code: a negative fd is not an fd, so the options have neither port nor path.
    expect(thrown(() => createServer().listen({ fd: -1 }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });

    const closedFd = 19000; // far above anything this process opens
    expect(isOpen(closedFd)).toBe(false);
    const file = fs.openSync(__filename, 'r');
    const peerServer = track(net.createServer());
    const peerPort = await listenLocal(peerServer);
    const connected = track(await connectLocal(peerPort));
    const connectedFd = (connected as unknown as { _handle: { fd: number } })._handle.fd;
    // net's code for each: EINVAL, for an fd it cannot wrap as a handle as
    // for a socket listen(2) refuses (test/compat/server.listen-arguments).
    for (const [what, fd, code] of [
      ['closed', closedFd, 'EINVAL'],
      ['file', file, 'EINVAL'],
      ['connected socket', connectedFd, 'EINVAL'],
    ] as Array<[string, number, string]>) {
      const server = track(createServer()) as Server;
      server.listen({ fd });
      const [error] = (await once(server, 'error')) as [NodeJS.ErrnoException];
      expect({ what, code: error.code }).toEqual({ what, code });
      if (what !== 'closed') expect({ what, open: isOpen(fd) }).toEqual({ what, open: true });
    }
    // The connected socket whose fd was offered as a listener is untouched.
    expect(connected.destroyed).toBe(false);
    fs.closeSync(file);
  });

  test('adopt() of a socket already adopted: ERR_INVALID_STATE; the first adoption keeps working', async () => {
    const plainServer = track(net.createServer());
    const port = await listenLocal(plainServer);
    const accepted = once(plainServer, 'connection') as Promise<[net.Socket]>;
    const client = track(await connectLocal(port));
    const [plain] = await accepted;
    const adopted = track(adopt(plain));
    expect(thrown(() => adopt(plain))).toMatchObject({ code: 'ERR_INVALID_STATE' });
    adopted.on('data', (chunk: Buffer) => adopted.write(chunk));
    client.write('still mine');
    expect((await once(client, 'data'))[0].toString()).toBe('still mine');
  });

  test('the native adoptFd() given a closed fd, a file, or a listening socket: an errno, no abort, the foreign fd still open', async () => {
    const native = getReactor().native;
    const closedFd = 19000;
    expect(isOpen(closedFd)).toBe(false);
    const file = fs.openSync(__filename, 'r');
    const listening = track(net.createServer());
    await listenLocal(listening);
    const listeningFd = (listening as unknown as { _handle: { fd: number } })._handle.fd;
    for (const [what, fd] of [['closed', closedFd], ['file', file], ['listening socket', listeningFd]] as Array<[string, number]>) {
      const result = native.adoptFd(fd) as unknown[];
      expect({ what, failed: result.length === 2 && typeof result[0] === 'number' && (result[0] as number) < 0 })
        .toEqual({ what, failed: true });
      if (what !== 'closed') expect({ what, open: isOpen(fd) }).toEqual({ what, open: true });
    }
    // The listening socket keeps accepting under libuv.
    const accepted = once(listening, 'connection');
    track(await connectLocal((listening.address() as net.AddressInfo).port));
    await accepted;
    fs.closeSync(file);
  });
});
