// JS acknowledges the bytes it consumes so that the reactor's caps can let a
// connection read again (docs/architecture.md, "Backpressure"). Those
// acknowledgements wake a sleeping reactor only when a connection waits for
// them at a cap; otherwise they ride on its next turn. So a socket that only
// reads wakes the reactor thread once per arrival, and one stopped at its cap
// still goes on each time JS consumes.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';

import { configure, createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { reactorThreadStat } from './reliability/fault-child';

// Small enough that a 4 MiB transfer stops the reactor at the cap many
// times: each time only JS's acknowledgement can start it again.
const CAP = 64 * 1024;
// Counts the reactor thread's wakeups: the loop runs on a thread of its own
// here whatever EPOLL_REACTOR_THREAD says.
configure({ maxUnconsumedBytesPerSocket: CAP, thread: 'own' });

afterEach(releaseTracked);
afterEach(checkMustCalls);
jest.setTimeout(30000);

async function acceptedPair(): Promise<{ server: ReturnType<typeof createServer>; client: net.Socket; socket: Socket }> {
  const server = track(createServer());
  const port = await listenLocal(server);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = track(net.connect(port, '127.0.0.1'));
  const connected = once(client, 'connect');
  const [socket] = await accepted;
  await connected;
  return { server, client, socket };
}

/** `length` bytes counting up in 32-bit words, so a byte out of place shows. */
function countingBytes(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) bytes.writeUInt32BE(i, i);
  return bytes;
}

test('a socket stopped at its cap goes on each time JS consumes: every byte arrives', async () => {
  const { server, client, socket } = await acceptedPair();
  const sent = countingBytes(4 * 1024 * 1024);
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

test('a bulk stream never hands JS more than the cap plus one 64 KiB read per batch, even once it reads 256 KiB at a time', async () => {
  const { server, client, socket } = await acceptedPair();
  const sent = countingBytes(4 * 1024 * 1024);
  const parts: Buffer[] = [];
  let got = 0;
  // Bytes of one batch: its 'data' events are emitted in one synchronous run,
  // which a nextTick closes.
  let batchBytes = 0;
  const batches: number[] = [];
  socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    got += chunk.length;
    if (batchBytes === 0) {
      process.nextTick(() => {
        batches.push(batchBytes);
        batchBytes = 0;
      });
      // Busy long enough for the reactor to read up to the cap meanwhile.
      const until = Date.now() + 5;
      while (Date.now() < until);
    }
    batchBytes += chunk.length;
  });
  client.write(sent);
  await waitFor(() => got >= sent.length, 20000, 'every byte past the cap');
  expect(Buffer.concat(parts).equals(sent)).toBe(true);
  // A read may start below the cap and cross it, by less than an arena
  // block; a bulk read into a lent 256 KiB buffer must not start unless it fits.
  expect(batches.length).toBeGreaterThan(8);
  expect(Math.max(...batches)).toBeLessThan(CAP + 64 * 1024);
  client.destroy();
  await closeServer(server);
});

/** Voluntary context switches of the reactor thread: each is one sleep. */
function reactorSleeps(): number {
  const status = fs.readFileSync(reactorThreadStat().replace(/stat$/, 'status'), 'utf8');
  return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)![1]);
}

test('a socket that only reads wakes the reactor thread once per arrival: acknowledgements do not wake it', async () => {
  const { server, client, socket } = await acceptedPair();
  const message = Buffer.alloc(64, 0x61);
  // One message at a time, each after the last was consumed and the
  // reactor had time to sleep again.
  const send = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const consumed = once(socket, 'data');
      client.write(message);
      await consumed;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };
  await send(20);  // warm
  const before = reactorSleeps();
  const messages = 300;
  await send(messages);
  const perMessage = (reactorSleeps() - before) / messages;
  // Woken again by each acknowledgement, the thread slept twice per message.
  expect(perMessage).toBeLessThan(1.5);
  client.destroy();
  await closeServer(server);
});
