// A reset on one side of a forward must end it even while the direction
// reading that side is blocked on a full destination (issue 12 item 12):
// EPOLLERR/EPOLLHUP used to only mark the socket readable, and a blocked
// direction does not read, so both fds and the pipes stayed open until the
// other side happened to act.
import * as net from 'node:net';

import { connect, createServer, forward, ForwardResult, Socket } from '../lib';
import { closeServer, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
jest.setTimeout(30000);

test.each(['splice', 'copy'] as const)("mode '%s': the client resets while client→upstream is blocked: the forward ends with ECONNRESET and closes the upstream", async (mode) => {
  // An upstream that never reads: the client→upstream direction fills and blocks.
  let upstreamClosed = false;
  let upstreamSocket: net.Socket | undefined;
  const upstreamServer = track(net.createServer((socket) => {
    upstreamSocket = socket;
    socket.pause();
    socket.on('error', () => undefined);
    socket.on('close', () => { upstreamClosed = true; });
  }));
  const upstreamPort = await listenLocal(upstreamServer);

  let result: Promise<ForwardResult> | undefined;
  const proxy = track(createServer((client: Socket) => {
    client.on('error', () => undefined);
    const upstream = connect(upstreamPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    upstream.once('connect', () => { result = forward(client, upstream, { mode }); });
  }));
  const port = await listenLocal(proxy);

  const client = track(net.connect(port, '127.0.0.1'));
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await waitFor(() => result !== undefined, 5000, 'the forward to start');
  // More than every buffer on the way holds (the client keeps the rest), so
  // the direction blocks. Receive buffers here grow to 32 MB (tcp_rmem), so
  // 32 MiB was sometimes all taken (ci28): write on until some stays.
  const chunk = Buffer.alloc(32 * 1024 * 1024, 'x');
  for (let i = 0; i < 8 && client.writableLength === 0; i++) {
    client.write(chunk);
    // Enough time for every buffer on the way to fill.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  expect(client.writableLength).toBeGreaterThan(0);

  client.resetAndDestroy();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([result!, new Promise<'stuck'>((resolve) => { timer = setTimeout(() => resolve('stuck'), 3000); })]);
  clearTimeout(timer);
  expect(outcome).not.toBe('stuck');
  expect((outcome as ForwardResult).error).toMatchObject({ code: 'ECONNRESET' });
  // The other side was closed with it: reading on, the upstream reaches its end.
  upstreamSocket!.resume();
  await waitFor(() => upstreamClosed, 10000, 'the upstream to be closed');
  await closeServer(proxy);
});

test.each(['splice', 'copy'] as const)("mode '%s': a client that resets mid-stream resets the upstream too, so it cannot take the cut stream for a whole one", async (mode) => {
  let upstreamEnding: Promise<string> | undefined;
  let received = 0;
  const upstreamServer = track(net.createServer((socket) => {
    upstreamEnding = new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => { received += chunk.length; });
      socket.on('end', () => resolve('end'));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
  }));
  const upstreamPort = await listenLocal(upstreamServer);
  let result: Promise<ForwardResult> | undefined;
  const proxy = track(createServer((client: Socket) => {
    client.on('error', () => undefined);
    const upstream = connect(upstreamPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    upstream.once('connect', () => { result = forward(client, upstream, { mode }); });
  }));
  const port = await listenLocal(proxy);
  const client = track(net.connect(port, '127.0.0.1'));
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await waitFor(() => result !== undefined, 5000, 'the forward to start');
  client.write('the first part of a body');
  await waitFor(() => received > 0, 5000, 'the first bytes at the upstream');
  client.resetAndDestroy();
  expect((await result!).error).toMatchObject({ code: 'ECONNRESET' });
  expect(await upstreamEnding).toBe('ECONNRESET');
  await closeServer(proxy);
});

test.each(['splice', 'copy'] as const)("mode '%s': a failure after the upstream's whole response and end were passed on does not cut that response", async (mode) => {
  const response = Buffer.alloc(2 * 1024 * 1024, 'r');
  let upstreamGone = false;
  const upstreamServer = track(net.createServer((socket) => {
    socket.on('error', () => undefined);
    // The whole response and a FIN; then the socket is closed, so the
    // client's next bytes are answered with a reset.
    socket.end(response, () => {
      socket.destroy();
      upstreamGone = true;
    });
  }));
  const upstreamPort = await listenLocal(upstreamServer);
  let result: Promise<ForwardResult> | undefined;
  const proxy = track(createServer({ allowHalfOpen: true }, (client: Socket) => {
    client.on('error', () => undefined);
    const upstream = connect(upstreamPort, '127.0.0.1');
    upstream.on('error', () => undefined);
    upstream.once('connect', () => { result = forward(client, upstream, { mode }); });
  }));
  const port = await listenLocal(proxy);
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  let clientError: string | undefined;
  client.on('error', (error: NodeJS.ErrnoException) => { clientError = error.code; });
  client.pause();  // the response waits in the proxy's send buffer
  await waitFor(() => result !== undefined && upstreamGone, 5000, 'the response to leave the upstream');
  await new Promise((resolve) => setTimeout(resolve, 300));  // and to be read by the proxy
  client.write('one more request');
  const outcome = await result!;
  expect(outcome.error?.code).toMatch(/^(ECONNRESET|EPIPE)$/);
  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  client.resume();
  await new Promise((resolve) => client.once('end', resolve));
  expect(clientError).toBeUndefined();
  expect(Buffer.concat(parts).equals(response)).toBe(true);
  await closeServer(proxy);
});
