// Each worker_thread gets a reactor of its own; terminate() tears a worker's
// reactor down (its listener and connections closed) and leaves the main
// thread's serving untouched.
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, connectLocal, listenLocal, mustCall, openFdCount, readExactly, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const workerFile = path.join(__dirname, 'fixtures', 'echo-worker.js');

/** Starts the echo worker and resolves once its server listens. */
async function startEchoWorker(): Promise<{ worker: Worker; port: number }> {
  const worker = track(new Worker(workerFile));
  worker.on('error', (error) => { throw error; });
  const [message] = await once(worker, 'message') as [{ port: number }];
  return { worker, port: message.port };
}

async function echoRoundTrip(client: net.Socket, text: string): Promise<string> {
  client.write(text);
  return (await readExactly(client, Buffer.byteLength(text))).toString();
}

/** Resolves on 'close', whether or not an 'error' came first (events.once would reject on it). */
function closeOf(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Connects and resolves with the error code, or 'connected'. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = track(net.connect(port, '127.0.0.1'));
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
}

test('two workers each serve an echo; after terminate() the main thread still serves', async () => {
  const workers = await Promise.all([startEchoWorker(), startEchoWorker()]);
  expect(workers[0].port).not.toBe(workers[1].port);

  const clients = await Promise.all(workers.map(async ({ port }) => track(await connectLocal(port))));
  const replies = await Promise.all(clients.map((client, i) => echoRoundTrip(client, `hello worker ${i}`)));
  expect(replies).toEqual(['hello worker 0', 'hello worker 1']);

  // Terminate both with their connections still open.
  const clientsClosed = clients.map((client) => {
    client.on('error', () => {});  // a reset is as good as a FIN here
    return closeOf(client);
  });
  const exitCodes = await Promise.all(workers.map(({ worker }) => worker.terminate()));
  expect(exitCodes).toEqual([1, 1]);

  // The workers' connections and listeners went with them.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(clientsClosed),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("clients of terminated workers did not see 'close'")), 5000);
    }),
  ]).finally(() => clearTimeout(timer));
  expect(await Promise.all(workers.map(({ port }) => connectOutcome(port)))).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);

  // The main thread's own reactor serves as before.
  const server = track(createServer(mustCall((socket: Socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('close', mustCall());
  })));
  const port = await listenLocal(server);
  const client = track(await connectLocal(port));
  expect(await echoRoundTrip(client, 'hello main')).toBe('hello main');
  client.end();
  await once(client, 'close');
  await closeServer(server);
}, 30000);

test("terminating workers while their connections are busy releases their fds", async () => {
  // Start the main thread's reactor first, so its fds are part of the baseline.
  const warmUp = track(createServer());
  await listenLocal(warmUp);
  await closeServer(warmUp);
  const baseline = openFdCount();

  for (let round = 0; round < 5; round++) {
    const { worker, port } = await startEchoWorker();
    const clients = await Promise.all(Array.from({ length: 20 }, async () => track(await connectLocal(port))));
    await Promise.all(clients.map(async (client, i) => expect(await echoRoundTrip(client, `r${round} c${i}`)).toBe(`r${round} c${i}`)));
    const closed = clients.map((client) => {
      // Closing a socket with unread bytes sends a reset: as good as a FIN here.
      client.on('error', () => {});
      client.resume();
      return closeOf(client);
    });
    // Bytes in flight both ways when the worker goes.
    for (const client of clients) client.write(Buffer.alloc(256 * 1024, round));
    expect(await worker.terminate()).toBe(1);
    await Promise.all(closed);
  }
  await waitFor(() => openFdCount() <= baseline, 5000, `fd count back to ${baseline}`);
}, 30000);
