// A connection parked by the unconsumed-bytes cap and then forwarded must be
// forgotten by flow control when the forward closes it. Before flow control
// held ids, closing the forward's first connection released the cap-blocked
// list, which queued a read for the second; the second was then closed and
// freed at the end of the turn while still on the read queue, and the next
// turn wrote into it (issue 12 item 2: heap-use-after-free in ReadReady under
// scripts/sanitize.sh). Without ASan the freed memory usually still looks
// valid, so this test checks the bytes and a clean finish, and sanitize.sh
// catches the use-after-free.
import { once } from 'node:events';
import * as net from 'node:net';

import { configure, connect, createServer, forward, ForwardResult, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, holdJsThreadUntil, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const KiB = 1024;
const MiB = 1024 * KiB;
// A per-socket cap below what one turn reads (256 KiB), so the reactor stops
// the upload at the cap unless the pause JS sends at its highWaterMark comes
// first. The test holds the JS thread until the reactor reports the connection
// parked, so the pause cannot come first however the kernel splits the upload.
const CAP = 64 * KiB;
const UPLOAD = 3 * MiB;
// Watches the reactor's own thread work while the JS thread is stalled: the
// loop runs on a thread of its own here whatever EPOLL_REACTOR_THREAD says.
configure({ maxUnconsumedBytesPerSocket: CAP, thread: 'own' });

for (const mode of ['splice', 'copy'] as const) {
  test(`a cap-blocked client forwarded (${mode}) and then closed by both FINs leaves nothing queued`, async () => {
    let upstreamBytes = 0;
    const upstreamServer = track(net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => { upstreamBytes += chunk.length; });
      socket.on('end', () => socket.end());
    }));
    const upstreamPort = await listenLocal(upstreamServer);

    const accepted: Socket[] = [];
    const server = track(createServer({ allowHalfOpen: true }, (socket: Socket) => {
      accepted.push(socket);  // not read: its bytes pile up to the cap
    }));
    const port = await listenLocal(server);

    const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    client.on('error', () => undefined);
    await once(client, 'connect');
    client.write(Buffer.alloc(UPLOAD, 'u'));
    holdJsThreadUntil(() => getReactor().native.stats().blockedConnections === 1, 10_000,
      'the reactor to park the client connection at the per-socket cap');
    await waitFor(() => accepted.length === 1 && accepted[0].readableLength >= CAP, 10_000,
      'JS to hold the per-socket cap of bytes');
    const accept = accepted[0];

    const up = track(connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }));
    await once(up, 'connect');
    // up first: finishing the forward closes it first, then the cap-blocked client.
    const result: ForwardResult = await (async () => {
      const pending = forward(up, accept, { mode });
      client.end();
      return pending;
    })();
    expect(result.error).toBeUndefined();
    expect(upstreamBytes).toBe(UPLOAD);

    // Turns after the forward closed both connections: ReadReady must find
    // nothing of them. An echo through the same reactor proves it still runs.
    const echoServer = track(createServer((socket: Socket) => socket.pipe(socket)));
    const echoPort = await listenLocal(echoServer);
    const probe = track(net.connect({ port: echoPort, host: '127.0.0.1' }));
    probe.on('error', () => undefined);
    probe.end('ping');
    const [reply] = await once(probe, 'data');
    expect(String(reply)).toBe('ping');
  }, 30_000);
}
