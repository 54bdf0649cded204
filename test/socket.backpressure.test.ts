// Flow control both ways: a paused socket stops taking bytes from the kernel
// (so the peer is pushed back and memory stays bounded), and write() tells the
// user to wait while the peer is not reading, then 'drain' says when to go on.
import { once } from 'node:events';
import type * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, connectLocal, listenLocal, mustCall, waitFor } from './helpers';
import { destroyAndWait, releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const MiB = 1024 * 1024;

/** Resolves true on 'drain', false if none comes within `ms`. */
function drainWithin(stream: NodeJS.EventEmitter, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.removeListener('drain', onDrain);
      resolve(false);
    }, ms);
    function onDrain(): void {
      clearTimeout(timer);
      resolve(true);
    }
    stream.once('drain', onDrain);
  });
}

/**
 * Writes `chunk` repeatedly while `keepGoing()` holds and fewer than `limit`
 * bytes were written, honouring write()'s return value; a 'drain' that does
 * not come within `stallMs` ends the flood (the peer is not reading).
 * Resolves with the bytes accepted by write() and whether it stalled.
 */
async function flood(socket: net.Socket, chunk: Buffer, limit: number, keepGoing: () => boolean,
  stallMs: number): Promise<{ bytes: number; stalled: boolean }> {
  let bytes = 0;
  while (bytes < limit && keepGoing()) {
    const piece = limit - bytes < chunk.length ? chunk.subarray(0, limit - bytes) : chunk;
    bytes += piece.length;
    if (!socket.write(piece) && !(await drainWithin(socket, stallMs))) return { bytes, stalled: true };
  }
  return { bytes, stalled: false };
}

test('a paused socket emits no data, keeps memory bounded, and after resume() delivers every byte', async () => {
  const limit = 256 * MiB;
  const pausedForMs = 1500;
  const floodDeadlineMs = 20000;
  const chunk = Buffer.alloc(64 * 1024, 0x61);

  let paused = true;
  let dataWhilePaused = 0;
  let serverBytes = 0;
  let serverSocket: Socket | undefined;
  const server = track(createServer(mustCall((socket: Socket) => {
    serverSocket = socket;
    socket.pause();
    socket.on('data', (data: Buffer) => {
      if (paused) dataWhilePaused++;
      serverBytes += data.length;
    });
    socket.on('end', mustCall());
    socket.on('close', mustCall());
  })));
  const port = await listenLocal(server);
  const rssBaseline = process.memoryUsage.rss();
  const client = track(await connectLocal(port));
  await waitFor(() => serverSocket !== undefined, 5000, 'the connection');
  const socket = serverSocket as Socket;

  // While paused: flood until the kernel pushes back, and keep trying until
  // the pause is over. Sample RSS throughout.
  let rssPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage.rss()); }, 20);
  const pauseEnds = Date.now() + pausedForMs;
  let sentWhilePaused = 0;
  while (Date.now() < pauseEnds && sentWhilePaused < limit) {
    const result = await flood(client, chunk, limit - sentWhilePaused, () => Date.now() < pauseEnds, 100);
    sentWhilePaused += result.bytes;
  }
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  const bytesReadWhilePaused = socket.bytesRead;

  expect(dataWhilePaused).toBe(0);
  expect(serverBytes).toBe(0);
  expect(socket.isPaused()).toBe(true);
  // The flood was pushed back long before its 256 MB...
  expect(sentWhilePaused).toBeLessThan(limit);
  // ...because the reactor took at most its 1 MiB cap (plus a read's slack
  // and the stream's own high-water mark) off the kernel.
  expect(bytesReadWhilePaused).toBeLessThanOrEqual(2 * MiB);
  expect(rssPeak - rssBaseline).toBeLessThan(100 * MiB);

  // Resume: delivery restarts, and the client floods on to its limit.
  paused = false;
  socket.resume();
  await waitFor(() => serverBytes > 0, 5000, "'data' after resume()");
  const floodEnds = Date.now() + floodDeadlineMs;
  const rest = await flood(client, chunk, limit - sentWhilePaused, () => Date.now() < floodEnds, 5000);
  expect(rest.stalled).toBe(false);
  const sent = sentWhilePaused + rest.bytes;
  client.end();
  await once(socket, 'end');

  expect(serverBytes).toBe(sent);
  expect(socket.bytesRead).toBe(sent);
  await destroyAndWait(client);
  await closeServer(server);
}, 60000);

test("write() returns false while the peer does not read, and 'drain' fires when it reads again", async () => {
  const limit = 64 * MiB;  // the kernel must push back well before this
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let serverSocket: Socket | undefined;
  const server = track(createServer(mustCall((socket: Socket) => {
    serverSocket = socket;
    // Read (and ignore) the client's side, so its FIN ends this socket.
    socket.resume();
    socket.on('close', mustCall());
  })));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));
  let clientBytes = 0;
  client.pause();
  await waitFor(() => serverSocket !== undefined, 5000, 'the connection');
  const socket = serverSocket as Socket;

  // The peer does not read: write until a 'drain' stops coming.
  const stuck = await flood(socket as unknown as net.Socket, chunk, limit, () => true, 500);
  expect(stuck.stalled).toBe(true);
  expect(stuck.bytes).toBeLessThan(limit);
  expect(socket.writableNeedDrain).toBe(true);
  expect(socket.write(chunk)).toBe(false);
  let written = stuck.bytes + chunk.length;

  // Still not reading for a while: no 'drain'.
  expect(await drainWithin(socket, 300)).toBe(false);

  // The peer reads again: 'drain' fires once for this stall.
  const drained = once(socket, 'drain');
  socket.once('drain', mustCall());
  client.on('data', (data: Buffer) => { clientBytes += data.length; });
  client.resume();
  await drained;
  expect(socket.writableLength).toBe(0);

  // Then more, honouring backpressure, and the end.
  const more = await flood(socket as unknown as net.Socket, chunk, 8 * MiB, () => true, 5000);
  expect(more.stalled).toBe(false);
  written += more.bytes;
  const clientEnded = once(client, 'end');
  socket.end();
  await clientEnded;

  expect(clientBytes).toBe(written);
  expect(socket.bytesWritten).toBe(written);
  await destroyAndWait(client);
  await closeServer(server);
}, 60000);
