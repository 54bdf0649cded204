// server.maxConnections: connections beyond the limit are closed at once and
// reported with one 'drop' each, carrying the addresses Node passes; the
// dropped client sees a clean end; a freed slot is used again.
import { once } from 'node:events';
import * as net from 'node:net';

import { mustCall } from '../helpers';
import {
  acceptedSocket, connectClient, connectPair, listenLocal, netOutcome, trackServer, trackSocket, unixSocketPath,
  useCompatHarness, within,
} from './harness';
import { CreateServer, implementations } from './implementations';

useCompatHarness();

interface ClientOutcome {
  events: string[];
  closed: Promise<void>;
}

/** Records what a client sees: 'end', 'error:<code>', 'close:<hadError>'. */
function watchClient(client: net.Socket): ClientOutcome {
  const events: string[] = [];
  client.on('data', (chunk: Buffer) => events.push(`data:${chunk.length}`));
  client.on('end', () => events.push('end'));
  client.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
  const closed = new Promise<void>((resolve) => client.on('close', (hadError) => {
    events.push(`close:${hadError}`);
    resolve();
  }));
  return { events, closed };
}

/** What a server with maxConnections = `limit` does with two connections, one after the other. */
async function maxConnectionsOf(limit: unknown, createServer: CreateServer): Promise<string[]> {
  const server = createServer();
  server.maxConnections = limit as number;
  const seen: string[] = [];
  let saw: () => void = () => {};
  server.on('connection', () => { seen.push('connection'); saw(); });
  server.on('drop', () => { seen.push('drop'); saw(); });
  const port = await listenLocal(server);
  for (let i = 0; i < 2; i++) {
    const decided = new Promise<void>((resolve) => { saw = resolve; });
    await connectClient(port);
    await within(decided, 2000, `'connection' or 'drop' for connection ${i + 1}`);
  }
  return seen;
}

describe.each(implementations)('%s', (_name, createServer) => {
  test("RELIABILITY #26: beyond maxConnections each connection is dropped with one 'drop' carrying its addresses", async () => {
    const server = createServer();
    server.maxConnections = 2;
    server.on('connection', mustCall(() => {}, 2));
    const drops: unknown[] = [];
    server.on('drop', mustCall((data: unknown) => { drops.push(data); }, 3));
    const port = await listenLocal(server);
    await connectPair(server, port);
    await connectPair(server, port);

    for (let i = 0; i < 3; i++) {
      const dropped = once(server, 'drop');
      const client = await connectClient(port);
      // Read now: the reactor drops on its own thread, so the client may
      // already have its FIN, and have closed (localPort undefined), by the
      // time JS emits 'drop'.
      const clientPort = client.localPort;
      const outcome = watchClient(client);
      await within(dropped, 2000, `'drop' ${i + 1}`);
      expect(drops[i]).toEqual({
        localAddress: '127.0.0.1',
        localPort: port,
        localFamily: 'IPv4',
        remoteAddress: '127.0.0.1',
        remotePort: clientPort,
        remoteFamily: 'IPv4',
      });
      // The server closed it without reading or writing: a plain FIN.
      await within(outcome.closed, 2000, "the dropped client's 'close'");
      expect(outcome.events).toEqual(['end', 'close:false']);
    }
    const count = await new Promise<number>((resolve) => server.getConnections((_error, n) => resolve(n)));
    expect(count).toBe(2);
    expect(drops).toHaveLength(3);
  });

  test('a slot freed by a closed connection is used by the next one', async () => {
    const server = createServer((socket) => socket.resume());
    server.maxConnections = 1;
    server.on('connection', mustCall(() => {}, 2));
    server.on('drop', mustCall(() => {}, 1));
    const port = await listenLocal(server);
    const first = await connectPair(server, port);

    const dropped = once(server, 'drop');
    const rejected = watchClient(await connectClient(port));
    await within(dropped, 2000, "'drop'");
    await within(rejected.closed, 2000, "the dropped client's 'close'");

    first.client.destroy();
    await within(once(first.socket, 'close'), 2000, "the first server socket's 'close'");
    const second = await connectPair(server, port);
    second.client.write('accepted');
    const [chunk] = await within(once(second.socket, 'data'), 2000, 'data on the second connection');
    expect(chunk.toString()).toBe('accepted');
  });

  // Node 20 treats any falsy value as no limit; from Node 22 on, only null
  // and undefined are, and 0 or false drop every connection.
  test.each([0, false])("maxConnections = %p: each connection gets 'connection' or 'drop' as the running Node's net decides",
    async (limit) => {
      const outcome = await maxConnectionsOf(limit, createServer);
      expect(outcome).toEqual(await netOutcome(`maxConnections = ${limit}`, (create) => maxConnectionsOf(limit, create)));
      expect(outcome).toHaveLength(2);
    });

  test("on a Unix socket, 'drop' is emitted with no arguments", async () => {
    const socketPath = unixSocketPath();
    const server = trackServer(createServer());
    server.maxConnections = 1;
    const dropArguments: unknown[][] = [];
    server.on('drop', mustCall((...args: unknown[]) => { dropArguments.push(args); }));
    server.listen(socketPath);
    await within(once(server, 'listening'), 2000, "'listening'");
    trackSocket(net.connect(socketPath));
    await acceptedSocket(server);
    const dropped = once(server, 'drop');
    const outcome = watchClient(trackSocket(net.connect(socketPath)));
    await within(dropped, 2000, "'drop'");
    expect(dropArguments).toEqual([[]]);
    await within(outcome.closed, 2000, "the dropped client's 'close'");
    expect(outcome.events).toEqual(['end', 'close:false']);
  });
});
