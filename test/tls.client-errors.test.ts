// Clients that fail end cleanly, with the errors node:tls gives: a plain-HTTP
// client on the TLS port, a truncated handshake, a handshake that never comes
// (timeout), a client that stops mid-record, a client that rejects the
// server's certificate, client certificates that fail verification, and an
// old protocol. After each, the reactor holds no connection.
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureSocket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, listenLocal, mustCall, mustNotCall, waitFor } from './helpers';
import { startFixture } from './helpers/child';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type TlsClientError = Error & { code?: string; library?: string; reason?: string };

function server(options: Parameters<typeof createSecureServer>[0] = {}): ReturnType<typeof createSecureServer> {
  return track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ...options }));
}

async function noConnectionsLeft(): Promise<void> {
  await waitFor(() => getReactor().native.stats().connections === 0, 10_000, 'every server-side connection to close');
}

function rawClient(port: number): net.Socket {
  const socket = track(net.connect(port, '127.0.0.1'));
  socket.on('error', () => undefined);
  return socket;
}

test('a plain-HTTP client on the TLS port: tlsClientError ERR_SSL_HTTP_REQUEST', async () => {
  const secure = server();
  secure.on('secureConnection', mustNotCall('secureConnection'));
  const port = await listenLocal(secure);
  const failed = once(secure, 'tlsClientError') as Promise<[TlsClientError, SecureSocket]>;
  const client = rawClient(port);
  // Not once(): an RST for the unread rest of the request is an 'error' here.
  const closed = new Promise((resolve) => client.on('close', resolve));
  client.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const [error, socket] = await failed;
  expect(error.code).toBe('ERR_SSL_HTTP_REQUEST');
  expect(error.library).toBe('SSL routines');
  expect(error.reason).toBe('http request');
  expect(error.message).toMatch(/SSL routines.*http request/);
  expect(socket).toBeInstanceOf(SecureSocket);
  await closed;
  await noConnectionsLeft();
});

test('a truncated handshake: tlsClientError ECONNRESET', async () => {
  const secure = server();
  secure.on('secureConnection', mustNotCall('secureConnection'));
  const port = await listenLocal(secure);
  const failed = once(secure, 'tlsClientError') as Promise<[TlsClientError]>;
  const client = rawClient(port);
  await once(client, 'connect');
  // The first bytes of a ClientHello record that promises 200 bytes.
  client.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]));
  const [error] = await failed;
  expect(error.code).toBe('ECONNRESET');
  expect(error.message).toBe('socket hang up');
  await noConnectionsLeft();
});

describe('a handshake that meets a reset, in a child whose loop runs on its JS thread', () => {
  // There the hello is handled after the reset, every round, as by node's
  // server, which runs on the thread that resets. The reactor's own thread
  // may answer before the reset lands, and then meets it on a read, as node
  // would too.
  const rounds = 10;
  async function tlsClientErrors(env: Record<string, string>): Promise<{ reactor: string[]; node: string[] }> {
    const fixture = startFixture('tls-hello-reset.js', {
      ROUNDS: String(rounds), TLS_KEY_PEM: pki.serverKey.toString(), TLS_CERT_PEM: pki.serverCert.toString(), ...env,
    });
    try {
      return await fixture.next<{ reactor: string[]; node: string[] }>((line) => 'reactor' in line, 20_000);
    } finally {
      await fixture.kill();
    }
  }

  test("the server's answer meets the reset: tlsClientError ECONNRESET 'socket hang up', as node:tls's", async () => {
    // node's TLSWrap ignores a failed write of its own, and its next read
    // meets only the end; the reactor reported the send's error ('read
    // ECONNRESET') until it dropped such writes too.
    const result = await tlsClientErrors({ CASE: 'hello' });
    expect(result.node).toEqual(Array(rounds).fill('ECONNRESET socket hang up'));
    expect(result.reactor).toEqual(result.node);
  });

  test("a server that resets after its first flight: the client's Finished meets the reset; 'secureConnect', then 'end', as tls.connect", async () => {
    // node writes the Finished, ignores the failed send and reads the end;
    // the reactor's client failed its handshake there.
    const result = await tlsClientErrors({ CASE: 'client-finished' });
    expect(result.node).toEqual(Array(rounds).fill('secureConnect end close:false'));
    expect(result.reactor).toEqual(result.node);
  });

  test("a hello with no cipher in common: the server's alert meets the reset, and OpenSSL's error is the report", async () => {
    const result = await tlsClientErrors({ CASE: 'no-shared-cipher' });
    expect(result.node).toEqual(Array(rounds).fill(result.node[0]));
    expect(result.node[0]).toBe('ERR_SSL_NO_SHARED_CIPHER no shared cipher');
    expect(result.reactor).toEqual(result.node);
  });
});

test('a client that never sends its hello: tlsClientError ERR_TLS_HANDSHAKE_TIMEOUT', async () => {
  const secure = server({ handshakeTimeout: 200 });
  const port = await listenLocal(secure);
  const failed = once(secure, 'tlsClientError') as Promise<[TlsClientError]>;
  const client = rawClient(port);
  const [error] = await failed;
  expect(error.code).toBe('ERR_TLS_HANDSHAKE_TIMEOUT');
  expect(error.message).toBe('TLS handshake timeout');
  await once(client, 'close');
  await noConnectionsLeft();
});

