// A TLS read ends its drain at a short recv(), as the plain path does
// (TlsSession::Read, Transport::stopAtShortRead): with read-ahead, a short
// recv means the socket's queue was empty, and bytes that come later raise a
// new edge. These cases put a record's pieces where that rule could strand
// them: a TCP relay between a node client and the server delivers each piece
// on its own, after a pause (the cold review of f6df9d1 asked for them).
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureSocket } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
jest.setTimeout(30000);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/**
 * A relay to `port` that passes server -> client bytes at once and client ->
 * server bytes through `shape`, which decides how each chunk is cut and how
 * long to wait before each piece. Pieces keep their order.
 */
async function relay(port: number, shape: (chunk: Buffer) => Array<[Buffer, number]>): Promise<number> {
  const server = track(net.createServer((client) => {
    const upstream = track(net.connect(port, '127.0.0.1'));
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    upstream.pipe(client);
    let queue = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      for (const [piece, delayMs] of shape(chunk)) {
        queue = queue.then(() => new Promise<void>((resolve) => setTimeout(() => {
          if (!upstream.destroyed) upstream.write(piece);
          resolve();
        }, delayMs)));
      }
    });
    client.on('end', () => { queue = queue.then(() => { upstream.end(); }); });
  }));
  return listenLocal(server);
}

function echoServer(): ReturnType<typeof createSecureServer> {
  return track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket: SecureSocket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  }));
}

async function echoThrough(port: number, messages: string[]): Promise<string> {
  const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
  await once(client, 'secureConnect');
  let echoed = '';
  client.setEncoding('utf8');
  client.on('data', (text: string) => { echoed += text; });
  let sent = 0;
  for (const message of messages) {
    // One record per write, each echoed before the next is sent.
    client.write(message);
    sent += message.length;
    await waitFor(() => echoed.length >= sent, 10_000, `the echo of ${JSON.stringify(message)}`);
  }
  client.end();
  await once(client, 'end');
  return echoed;
}

test('every record cut in two, the second half 50 ms later: each is read once it is whole', async () => {
  const port = await relay(await listenLocal(echoServer()), (chunk) => {
    const half = Math.max(1, chunk.length >> 1);
    const pieces: Array<[Buffer, number]> = [[chunk.subarray(0, half), 0]];
    if (half < chunk.length) pieces.push([chunk.subarray(half), 50]);
    return pieces;
  });
  expect(await echoThrough(port, ['first ', 'second ', 'third'])).toBe('first second third');
});

test('a record header alone (5 bytes), then its body 50 ms later', async () => {
  const port = await relay(await listenLocal(echoServer()), (chunk) =>
    chunk.length > 5 ? [[chunk.subarray(0, 5), 0], [chunk.subarray(5), 50]] : [[chunk, 0]]);
  expect(await echoThrough(port, ['header then body', ' and again'])).toBe('header then body and again');
});
