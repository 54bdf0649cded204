// The native write() itself, below lib/socket.ts's normalisation (issue 12
// item 1): given a view over a SharedArrayBuffer, a DataView, or a view at a
// large byteOffset, it must send exactly the view's bytes. Before the fix it
// read from NULL + byteOffset (SIGSEGV, or process memory at the peer).
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, closeServer, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

function pattern(view: ArrayBufferView, seed: number): Buffer {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + seed) & 0xff;
  return Buffer.from(bytes);
}

test('native write() sends exactly the bytes of SAB-backed views, DataViews and views at a large offset', async () => {
  let accepted: Socket | undefined;
  const server = track(createServer((socket: Socket) => { accepted = socket; }));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  await once(client, 'connect');
  await waitFor(() => accepted !== undefined, 5000, 'the connection');
  const views: ArrayBufferView[] = [
    new Uint8Array(new SharedArrayBuffer(100)),
    new DataView(new SharedArrayBuffer(64), 5, 40),
    new Uint8Array(new SharedArrayBuffer(0x400000 + 4096), 0x400000, 4096),
    new Uint16Array(new SharedArrayBuffer(64 * 1024)),          // pinned size
    new DataView(new ArrayBuffer(70 * 1024), 1000, 65 * 1024), // pinned size
    new Float64Array(new ArrayBuffer(80), 8, 4),
  ];
  const expected = Buffer.concat(views.map((view, i) => pattern(view, i)));
  const reactor = getReactor();
  let queued = 0;
  for (const view of views) queued += reactor.native.write(accepted!.id, view as Uint8Array);
  reactor.flush();
  expect(queued).toBe(expected.length);
  await waitFor(() => parts.reduce((sum, part) => sum + part.length, 0) >= expected.length, 5000, 'every byte');
  expect(Buffer.concat(parts).equals(expected)).toBe(true);
  client.destroy();
  await closeServer(server);
});
