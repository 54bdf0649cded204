// Workers terminated at random moments while their reactors carry traffic of
// every kind (test/fixtures/fuzz-worker.js): before they listen, while they
// connect, mid-forward, mid-adopt, with writes of SharedArrayBuffer views
// pinned. The process must survive every one, each terminate() must resolve,
// and the fds the workers held must all come back; the main thread's reactor
// must serve throughout.
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { createServer, Socket } from '../../lib';
import { closeServer, connectLocal, listenLocal, openFdCount, readExactly, waitFor } from '../helpers';
import { seededRandom } from '../helpers/random';

const workerFile = path.join(__dirname, '..', 'fixtures', 'fuzz-worker.js');
const ROUNDS = Number(process.env.FUZZ_WORKER_ROUNDS ?? 24);

test(`RELIABILITY #35: ${ROUNDS} workers terminated mid-traffic leak no fd and never take the process down`, async () => {
  const random = seededRandom(Number(process.env.FUZZ_SEED ?? 35));
  // The forward target in the parent: a node:net sink that reads everything.
  const sinks = new Set<net.Socket>();
  const sink = net.createServer((socket) => {
    sinks.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sinks.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const netPort = (sink.address() as net.AddressInfo).port;
  // The main thread's own reactor, started before the baseline is taken.
  const echo = createServer((socket: Socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('error', () => {});
  });
  const echoPort = await listenLocal(echo);
  const baseline = openFdCount();

  for (let round = 0; round < ROUNDS; round++) {
    const worker = new Worker(workerFile, { workerData: { seed: random(), netPort } });
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    // Sometimes before it is busy (even before its reactor starts), mostly after.
    if ((random() & 3) !== 0) {
      await Promise.race([once(worker, 'message'), once(worker, 'exit')]);
      await new Promise((resolve) => setTimeout(resolve, random() % 40));
    } else {
      await new Promise((resolve) => setTimeout(resolve, random() % 5));
    }
    await worker.terminate();
    expect(errors).toEqual([]);
    // The main thread's reactor still serves between terminations.
    const client = await connectLocal(echoPort);
    client.write(`round ${round}`);
    expect((await readExactly(client, `round ${round}`.length)).toString()).toBe(`round ${round}`);
    client.destroy();
  }
  for (const socket of sinks) socket.destroy();
  await waitFor(() => openFdCount() <= baseline, 10000, `fd count back to ${baseline} (now ${openFdCount()})`);
  await closeServer(echo);
  await new Promise((resolve) => sink.close(resolve));
}, 180000);