test('a client that stops mid-record and closes: the bytes before it arrive, then end, as node', async () => {
  let serverSide: SecureSocket | undefined;
  let received = '';
  const secure = server();
  secure.on('secureConnection', mustCall((socket: SecureSocket) => {
    serverSide = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { received += chunk; });
  }));
  const port = await listenLocal(secure);
  const raw = rawClient(port);
  await once(raw, 'connect');
  const client = track(tls.connect({ socket: raw, ca: pki.caCert, servername: 'localhost' }));
  await once(client, 'secureConnect');
  client.write('whole record');
  await waitFor(() => received === 'whole record', 10_000, 'the whole record');
  // An application-data record header that promises 16 KiB, and 5 bytes of it.
  raw.end(Buffer.from([0x17, 0x03, 0x03, 0x40, 0x00, 1, 2, 3, 4, 5]));
  const socket = serverSide as SecureSocket;
  await once(socket, 'end');
  await once(socket, 'close');
  expect(received).toBe('whole record');
  await noConnectionsLeft();
});

test('a client that stops mid-record and stalls: the idle timeout still fires', async () => {
  const secure = server();
  secure.on('secureConnection', mustCall((socket: SecureSocket) => {
    socket.setTimeout(200, mustCall(() => socket.destroy()));
    socket.on('data', mustNotCall('data from half a record'));
  }));
  const port = await listenLocal(secure);
  const raw = rawClient(port);
  await once(raw, 'connect');
  const serverSecure = once(secure, 'secureConnection');
  const client = track(tls.connect({ socket: raw, ca: pki.caCert, servername: 'localhost' }));
  client.on('error', () => undefined);
  await once(client, 'secureConnect');
  // After the server's handshake is done: written earlier, the bytes could
  // overtake the client's Finished, and the handshake timeout would end it.
  await serverSecure;
  raw.write(Buffer.from([0x17, 0x03, 0x03, 0x40, 0x00, 1, 2, 3, 4, 5]));
  await once(raw, 'close');
  await noConnectionsLeft();
});

test('a client that rejects the server certificate gets node\'s error; the server side closes', async () => {
  const secure = server();
  secure.on('secureConnection', mustNotCall('secureConnection'));
  const port = await listenLocal(secure);
  // No `ca`: the test CA is not in node's root store.
  const client = track(tls.connect({ host: '127.0.0.1', port, servername: 'localhost' }));
  const [error] = await once(client, 'error') as [TlsClientError];
  expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  await noConnectionsLeft();
});

test('requestCert + rejectUnauthorized drops a client whose certificate no CA signed', async () => {
  const secure = server({ ca: pki.caCert, requestCert: true, rejectUnauthorized: true });
  secure.on('secureConnection', mustNotCall('secureConnection'));
  const port = await listenLocal(secure);
  const client = track(tls.connect({
    host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', key: pki.rogueKey, cert: pki.rogueCert,
  }));
  client.on('error', () => undefined);
  client.resume();
  await once(client, 'close');
  await noConnectionsLeft();
});

test('requestCert without rejectUnauthorized reports why a certificate was not trusted', async () => {
  const secure = server({ ca: pki.caCert, requestCert: true, rejectUnauthorized: false });
  const secured = mustCall((socket: SecureSocket) => {
    expect(socket.authorized).toBe(false);
    expect(socket.authorizationError).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect((socket.getPeerCertificate() as tls.PeerCertificate).subject).toEqual({ CN: 'rogue client' });
    socket.end();
  });
  secure.on('secureConnection', secured);
  const port = await listenLocal(secure);
  const client = track(tls.connect({
    host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', key: pki.rogueKey, cert: pki.rogueCert,
  }));
  client.resume();
  await once(client, 'end');
  await noConnectionsLeft();
});

test('requestCert + rejectUnauthorized: a client with no certificate fails its handshake', async () => {
  const secure = server({ ca: pki.caCert, requestCert: true, rejectUnauthorized: true });
  secure.on('secureConnection', mustNotCall('secureConnection'));
  const port = await listenLocal(secure);
  const failed = once(secure, 'tlsClientError') as Promise<[TlsClientError]>;
  const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
  client.on('error', () => undefined);
  client.resume();
  const [error] = await failed;
  expect(error.code).toBe('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  await noConnectionsLeft();
});

test('a TLSv1.2 client against minVersion TLSv1.3: tlsClientError ERR_SSL_UNSUPPORTED_PROTOCOL', async () => {
  const secure = server({ minVersion: 'TLSv1.3' });
  const port = await listenLocal(secure);
  const failed = once(secure, 'tlsClientError') as Promise<[TlsClientError]>;
  const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', maxVersion: 'TLSv1.2' }));
  client.on('error', () => undefined);
  const [error] = await failed;
  expect(error.code).toBe('ERR_SSL_UNSUPPORTED_PROTOCOL');
  await noConnectionsLeft();
});

test('an ALPN list with nothing in common ends the handshake with an alert', async () => {
  const secure = server({ ALPNProtocols: ['h2'] });
  const port = await listenLocal(secure);
  const failed = once(secure, 'tlsClientError') as Promise<[TlsClientError]>;
  const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ALPNProtocols: ['x-other'] }));
  client.on('error', () => undefined);
  const [error] = await failed;
  expect(error.code).toMatch(/^ERR_SSL_/);
  await noConnectionsLeft();
});
