// RELIABILITY #30: urgent (TCP out-of-band) data, which Node cannot send, so
// a small C program does (test/fault/oob-send.c). The reactor asks for EPOLLPRI
// edge-triggered only (see test/reliability/urgent-mark.test.ts); the urgent
// byte must neither make it spin nor break the stream.
import { execFile } from 'node:child_process';

import { configure, createServer, Socket } from '../../lib';
import { listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { buildFaultTools } from '../fault/build';
import { hangupEndsShortRead } from '../../lib/net-version';
import { cpuShareOver, reactorThreadStat } from './fault-child';

// Measures the reactor thread's CPU: the loop runs on a thread of its own
// here whatever EPOLL_REACTOR_THREAD says.
configure({ thread: 'own' });

afterEach(releaseTracked);

test('RELIABILITY #30: a peer sending urgent data: the in-band bytes echo back in order, no spin (reactor under 5% CPU), no crash', async () => {
  const server = track(createServer((socket: Socket) => socket.pipe(socket)));
  const port = await listenLocal(server);
  const rounds = 50;
  const sender = new Promise<string>((resolve, reject) => {
    const child = execFile(buildFaultTools().oobSend, [String(port), String(rounds), '1500'], { timeout: 20000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)));
    track(child);
  });
  // Measured while the sender holds the connection open with urgent marks sent.
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await cpuShareOver(reactorThreadStat(), 1000)).toBeLessThan(0.05);
  const echoed = await sender;
  const inBand = Array.from({ length: rounds }, (_, i) => `in-band ${i};`).join('');
  // Without SO_OOBINLINE the kernel keeps the urgent byte out of the stream,
  // but puts an earlier one back in line when a newer mark overtakes it
  // before it was read: the urgent bytes ('!') may appear, nothing else may.
  expect(echoed.replace(/!/g, '')).toBe(inBand);
}, 30000);

test("a peer's urgent byte with bytes behind it, read only after both sides ended: every in-band byte, then 'end'", async () => {
  // Our end() first, then the peer's "A"x10, "!" urgent, "B"x10 and FIN: the
  // socket has hung up both ways before it reads, and recv() stops at the mark
  // with the B's behind it. That short read is not the end (node:net, through
  // libuv, takes it for one and loses the B's).
  const received: Buffer[] = [];
  const ended = new Promise<string>((resolve, reject) => {
    const server = track(createServer({ pauseOnConnect: true }, (socket: Socket) => {
      socket.end();
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('error', reject);
      socket.on('end', () => resolve(Buffer.concat(received).toString()));
      senderDone.then(() => socket.resume(), reject);
    }));
    let senderDone: Promise<void>;
    void listenLocal(server).then((port) => {
      senderDone = new Promise<void>((resolveSender, rejectSender) => {
        const child = execFile(buildFaultTools().oobSend, [String(port), 'mark', '0'], { timeout: 10000 },
          (error) => (error ? rejectSender(error) : resolveSender()));
        track(child);
      });
    });
  });
  expect(await ended).toBe('A'.repeat(10) + 'B'.repeat(10));
}, 20000);

test("a peer's urgent byte as its last, then a reset, read only afterwards: the in-band bytes, then 'end', as net", async () => {
  // recv() stops at the mark; nothing in-band is behind it, so the reset is
  // what the next recv() would say. libuv ends the stream at the short read,
  // and so does the reactor once it has looked behind the mark.
  const received: Buffer[] = [];
  const events: string[] = [];
  const closed = new Promise<void>((resolve, reject) => {
    let senderDone: Promise<void>;
    const server = track(createServer({ pauseOnConnect: true }, (socket: Socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('end', () => events.push('end'));
      socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error:${error.code}`));
      socket.on('close', (hadError: boolean) => {
        events.push(`close:${hadError}`);
        resolve();
      });
      senderDone.then(() => setTimeout(() => socket.resume(), 50), reject);
    }));
    void listenLocal(server).then((port) => {
      senderDone = new Promise<void>((resolveSender, rejectSender) => {
        const child = execFile(buildFaultTools().oobSend, [String(port), 'markreset', '50'], { timeout: 10000 },
          (error) => (error ? rejectSender(error) : resolveSender()));
        track(child);
      });
    });
  });
  await closed;
  expect(Buffer.concat(received).toString()).toBe('A'.repeat(10));
  // As net of this Node: libuv up to 1.49 (Node 20, 22) ends at the short read.
  expect(events).toEqual(hangupEndsShortRead ? ['end', 'close:false'] : ['error:ECONNRESET', 'close:true']);
}, 20000);
