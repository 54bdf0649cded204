// A connection accepted while the reactor-wide cap on unconsumed bytes binds
// cannot be read yet. Under level triggering it is left out of the epoll set
// meanwhile (nothing would stop the set from reporting it every turn), so it
// must wait in the cap's line like any connection the cap stopped: once JS
// consumes and the total falls, it is read. Left out and not in line, it was
// never read at all.
import { ChildProcess, spawn } from 'node:child_process';

import { configure, createServer, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { holdJsThreadUntil, listenLocal, waitFor } from './helpers';
import { hangupEndsShortRead } from '../lib/net-version';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

const KiB = 1024;
const TOTAL_CAP = 64 * KiB;
// Watches the reactor's own thread work while the JS thread is stalled: the
// loop runs on a thread of its own here whatever EPOLL_REACTOR_THREAD says.
configure({ trigger: 'level', maxUnconsumedBytes: TOTAL_CAP, thread: 'own' });

/**
 * Clients in a child, so that they go on while this thread is held: the
 * first sends four times the cap; 300 ms later `second` (a script with `net`
 * and `port` in scope) opens the second connection. Then holds this thread,
 * consuming nothing, until the second is accepted over the total cap.
 */
function secondAcceptedOverCap(port: number, second: string): ChildProcess {
  const child = track(spawn(process.execPath, ['-e', `
    const net = require('node:net');
    const port = ${port};
    const first = net.connect(port, '127.0.0.1', () => first.write(Buffer.alloc(${4 * TOTAL_CAP}, 120)));
    first.on('error', () => {});
    setTimeout(() => { ${second} }, 300);
    setTimeout(() => process.exit(0), 20000);
  `], { stdio: 'ignore' }));
  const native = getReactor().native;
  holdJsThreadUntil(() => native.stats().unconsumedBytes >= TOTAL_CAP && native.stats().connections === 2, 10_000,
    'the second connection accepted over the total cap');
  return child;
}

test('level-triggered: a connection accepted over the total cap is read once JS consumes', async () => {
  const received = new Map<string, number>();
  let hello = '';
  const server = track(createServer((socket: Socket) => {
    socket.on('data', (chunk: Buffer) => {
      if (chunk.includes('hello')) hello += chunk.toString();
      received.set(String(socket.remotePort), (received.get(String(socket.remotePort)) ?? 0) + chunk.length);
    });
    socket.on('error', () => undefined);
  }));
  const port = await listenLocal(server);
  const child = secondAcceptedOverCap(port, "const second = net.connect(port, '127.0.0.1', () => second.write('hello'));");

  await waitFor(() => hello === 'hello', 5_000, "the second connection's bytes");
  await waitFor(() => [...received.values()].reduce((sum, n) => sum + n, 0) === 4 * TOTAL_CAP + 5, 5_000, 'every byte');
  child.kill('SIGKILL');
});

test('level-triggered: a connection accepted over the total cap is read while another keeps the total up', async () => {
  const UPLOAD = 256 * TOTAL_CAP;  // 16 MiB, read 64 KiB at a time
  let uploaded = 0;
  let uploadedAtHello = -1;
  const server = track(createServer((socket: Socket) => {
    socket.on('data', (chunk: Buffer) => {
      if (chunk.includes('hello')) {
        uploadedAtHello = uploaded;
        return;
      }
      uploaded += chunk.length;
      // A slow consumer: the upload lasts a second or more, the total held at the cap.
      const until = Date.now() + 4;
      while (Date.now() < until) { /* consuming */ }
    });
    socket.on('error', () => undefined);
  }));
  const port = await listenLocal(server);
  const child = track(spawn(process.execPath, ['-e', `
    const net = require('node:net');
    const first = net.connect(${port}, '127.0.0.1', () => first.write(Buffer.alloc(${UPLOAD}, 120)));
    setTimeout(() => {
      const second = net.connect(${port}, '127.0.0.1', () => second.write('hello'));
    }, 100);
    setTimeout(() => process.exit(0), 20000);
  `], { stdio: 'ignore' }));
  await waitFor(() => uploaded === UPLOAD, 15_000, 'the whole upload');
  await waitFor(() => uploadedAtHello >= 0, 5_000, 'the hello');
  // Read in its turn in the line, not only once the upload ended.
  expect(uploadedAtHello).toBeLessThan(UPLOAD / 2);
  child.kill('SIGKILL');
});

test("level-triggered: a connection accepted over the total cap whose peer wrote and reset meanwhile: its bytes, then 'end', as net", async () => {
  // Out of the epoll set while it waits in the line, it got no EPOLLHUP: the
  // read that the line starts must still see the hangup, so the short read
  // is the end (libuv's reading), not a read on to ECONNRESET.
  let lastWords = '';
  const events: string[] = [];
  let closed!: () => void;
  const lastClosed = new Promise<void>((resolve) => { closed = resolve; });
  const server = track(createServer((socket: Socket) => {
    let isLast = false;
    socket.on('data', (chunk: Buffer) => {
      if (chunk.includes('last words')) isLast = true;
      if (isLast) lastWords += chunk.toString();
    });
    socket.on('end', () => { if (isLast) events.push('end'); });
    socket.on('error', (error: NodeJS.ErrnoException) => { if (isLast) events.push(`error:${error.code}`); });
    socket.on('close', (hadError: boolean) => {
      if (!isLast) return;
      events.push(`close:${hadError}`);
      closed();
    });
  }));
  const port = await listenLocal(server);
  // Its peer resets while it waits in the line.
  const child = secondAcceptedOverCap(port, `const last = net.connect(port, '127.0.0.1',
    () => last.write('last words', () => setTimeout(() => last.resetAndDestroy(), 50)));
    last.on('error', () => {});`);
  const resetBy = Date.now() + 400;
  holdJsThreadUntil(() => Date.now() > resetBy, 1_000, 'the reset');
  await waitFor(() => events.length === 2, 5_000, "the second connection's 'close'");
  await lastClosed;
  expect(lastWords).toBe('last words');
  // As net of this Node: libuv up to 1.49 (Node 20, 22) ends at the short read.
  expect(events).toEqual(hangupEndsShortRead ? ['end', 'close:false'] : ['error:ECONNRESET', 'close:true']);
  child.kill('SIGKILL');
});
