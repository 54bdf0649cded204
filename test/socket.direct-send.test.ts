// Writes go to the kernel from the JS thread when nothing of the socket waits
// in the reactor, as libuv's try-write does for net (src-native/direct_sends.h):
// a small write is in the kernel when write() returns, bytes queued behind a
// full kernel buffer are never overtaken, and a ping-pong wakes the reactor
// thread once per round trip (for the bytes that arrive), not again for each
// reply and its acknowledgement.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { configure, createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, listenLocal, mustCall, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { reactorThreadStat } from './reliability/fault-child';

// Small enough that a 4 MiB transfer stops the reactor at the cap many
// times: each time only JS's acknowledgement can start it again.
const CAP = 64 * 1024;
configure({ maxUnconsumedBytesPerSocket: CAP });

afterEach(releaseTracked);
afterEach(checkMustCalls);
jest.setTimeout(30000);

async function acceptedPair<S extends net.Socket | Socket>(server: net.Server | ReturnType<typeof createServer>):
  Promise<{ client: net.Socket; socket: S }> {
  const port = await listenLocal(server);
  const accepted = once(server as net.Server, 'connection') as Promise<[S]>;
  const client = track(net.connect(port, '127.0.0.1'));
  const connected = once(client, 'connect');
  const [socket] = await accepted;
  await connected;
  return { client, socket };
}

test("a small write to an idle socket is the kernel's when write() returns, as with net", async () => {
  const seen: Record<string, unknown[]> = {};
  for (const [name, make] of [['net', () => net.createServer()], ['reactor', () => createServer()]] as const) {
    const server = track(make());
    const { client, socket } = await acceptedPair<net.Socket>(server);
    const order: string[] = [];
    const returned = socket.write('hello', mustCall(() => order.push('callback')));
    order.push('returned');
    const state = [returned, socket.writableLength, socket.bytesWritten];
    await new Promise((resolve) => process.nextTick(resolve));
    const received = await new Promise<string>((resolve) => client.once('data', (data: Buffer) => resolve(String(data))));
    seen[name] = [...state, order.join(','), received];
    client.destroy();
    socket.destroy();
    await closeServer(server);
  }
  expect(seen.reactor).toEqual(seen.net);
  expect(seen.reactor).toEqual([true, 0, 5, 'returned,callback', 'hello']);
});

test('bytes queued behind a full kernel buffer keep their place ahead of later writes', async () => {
  const server = track(createServer());
  const { client, socket } = await acceptedPair<Socket>(server);
  client.pause();
  // Numbered 4-byte words, in chunks of assorted sizes, until the kernel is
  // full; then more while it stays full; then more after the peer reads.
  let next = 0;
  const chunkOf = (words: number): Buffer => {
    const chunk = Buffer.alloc(words * 4);
    for (let i = 0; i < words; i++) chunk.writeUInt32BE(next++, i * 4);
    return chunk;
  };
  let rounds = 0;
  while (socket.write(chunkOf(1 + (rounds % 7) * 3000)) && rounds < 10000) rounds++;
  expect(socket.writableLength).toBeGreaterThan(0);
  for (let i = 0; i < 50; i++) socket.write(chunkOf(1 + (i % 5)));
  const received: Buffer[] = [];
  let receivedBytes = 0;
  client.on('data', (data: Buffer) => { received.push(data); receivedBytes += data.length; });
  client.resume();
  await once(socket, 'drain');
  for (let i = 0; i < 200; i++) {
    socket.write(chunkOf(1 + (i % 11) * 200));
    if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const total = next * 4;
  await waitFor(() => receivedBytes >= total, 10000, 'every word');
  const all = Buffer.concat(received);
  expect(all.length).toBe(total);
  for (let i = 0; i < next; i++) {
    if (all.readUInt32BE(i * 4) !== i) throw new Error(`word ${i} arrived as ${all.readUInt32BE(i * 4)}`);
  }
  expect(socket.bytesWritten).toBe(total);
  client.destroy();
  await closeServer(server);
});

test('a socket stopped at its cap goes on each time JS consumes: every byte arrives', async () => {
  const server = track(createServer());
  const { client, socket } = await acceptedPair<Socket>(server);
  const sent = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < sent.length; i += 4) sent.writeUInt32BE(i, i);
  // The reactor reads up to the cap, stops, and sleeps; JS's acknowledgement
  // of those bytes is all that can start it again.
  const parts: Buffer[] = [];
  let got = 0;
  socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    got += chunk.length;
  });
  client.write(sent);
  await waitFor(() => got >= sent.length, 20000, 'every byte past the cap');
  expect(Buffer.concat(parts).equals(sent)).toBe(true);
  client.destroy();
  await closeServer(server);
});

test("a write after the reactor saw a reset, before JS heard of it, errors with ECONNRESET as net's, not EPIPE", async () => {
  for (const [name, make] of [['net', () => net.createServer()], ['reactor', () => createServer()]] as const) {
    const server = track(make());
    const { client, socket } = await acceptedPair<net.Socket>(server);
    socket.on('data', () => {});
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    client.resetAndDestroy();
    // JS stalls while the reset arrives: the reactor reads it (and the kernel
    // hands its ECONNRESET out once); net has not polled yet.
    const until = Date.now() + 200;
    while (Date.now() < until);
    socket.write('too late');
    expect([name, (await failed).code]).toEqual([name, 'ECONNRESET']);
    await closeServer(server);
  }
});

/** Voluntary context switches of the reactor thread: each is one sleep. */
function reactorSleeps(): number {
  const status = fs.readFileSync(reactorThreadStat().replace(/stat$/, 'status'), 'utf8');
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1]);
}

test('a ping-pong wakes the reactor thread once per round trip: replies and acknowledgements do not wake it', async () => {
  const server = track(createServer((socket: Socket) => socket.on('data', (data: Buffer) => socket.write(data))));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  await once(client, 'connect');
  const roundTrips = 2000;
  const message = Buffer.alloc(64, 0x61);
  const pingPong = (count: number): Promise<void> => new Promise((resolve) => {
    let done = 0;
    let pending = 0;
    const onData = (data: Buffer): void => {
      pending -= data.length;
      if (pending > 0) return;
      if (++done === count) {
        client.off('data', onData);
        resolve();
        return;
      }
      pending = message.length;
      client.write(message);
    };
    client.on('data', onData);
    pending = message.length;
    client.write(message);
  });
  await pingPong(100);  // warm
  const before = reactorSleeps();
  await pingPong(roundTrips);
  const perRoundTrip = (reactorSleeps() - before) / roundTrips;
  // Woken by the command carrying each reply, and again by the
  // acknowledgement of each message, the thread slept 2 or 3 times per
  // round trip; now it sleeps while the reply travels, once.
  expect(perRoundTrip).toBeLessThan(1.5);
  client.destroy();
  await closeServer(server);
});
