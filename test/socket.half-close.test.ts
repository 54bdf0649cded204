// The peer's FIN, as net handles it: without allowHalfOpen the socket ends its
// own side in turn; with it, the socket stays writable until the user ends it.
// Either way every byte the peer sent arrives before 'end'.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, connectLocal, listenLocal, mustCall, readExactly, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

/** Collects a client's bytes until 'end'. */
function readToEnd(client: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  return once(client, 'end').then(() => Buffer.concat(parts));
}

test("RELIABILITY #11: allowHalfOpen false: the peer's end gets one 'end', then the socket ends itself ('finish' before 'close')", async () => {
  const events: string[] = [];
  let serverSocket: Socket | undefined;
  const server = track(createServer(mustCall((socket: Socket) => {
    serverSocket = socket;
    expect(socket.allowHalfOpen).toBe(false);
    socket.on('data', mustCall((chunk: Buffer) => {
      events.push(`data ${chunk.toString()}`);
      socket.write(chunk);
    }));
    socket.on('end', mustCall(() => events.push('end')));
    socket.on('finish', mustCall(() => events.push('finish')));
    socket.on('close', mustCall((hadError: boolean) => events.push(`close ${hadError}`)));
  })));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));
  client.write('ping');
  expect((await readExactly(client, 4)).toString()).toBe('ping');
  const clientEnded = once(client, 'end');
  const clientClosed = once(client, 'close');
  client.end();
  await clientEnded;
  await clientClosed;
  await closeServer(server);

  expect(events).toEqual(['data ping', 'end', 'finish', 'close false']);
  const socket = serverSocket as Socket;
  expect(socket.writableFinished).toBe(true);
  expect(socket.destroyed).toBe(true);
}, 20000);

test("RELIABILITY #10: allowHalfOpen true: after the peer's end the socket stays writable and its reply arrives", async () => {
  const events: string[] = [];
  const server = track(createServer({ allowHalfOpen: true }, mustCall((socket: Socket) => {
    expect(socket.allowHalfOpen).toBe(true);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', mustCall(() => {
      events.push('end');
      // Still open for writing: the half-open state net gives with allowHalfOpen.
      expect(socket.writable).toBe(true);
      expect(socket.writableEnded).toBe(false);
      expect(socket.readyState).toBe('writeOnly');
      // Answer after a while, to show nothing closes the socket meanwhile.
      setTimeout(() => {
        expect(socket.destroyed).toBe(false);
        socket.write(`reply to ${Buffer.concat(received).toString()}`);
        socket.end(' (done)');
      }, 100);
    }));
    socket.on('finish', mustCall(() => events.push('finish')));
    socket.on('close', mustCall(() => events.push('close')));
  })));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));
  const reply = readToEnd(client);
  client.end('request');
  expect((await reply).toString()).toBe('reply to request (done)');
  if (!client.destroyed) await once(client, 'close');
  await closeServer(server);
  expect(events).toEqual(['end', 'finish', 'close']);
}, 20000);

test("a socket that is never read still gets 'end' when the peer ends, and closes (as net's does)", async () => {
  // net pushes the EOF and calls read(0), so 'end' comes without a 'data'
  // listener or resume(); run the same against net to show the reference.
  async function run(serverFactory: (listener: (socket: net.Socket) => void) => net.Server): Promise<string[]> {
    const events: string[] = [];
    const server = track(serverFactory((socket) => {
      socket.on('end', () => events.push('end'));
      socket.on('finish', () => events.push('finish'));
      socket.on('close', () => events.push('close'));
    }));
    const port = await listenLocal(server);
    const client = track(await connectLocal(port));
    client.resume();
    const clientClosed = once(client, 'close');
    client.end();
    // Bounded: an epoll-reactor socket that misses the FIN would never close.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([clientClosed, new Promise((resolve) => { timer = setTimeout(resolve, 1000); })]);
    clearTimeout(timer);
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // The server closes only after its socket does; give up after a while.
      timer = setTimeout(resolve, 1000);
    });
    clearTimeout(timer);
    return events;
  }
  const reference = await run((listener) => net.createServer(listener));
  expect(reference).toEqual(['end', 'finish', 'close']);
  const ours = await run((listener) => createServer(listener as unknown as (socket: Socket) => void) as unknown as net.Server);
  expect(ours).toEqual(reference);
}, 20000);

describe('RELIABILITY #12: peer sends 100 bytes then closes: every byte arrives before the one end', () => {
  const size = 100;
  const connections = 200;
  const payload = (index: number): Buffer => {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (index + i * 13) & 0xff;
    return bytes;
  };

  async function runMany(send: (client: net.Socket, bytes: Buffer) => void, slowReader: boolean): Promise<void> {
    const results: string[] = [];
    const server = track(createServer(mustCall((socket: Socket) => {
      const parts: Buffer[] = [];
      let ended = false;
      socket.on('data', (chunk: Buffer) => {
        if (ended) results.push('data after end');
        parts.push(chunk);
      });
      socket.on('end', mustCall(() => {
        ended = true;
        const received = Buffer.concat(parts);
        const index = received.length > 0 ? received[0] : -1;
        results.push(received.equals(payload(index)) ? 'ok' : `got ${received.length} bytes`);
      }));
      socket.on('close', mustCall());
      if (slowReader) {
        // Read slowly: the bytes and the FIN are both queued before we look.
        socket.pause();
        setTimeout(() => socket.resume(), 50);
      }
    }, connections)));
    const port = await listenLocal(server);
    await Promise.all(Array.from({ length: connections }, async (_, index) => {
      const client = track(await connectLocal(port));
      client.resume();
      const closed = once(client, 'close');
      send(client, payload(index));
      await closed;
    }));
    // A client may be done before the server has even accepted it (as with
    // net): wait for every connection's end before closing the server.
    await waitFor(() => results.length >= connections, 10000, `${connections} ends (have ${results.length})`);
    await closeServer(server);
    expect(results.filter((result) => result !== 'ok')).toEqual([]);
    expect(results).toHaveLength(connections);
  }

  test('with end(bytes)', async () => {
    await runMany((client, bytes) => client.end(bytes), false);
  }, 30000);

  test('with write(bytes) then destroy() once written', async () => {
    await runMany((client, bytes) => client.write(bytes, () => client.destroy()), false);
  }, 30000);

  test('with end(bytes) while the server reads slowly', async () => {
    await runMany((client, bytes) => client.end(bytes), true);
  }, 30000);
});
