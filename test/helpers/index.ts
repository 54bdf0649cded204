// Shared test helpers: exact callback counting, listening on an ephemeral
// port, and connecting plain node:net clients.
import * as net from 'node:net';
import { once } from 'node:events';
import * as fs from 'node:fs';

import type { Server } from '../../lib';

interface CountedCall {
  fn: (...args: never[]) => unknown;
  expected: number;
  actual: number;
  name: string;
}

/**
 * Whether this process runs under AddressSanitizer (scripts/sanitize.sh
 * preloads it, and child processes inherit that).
 */
export const underSanitizer = /libasan/.test(process.env.LD_PRELOAD ?? '');

/**
 * This process's environment without LD_PRELOAD, for tools the tests run
 * through a shell or ldd: with scripts/tsan.sh's libtsan preloaded, bash
 * and ldd crash (they test nothing of ours either way).
 */
export function environmentWithoutPreload(): NodeJS.ProcessEnv {
  const environment = { ...process.env };
  delete environment.LD_PRELOAD;
  return environment;
}

/**
 * The size of a bulk integrity transfer: `full`, or a quarter of it under the
 * sanitizers and in the passes that set EPOLL_REACTOR_TEST_BULK=short (the
 * modes pass, the other Node versions in CI). ASan catches a bad access in
 * the first megabytes as surely as in the sixty-fourth, at 3x the time per
 * byte; npm test moves the full size.
 */
export function bulkBytes(full: number): number {
  return underSanitizer || process.env.EPOLL_REACTOR_TEST_BULK === 'short' ? full / 4 : full;
}

const counted: CountedCall[] = [];

/**
 * Wraps `fn` so that the test fails unless it is called exactly `expected`
 * times before the test ends (Node's common.mustCall). Check with
 * `checkMustCalls()` in afterEach.
 */
export function mustCall<A extends unknown[], R>(fn: (...args: A) => R = (() => undefined) as never, expected = 1): (...args: A) => R {
  const entry: CountedCall = { fn: fn as never, expected, actual: 0, name: fn.name || '<anonymous>' };
  counted.push(entry);
  return (...args: A): R => {
    entry.actual++;
    return fn(...args);
  };
}

/**
 * A listener that throws unless its first argument is an instance of `type`:
 * an https.Server's 'connection' under reactor TLS gets the package's
 * SecureSocket, never a socket for node:tls to wrap.
 */
export function mustBeInstanceOf(type: new (...args: never[]) => unknown, message: string): (value: unknown) => void {
  return (value: unknown) => {
    if (!(value instanceof type)) throw new Error(`${message}: not a ${type.name}`);
  };
}

/** A function that fails the test if called. */
export function mustNotCall(message = 'function should not have been called'): (...args: unknown[]) => void {
  return (...args: unknown[]) => {
    throw new Error(`${message}: called with ${JSON.stringify(args).slice(0, 200)}`);
  };
}

export function checkMustCalls(): void {
  const failures = counted.filter((c) => c.actual !== c.expected);
  counted.length = 0;
  if (failures.length > 0) {
    throw new Error(failures.map((f) => `${f.name}: expected ${f.expected} call(s), got ${f.actual}`).join('\n'));
  }
}

/**
 * What calling `make` comes to: 'accepted', or the `code` of what it threw,
 * for comparing a call of ours with node's own.
 */
export function thrownCode(make: () => unknown): string {
  try {
    make();
    return 'accepted';
  } catch (error) {
    return String((error as { code?: string }).code);
  }
}

/** Listens on 127.0.0.1 with an ephemeral port and resolves to the port. */
export async function listenLocal(server: Server | net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server as net.Server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Connects a node:net client to 127.0.0.1:port. */
export async function connectLocal(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** Closes a server and waits for its 'close', and for its last connections' 'close'. */
export async function closeServer(server: Server | net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // As net's, a server's 'close' comes on the tick after its last connection's
  // destroy(), before that socket's own 'close' (a libuv close callback in
  // net, setImmediate here): let that come too, so callers see every 'close'.
  await new Promise((resolve) => setImmediate(resolve));
}

/** Number of fds this process has open. */
export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Waits until the fd count stops changing (closes on the reactor thread are asynchronous), and returns it. */
export async function settledFdCount(): Promise<number> {
  let previous = openFdCount();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    const now = openFdCount();
    if (now === previous) return now;
    previous = now;
  }
  return previous;
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Blocks the JS thread until `condition` (polled every 5 ms) holds: no
 * batch is handled meanwhile, so nothing is consumed and no pause is sent,
 * while the reactor thread goes on.
 */
export function holdJsThreadUntil(condition: () => boolean, timeoutMs: number, what: string): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    Atomics.wait(sleeper, 0, 0, 5);
  }
}

/** Reads from `socket` until it has `length` bytes, then resolves with them. */
export function readExactly(socket: net.Socket | NodeJS.ReadableStream, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      total += chunk.length;
      if (total >= length) {
        socket.removeListener('data', onData);
        socket.removeListener('error', reject);
        resolve(Buffer.concat(parts));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}
