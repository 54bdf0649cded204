// Write callbacks: as net's, a write's callback runs once the kernel has its
// bytes, so bytes a callback reported written survive a destroy() that
// follows. The reactor's report that a write reached the kernel must wake JS
// even when nothing else happens: a writer that waits for each callback
// before the next write must never stall. Reports of partial progress ride
// on the next batch that wakes JS.
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

test('small writes, each after the last callback, all complete and arrive', async () => {
  expect(await sequentialWrites(64, 300)).toEqual({ callbacks: 300, received: 64 * 300 });
}, 30000);

test('writes over a tiny high-water mark, each after the last callback, all complete and arrive', async () => {
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
  // Not reading any more, only the pending write holds the process.
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

test('a write while reading, then reading stops: the process exits by itself once it is sent', async () => {
  // The peer sends 1 MiB and stays silent and open. The child writes a small
  // reply to its first chunk and pauses; once its readable buffer is full it
  // stops reading, and only the reply can hold the process, which must exit
  // once it is sent.
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

test('bytes whose write callback ran survive destroy(): the peer gets every one, as from node:net', async () => {
  // The peer does not read, so the kernel's buffers fill. The writer sends
  // 1 KiB at a time, each after the last callback, and destroys the socket
  // once no callback has come for 300 ms. A callback that ran before the
  // kernel took its bytes (a write completed when the reactor took it) would
  // let destroy() drop them: up to a high-water mark lost, where net loses none.
  let accepted!: net.Socket;
  const server = track(net.createServer({ pauseOnConnect: true }, (socket) => {
    accepted = socket;
  }));
  const port = await listenLocal(server);
  const client = track(new Socket());
  client.on('error', () => undefined);
  const chunk = Buffer.alloc(1024, 0x43);
  let confirmed = 0;
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = Date.now() + 20_000;
    const next = (): void => {
      if (timer) clearTimeout(timer);
      if (Date.now() > deadline) {
        reject(new Error(`the kernel took ${confirmed} bytes and never filled in 20 s`));
        return;
      }
      timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 300);
      client.write(chunk, (error) => {
        if (error || client.destroyed) return;
        confirmed += chunk.length;
        setImmediate(next);
      });
    };
    client.connect(port, '127.0.0.1', next);
  });
  let received = 0;
  accepted.on('data', (data: Buffer) => {
    received += data.length;
  });
  const ended = new Promise((resolve) => accepted.once('end', resolve));
  accepted.resume();
  await ended;
  expect(confirmed).toBeGreaterThan(0);
  expect(received).toBeGreaterThanOrEqual(confirmed);
}, 40000);
