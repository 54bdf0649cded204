// A reactor nothing reaches goes away once nothing of it is open, as a closed
// libuv handle keeps nothing alive. Jest gives every test file a module
// registry of its own and drops it after the file; a reactor that held its
// own dispatch function strongly kept each registry, and with it the file's
// whole context, until the process ended: the worker's heap grew by every
// file and its exit took longer the more files it had run.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import type * as Lib from '../lib';
import type * as ReactorModule from '../lib/reactor';
import { makeTestCertificate, TestCertificate } from './helpers/cert';
import { reactorThreadIds } from './reliability/fault-child';

let certificate: TestCertificate;
beforeAll(() => { certificate = makeTestCertificate(); });
afterAll(() => certificate.remove());

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * This process's reactor threads, by id, not a count: other test files'
 * reactors in this worker may be collected meanwhile.
 */
function reactorThreads(): Set<string> {
  return new Set(reactorThreadIds());
}

/** Collects garbage until `done()`, `times` times at most. */
async function collectUntil(done: () => boolean, times = 50): Promise<void> {
  for (let i = 0; i < times; i++) {
    // Each collection in a job of its own: a WeakRef read keeps its target
    // alive to the end of the job it was read in. Finalizers follow on a later turn.
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (done()) return;
  }
}

/**
 * An echo of `message` over the package loaded in a registry of its own, plain
 * or through its TLS (a server context, a client context); the registry, weakly.
 */
async function useAndClose(message: Buffer, secure: boolean): Promise<{ registry: WeakRef<typeof Lib>; threadId: number }> {
  let lib!: typeof Lib;
  let reactorModule!: typeof ReactorModule;
  jest.isolateModules(() => {
    lib = require('../lib') as typeof Lib;
    reactorModule = require('../lib/reactor') as typeof ReactorModule;
  });
  const echo = (socket: Lib.Socket): void => { socket.pipe(socket); };
  const server = secure ? lib.createSecureServer({ key: certificate.key, cert: certificate.cert }, echo) : lib.createServer(echo);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const client = secure ? lib.connect({ port, host: '127.0.0.1', tls: { ca: certificate.cert, servername: 'localhost' } })
    : lib.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  // 64 KiB is sent from the Buffer itself (a pinned write), 4 bytes from a copy.
  client.end(message);
  await new Promise((resolve) => client.on('close', resolve));
  await new Promise((resolve) => server.close(resolve));
  expect(Buffer.concat(chunks).equals(message)).toBe(true);
  return { registry: new WeakRef(lib), threadId: reactorModule.getReactor().native.stats().threadId };
}

test('a registry whose sockets and servers are closed is collected, and its reactor thread ends', async () => {
  const before = reactorThreads();
  const ownThread = process.env.EPOLL_REACTOR_THREAD !== 'js';
  const used = [
    await useAndClose(Buffer.from('ping'), false),
    await useAndClose(randomBytes(64 * 1024), false),
    await useAndClose(randomBytes(64 * 1024), true),
  ];
  const registries = used.map(({ registry }) => registry);
  const started = [...reactorThreads()].filter((tid) => !before.has(tid));
  // Each reactor names its own thread (stats().threadId), as tests that
  // measure that thread's CPU rely on; 0 with the loop on the JS thread.
  expect(used.map(({ threadId }) => String(threadId)).sort()).toEqual(ownThread ? started.sort() : ['0', '0', '0']);
  await collectUntil(() => registries.every((registry) => registry.deref() === undefined));
  expect(registries.filter((registry) => registry.deref() !== undefined)).toHaveLength(0);
  const running = (): string[] => started.filter((tid) => reactorThreads().has(tid));
  await collectUntil(() => running().length === 0);
  expect(running()).toEqual([]);
});

/** A server listening in a registry of its own; nothing but weak references to either kept. */
async function listenAndForget(): Promise<{ port: number; registry: WeakRef<typeof Lib>; server: WeakRef<Lib.Server> }> {
  let lib!: typeof Lib;
  jest.isolateModules(() => {
    lib = require('../lib') as typeof Lib;
  });
  const server = lib.createServer((socket) => socket.end('still here'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, registry: new WeakRef(lib), server: new WeakRef(server) };
}

test('a server left listening keeps its reactor and registry, unreachable as they are, as libuv keeps node\'s', async () => {
  const { port, registry, server } = await listenAndForget();
  // Given every chance to go.
  await collectUntil(() => registry.deref() === undefined, 10);
  expect(registry.deref()).toBeDefined();
  const reply = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = net.connect(port, '127.0.0.1');
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  expect(reply).toBe('still here');
  await new Promise((resolve) => server.deref()!.close(resolve));
});
