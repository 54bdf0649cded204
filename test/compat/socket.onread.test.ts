// Theme 9 of issue 14: net's `onread` option. Bytes go into the caller's
// buffer (or the buffer a function returns, asked for once first and once
// after each read) and to callback(nread, buffer) with the socket as `this`,
// never to 'data'; a callback that returns false, or pauses the socket, is not
// called again until resume(); 'end' comes after every byte.
import { once } from 'node:events';
import * as net from 'node:net';

import { mustCall } from '../helpers';
import { listenLocal, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

const message = Buffer.from('hello world, and a little more to read');

async function serverSending(bytes: Buffer): Promise<number> {
  const server = trackServer(net.createServer((socket) => socket.end(bytes)));
  return listenLocal(server);
}

function ended(socket: net.Socket): Promise<unknown> {
  return within(once(socket, 'end'), 5000, "'end'");
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test.each([
    ['a Buffer', () => Buffer.alloc(8)],
    ['a Uint8Array', () => new Uint8Array(8)],
  ])('into %s: every byte, through that same buffer, and no data event', async (_label, make) => {
    const port = await serverSending(message);
    const buffer = make();
    const parts: Buffer[] = [];
    const socket = trackSocket(implementation.connect({
      port, host: '127.0.0.1',
      onread: {
        buffer,
        callback(this: net.Socket, nread: number, into: Uint8Array) {
          expect(into).toBe(buffer);
          expect(this).toBe(socket);
          expect(nread).toBeGreaterThan(0);
          expect(nread).toBeLessThanOrEqual(buffer.length);
          parts.push(Buffer.from(into.subarray(0, nread)));
        },
      },
    } as unknown as net.NetConnectOpts));
    socket.on('data', mustCall(() => {}, 0));
    await ended(socket);
    expect(Buffer.concat(parts)).toEqual(message);
    expect(socket.bytesRead).toBe(message.length);
  });

  test('from a function: asked once first, then once after each read', async () => {
    const port = await serverSending(message);
    const pool = [Buffer.alloc(2), Buffer.alloc(2), Buffer.alloc(2)];
    let handedOut = -1;
    let asked = 0;
    let reads = 0;
    const parts: Buffer[] = [];
    const socket = trackSocket(implementation.connect({
      port, host: '127.0.0.1',
      onread: {
        buffer: () => {
          asked++;
          handedOut = (handedOut + 1) % pool.length;
          return pool[handedOut];
        },
        callback(nread: number, into: Uint8Array) {
          reads++;
          expect(into).toBe(pool[handedOut]);
          parts.push(Buffer.from(into.subarray(0, nread)));
        },
      },
    } as unknown as net.NetConnectOpts));
    await ended(socket);
    expect(Buffer.concat(parts)).toEqual(message);
    expect(asked).toBe(reads + 1);
  });

  test.each([
    ['returns false', true],
    ['calls pause()', false],
  ])('a callback that %s is not called again until resume()', async (_label, returnsFalse) => {
    const port = await serverSending(message);
    const parts: Buffer[] = [];
    let paused = false;
    const socket = trackSocket(implementation.connect({
      port, host: '127.0.0.1',
      onread: {
        buffer: Buffer.alloc(4),
        callback(this: net.Socket, nread: number, into: Uint8Array) {
          expect(paused).toBe(false);
          parts.push(Buffer.from(into.subarray(0, nread)));
          paused = true;
          if (!returnsFalse) this.pause();
          setImmediate(() => {
            paused = false;
            this.resume();
          });
          return returnsFalse ? false : undefined;
        },
      },
    } as unknown as net.NetConnectOpts));
    socket.on('data', mustCall(() => {}, 0));
    await ended(socket);
    expect(Buffer.concat(parts)).toEqual(message);
  });

  test('an onread that is not net\'s shape is ignored: data events as usual', async () => {
    const port = await serverSending(message);
    const socket = trackSocket(implementation.connect({
      port, host: '127.0.0.1', onread: { buffer: 'not a buffer', callback: () => {} },
    } as unknown as net.NetConnectOpts));
    const parts: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    await ended(socket);
    expect(Buffer.concat(parts)).toEqual(message);
  });

  test.each([
    ['an empty buffer', () => Buffer.alloc(0)],
    ['a function returning an empty buffer', () => () => Buffer.alloc(0)],
  ])('into %s: bytes that arrive destroy the socket with read ENOBUFS, as libuv fails the read', async (_label, make) => {
    const port = await serverSending(message);
    const socket = trackSocket(implementation.connect({
      port, host: '127.0.0.1', onread: { buffer: make(), callback: mustCall(() => {}, 0) },
    } as unknown as net.NetConnectOpts));
    const [error] = await within(once(socket, 'error'), 5000, "'error'") as [NodeJS.ErrnoException];
    expect(error).toMatchObject({ code: 'ENOBUFS', syscall: 'read', message: 'read ENOBUFS' });
    await within(once(socket, 'close'), 2000, "'close'");
    expect(socket.destroyed).toBe(true);
  });
});
