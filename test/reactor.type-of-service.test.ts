// The reactor's typeOfService(id, tos) itself, below lib/socket.ts, so that
// it runs on every Node (the Socket methods exist only where net has them,
// Node 24.22+) and under the sanitizers on Node 20: it sets and reads the
// kernel's value on the reactor thread for a connection it has (IP_TOS, or
// IPV6_TCLASS on an IPv6 socket), says -EINVAL for a Unix socket, and
// answers undefined, at once, for an id it has no connection for.
import { once } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';

import { createServer, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { closeServer, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { unixSocketPath, useCompatHarness } from './compat/harness';

// The harness checks mustCall counts and removes the Unix socket's directory.
useCompatHarness();
afterEach(releaseTracked);

async function acceptedOn(listen: (server: net.Server) => Promise<void>, connect: (server: net.Server) => net.Socket):
  Promise<{ accepted: Socket; client: net.Socket; server: net.Server }> {
  let accepted: Socket | undefined;
  const server = track(createServer((socket: Socket) => { accepted = socket; })) as unknown as net.Server;
  await listen(server);
  const client = track(connect(server));
  client.on('error', () => {});
  await waitFor(() => accepted !== undefined, 5000, 'the connection');
  return { accepted: accepted!, client, server };
}

for (const host of ['127.0.0.1', '::1']) {
  test(`${host}: sets and reads the kernel's type of service of a connection by id`, async () => {
    const { accepted, client, server } = await acceptedOn(async (s) => {
      s.listen(0, host);
      await once(s, 'listening');
    }, (s) => net.connect((s.address() as net.AddressInfo).port, host));
    const native = getReactor().native;
    const seen = [native.typeOfService(accepted.id, -1), native.typeOfService(accepted.id, 0xff),
      native.typeOfService(accepted.id, -1), native.typeOfService(accepted.id, 0x28), native.typeOfService(accepted.id, -1)];
    // 0xff reads back as 0xfc: Linux keeps a TCP socket's ECN bits itself.
    expect(seen).toEqual([0, 0, 0xfc, 0, 0x28]);
    client.destroy();
    await closeServer(server as never);
  });
}

test('a Unix socket: -EINVAL; an id with no connection: undefined, at once', async () => {
  const path = unixSocketPath();
  const { accepted, client, server } = await acceptedOn(async (s) => {
    s.listen(path);
    await once(s, 'listening');
  }, () => net.connect(path));
  const native = getReactor().native;
  expect(native.typeOfService(accepted.id, 0x10)).toBe(-os.constants.errno.EINVAL);
  expect(native.typeOfService(accepted.id, -1)).toBe(-os.constants.errno.EINVAL);
  const id = accepted.id;
  accepted.destroy();
  const started = Date.now();
  expect(native.typeOfService(id, -1)).toBeUndefined();
  expect(Date.now() - started).toBeLessThan(1000);
  client.destroy();
  await closeServer(server as never);
});

test('bad arguments throw, before any command', () => {
  const native = getReactor().native as unknown as { typeOfService(...args: unknown[]): unknown };
  expect(() => native.typeOfService(1)).toThrow(/^typeOfService/);
  expect(() => native.typeOfService(1, 256)).toThrow(/^typeOfService/);
  expect(() => native.typeOfService(1, -2)).toThrow(/^typeOfService/);
});
