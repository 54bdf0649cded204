// A reactor TLS server against node's own TLS clients: bytes intact both
// ways from 1 B to 4 MiB (across record boundaries), TLSSocket's surface after
// the handshake, client certificates, https.get, and half-close with
// close_notify.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureSocket, tlsAvailable } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, listenLocal, mustCall, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { connectTls as connectTlsTo, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

function digest(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return connectTlsTo(pki, port, options);
}

function echoServer(options: Parameters<typeof createSecureServer>[0] = {}): ReturnType<typeof createSecureServer> {
  return track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  }));
}

test('reactor TLS is available on this node', () => {
  expect(tlsAvailable).toBe(true);
});

test.each([1, 100, 16383, 16384, 16385, 65537, 1024 * 1024 + 7, 4 * 1024 * 1024])(
  'echoes %i bytes intact through TLS', async (size) => {
    const server = echoServer();
    const port = await listenLocal(server);
    const client = await connectTls(port);
    const payload = randomBytes(size);
    const parts: Buffer[] = [];
    let received = 0;
    const done = new Promise<void>((resolve) => {
      client.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        received += chunk.length;
        if (received >= size) resolve();
      });
    });
    client.write(payload);
    await done;
    expect(received).toBe(size);
    expect(digest(Buffer.concat(parts))).toBe(digest(payload));
    client.end();
    await once(client, 'close');
  });

test('the socket shows what the handshake settled, as a TLSSocket does', async () => {
  const server = track(createSecureServer({
    key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, ALPNProtocols: ['h2', 'http/1.1'],
  }));
  const secured = mustCall((socket: SecureSocket) => {
    expect(socket.encrypted).toBe(true);
    expect(socket.authorized).toBe(true);
    expect(socket.authorizationError).toBeNull();
    expect(socket.alpnProtocol).toBe('http/1.1');
    expect(socket.servername).toBe('localhost');
    expect(socket.getProtocol()).toBe('TLSv1.3');
    expect(socket.getCipher()).toEqual(expect.objectContaining({ standardName: expect.stringMatching(/^TLS_/), version: 'TLSv1.3' }));
    expect(socket.isSessionReused()).toBe(false);
    socket.end('bye');
    return socket;
  });
  server.on('secureConnection', secured);
  const port = await listenLocal(server);
  const serverSide = once(server, 'secureConnection');
  const client = await connectTls(port, { key: pki.clientKey, cert: pki.clientCert, ALPNProtocols: ['http/1.1'] });
  const [socket] = await serverSide as [SecureSocket];
  const ours = client.getCertificate() as tls.PeerCertificate;
  const seen = socket.getPeerCertificate() as tls.PeerCertificate;
  expect(seen.subject).toEqual({ CN: 'test client', O: 'epoll-reactor' });
  expect(seen.issuer).toEqual({ CN: 'epoll-reactor test CA' });
  expect(seen.valid_from).toBe(ours.valid_from);
  expect(seen.valid_to).toBe(ours.valid_to);
  expect(seen.fingerprint256).toBe(ours.fingerprint256);
  expect(seen.serialNumber).toBe(ours.serialNumber);
  expect(seen.raw.equals(ours.raw)).toBe(true);
  // As TLSSocket's getPeerX509Certificate(): the same certificate as crypto's object.
  const x509 = socket.getPeerX509Certificate();
  expect(x509).toBeInstanceOf(X509Certificate);
  expect(x509!.raw.equals(ours.raw)).toBe(true);
  expect(x509!.subject).toBe('CN=test client\nO=epoll-reactor');
  expect(client.alpnProtocol).toBe('http/1.1');
  client.resume();
  await once(client, 'end');
});

test('a client that sent no certificate: getPeerCertificate() is {} and getPeerX509Certificate() undefined, as TLSSocket\'s', async () => {
  const server = echoServer();
  const port = await listenLocal(server);
  const serverSide = once(server, 'secureConnection');
  const client = await connectTls(port);
  const [socket] = await serverSide as [SecureSocket];
  const node = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }));
  const nodeSide = once(node, 'secureConnection');
  await connectTls(await listenLocal(node));
  const [theirs] = await nodeSide as [tls.TLSSocket];
  expect(socket.getPeerCertificate()).toEqual(theirs.getPeerCertificate());
  expect(socket.getPeerX509Certificate()).toBe(theirs.getPeerX509Certificate());
  expect(socket.getPeerX509Certificate()).toBeUndefined();
  client.destroy();
});

test('a server limited to TLSv1.2 speaks TLSv1.2', async () => {
  const server = echoServer({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  const secured = mustCall((socket: SecureSocket) => expect(socket.getProtocol()).toBe('TLSv1.2'));
  server.on('secureConnection', secured);
  const port = await listenLocal(server);
  const client = await connectTls(port);
  expect(client.getProtocol()).toBe('TLSv1.2');
  client.write('x');
  await once(client, 'data');
  client.end();
  await once(client, 'close');
});

test('https.get gets an answer written by a secureConnection handler', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'));
  }));
  const port = await listenLocal(server);
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
  expect(body).toBe('hello');
});

test('half-close: the client ends, the server still writes, then ends with close_notify', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, allowHalfOpen: true }, (socket) => {
    socket.on('data', () => undefined);
    socket.on('end', mustCall(() => {
      socket.write('after your end');
      socket.end();
    }));
  }));
  const port = await listenLocal(server);
  const client = await connectTls(port, { allowHalfOpen: true } as tls.ConnectionOptions);
  let text = '';
  client.setEncoding('utf8');
  client.on('data', (chunk: string) => { text += chunk; });
  client.end();
  await once(client, 'end');
  expect(text).toBe('after your end');
  await once(client, 'close');
  await waitFor(() => getReactor().native.stats().connections === 0, 5000, 'the server side to close');
});

test('writes made before the handshake ends are sent after it, in order', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }));
  server.on('connection', (socket: SecureSocket) => {
    socket.write('early ');
    socket.end('words');
  });
  const port = await listenLocal(server);
  const client = await connectTls(port);
  let text = '';
  client.setEncoding('utf8');
  client.on('data', (chunk: string) => { text += chunk; });
  await once(client, 'end');
  expect(text).toBe('early words');
  expect((server.address() as AddressInfo).port).toBe(port);
});

test('thousands of small writes among large ones arrive intact and in order', async () => {
  // Small writes share records (TlsSession::NextPlaintext), a large one
  // behind them goes on its own, and a record may end mid-chunk: the bytes
  // and their order must come through all of that.
  const pieces: Buffer[] = [];
  for (let i = 0; i < 3000; i++) pieces.push(randomBytes(i % 100 === 99 ? 100_000 : 1 + ((i * 7919) % 3000)));
  const expected = Buffer.concat(pieces);
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    for (const piece of pieces) socket.write(piece);
    socket.end();
  }));
  const port = await listenLocal(server);
  const client = await connectTls(port);
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  await once(client, 'end');
  const got = Buffer.concat(received);
  expect(got.length).toBe(expected.length);
  expect(digest(got)).toBe(digest(expected));
});
