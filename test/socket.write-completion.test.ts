// Write callbacks: a small write that fits under the high-water mark
// completes when the reactor takes it (as net's does when the kernel takes it
// at once), and the reactor then reports it sent without waking JS for that
// alone. Every other write's callback waits for the kernel, and the report
// that it got there must wake JS even when nothing else happens: a writer
// that waits for each callback before the next write must never stall.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

import { createServer, Socket } from '../lib';
import { checkMustCalls, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const dist = path.resolve(__dirname, '..', 'dist');

/** Writes `count` chunks of `size` bytes, each after the previous one's callback. */
function writeOneByOne(socket: Socket, size: number, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const chunk = Buffer.alloc(size, 0x5a);
    const next = (error?: Error | null): void => {
      if (error) {
        reject(error);
        return;
      }
      if (done === count) {
        resolve(done);
        return;
      }
      done++;
      socket.write(chunk, next);
    };
    next();
  });
}

/**
 * A reactor server whose socket writes `count` chunks of `size` bytes one by
 * one to a node:net client that only reads. Resolves with the callbacks
 * counted and the bytes the client received.
 */
async function sequentialWrites(size: number, count: number, highWaterMark?: number):
  Promise<{ callbacks: number; received: number }> {
  const written = new Promise<number>((resolve, reject) => {
    const server = track(createServer({ highWaterMark }, (socket) => {
      writeOneByOne(socket, size, count).then(resolve, reject);
    }));
    listenLocal(server).then((port) => {
      const client = track(net.connect(port, '127.0.0.1'));
      let received = 0;
      client.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received === size * count) receivedAll(received);
      });
    }, reject);
  });
  let receivedAll!: (bytes: number) => void;
  const received = new Promise<number>((resolve) => {
    receivedAll = resolve;
  });
  return { callbacks: await written, received: await received };
}

test('small writes under the high-water mark, each after the last callback, all complete and arrive', async () => {
  expect(await sequentialWrites(64, 300)).toEqual({ callbacks: 300, received: 64 * 300 });
}, 30000);

test('writes over a tiny high-water mark wait for the kernel, and each report wakes the writer', async () => {
  // Every 64 B write exceeds a 16 B high-water mark, so none completes at
  // hand-over: each callback needs the reactor to wake JS with kWritten.
  expect(await sequentialWrites(64, 300, 16)).toEqual({ callbacks: 300, received: 64 * 300 });
}, 30000);

test('writes of 16 KiB (sent from the Buffer itself) wait for the kernel, one by one, to the end', async () => {
  expect(await sequentialWrites(16 * 1024, 100)).toEqual({ callbacks: 100, received: 16 * 1024 * 100 });
}, 30000);

/**
 * Runs `script` (with `dist` and `port` defined) in a child and resolves once
 * it exits, with its exit code, or timedOut after 15 s (the child is killed).
 */
async function runChild(script: string, port: number): Promise<{ code: number | null; timedOut: boolean; stderr: string }> {
  const child = track(spawn(process.execPath, ['-e', `const dist = ${JSON.stringify(dist)}; const port = ${port};\n${script}`],
    { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = await new Promise<{ code: number | null; timedOut: boolean }>((resolve) => {
    const timer = setTimeout(() => resolve({ code: null, timedOut: true }), 15000);
    child.once('exit', (code: number | null) => {
      clearTimeout(timer);
      resolve({ code, timedOut: false });
    });
  });
  if (exit.timedOut && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  return { ...exit, stderr };
}

/** Waits (bounded) until `count()` reaches `bytes`. */
async function untilReceived(count: () => number, bytes: number): Promise<number> {
  const deadline = Date.now() + 10000;
  while (count() < bytes && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return count();
}

test('a half-open socket that writes after the peer ended keeps the process alive until sent, then it exits', async () => {
  // Not reading any more, its writes wait for the kernel (a reset must reach
  // their callbacks, as with net), and the pending write holds the process.
  const bytes = 32 * 1024;
  let received = 0;
  const server = track(net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.end();
  }));
  const port = await listenLocal(server);
  const exit = await runChild(`
    const socket = require(dist).connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('end', () => {
      for (let sent = 0; sent < ${bytes}; sent += 512) socket.write(Buffer.alloc(512, 0x41));
    });
    socket.resume();
  `, port);
  expect(exit).toEqual({ code: 0, timedOut: false, stderr: '' });
  expect(await untilReceived(() => received, bytes)).toBe(bytes);
}, 40000);

test('writes completed at hand-over, then reading stops: the process exits by itself once they are sent', async () => {
  // The peer sends 1 MiB and stays silent and open. The child writes a small
  // reply to its first chunk (completed at hand-over: it was reading) and
  // pauses; once its readable buffer is full it stops reading, and only the
  // unsent reply can hold the process, which must exit once it is sent.
  let received = 0;
  const server = track(net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    // The child exits with our bytes unread, so its kernel resets us.
    socket.on('error', () => undefined);
    socket.write(Buffer.alloc(1024 * 1024, 0x42));
  }));
  const port = await listenLocal(server);
  const exit = await runChild(`
    const socket = require(dist).connect({ port, host: '127.0.0.1' });
    socket.once('data', () => {
      socket.write('reply');
      socket.pause();
    });
  `, port);
  expect(exit).toEqual({ code: 0, timedOut: false, stderr: '' });
  expect(await untilReceived(() => received, 5)).toBe(5);
}, 40000);
