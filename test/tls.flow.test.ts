// Reading TLS under edge triggering when something stops a drain early: with
// the smallest read budget a 16 KiB record is decrypted whole but handed out
// 4 KiB per turn, so OpenSSL holds plaintext the kernel no longer reports and
// the connection must be revisited without an edge. Pause and resume keep
// their meaning, and a burst of handshakes (more than the per-turn handshake
// budget) does not stop an established connection from echoing.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as tls from 'node:tls';

import { configure, createSecureServer, SecureSocket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { connectTls as connectTlsTo, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

configure({ readBudgetPerTurn: 4096, maxUnconsumedBytesPerSocket: 65536 });

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

function digest(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function connectTls(port: number): Promise<tls.TLSSocket> {
  return connectTlsTo(pki, port);
}

test('4 MiB echoed intact when each turn may read only 4 KiB of plaintext', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  }));
  const port = await listenLocal(server);
  const client = await connectTls(port);
  const payload = randomBytes(4 * 1024 * 1024);
  const parts: Buffer[] = [];
  let received = 0;
  const done = new Promise<void>((resolve) => client.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    received += chunk.length;
    if (received >= payload.length) resolve();
  }));
  client.write(payload);
  await done;
  expect(digest(Buffer.concat(parts))).toBe(digest(payload));
});

test('a paused TLS socket pushes back on the client, and resume() delivers every byte', async () => {
  let serverSide: SecureSocket | undefined;
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, highWaterMark: 16 * 1024 },
    (socket) => {
      serverSide = socket;
      socket.pause();
    }));
  const port = await listenLocal(server);
  const client = await connectTls(port);
  const payload = randomBytes(8 * 1024 * 1024);
  client.write(payload);
  await waitFor(() => serverSide !== undefined, 10_000, 'secureConnection');
  // The client's writes back up: the server reads nothing for JS meanwhile.
  await waitFor(() => client.writableNeedDrain, 10_000, 'the client to see backpressure');
  const socket = serverSide as SecureSocket;
  const parts: Buffer[] = [];
  let received = 0;
  const done = new Promise<void>((resolve) => socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    received += chunk.length;
    if (received >= payload.length) resolve();
  }));
  socket.resume();
  await done;
  expect(digest(Buffer.concat(parts))).toBe(digest(payload));
  expect(getReactor().native.stats().unconsumedBytes).toBeLessThanOrEqual(65536);
});

test('an established connection keeps echoing while 200 clients handshake at once', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  }));
  const port = await listenLocal(server);
  const established = await connectTls(port);
  let handshakes = 0;
  const crowd: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    crowd.push(connectTls(port).then((socket) => {
      handshakes++;
      socket.end();
    }));
  }
  // Round trips on the established connection while the crowd handshakes.
  let rounds = 0;
  while (rounds < 20) {
    established.write(`round ${rounds}\n`);
    const [reply] = await once(established, 'data') as [Buffer];
    expect(reply.toString()).toBe(`round ${rounds}\n`);
    rounds++;
  }
  await Promise.all(crowd);
  expect(handshakes).toBe(200);
  established.end();
  await waitFor(() => getReactor().native.stats().connections === 0, 20_000, 'every connection to close');
});

test('pauseOnConnect: the handshake still happens, and resume() in secureConnection gets the data', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, pauseOnConnect: true }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.resume();
  }));
  const port = await listenLocal(server);
  const client = await connectTls(port);
  client.write('after a paused start');
  const [reply] = await once(client, 'data') as [Buffer];
  expect(reply.toString()).toBe('after a paused start');
});
