// A reactor TLS server socket's getSession(), beside node:tls's: the session
// its handshake made, as OpenSSL's DER (the same fields a client's session
// of that connection carries), a fresh Buffer each call, null once destroyed.
// It is kept natively and encoded only when asked (it holds the connection's
// secret), one per open connection, released when the connection closes.
import { once } from 'node:events';
import * as tls from 'node:tls';

import { createSecureServer, SecureServerOptions, SecureSocket } from '../lib';
import { getReactor } from '../lib/reactor';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

interface SessionFields { protocol: number; cipher: string; masterKey: Buffer }

/** The first fields of an SSL_SESSION in DER (OpenSSL's ssl/ssl_asn1.c): version, protocol, cipher, id, master key. */
function sessionFields(der: Buffer): SessionFields {
  let offset = 0;
  const next = (): Buffer => {
    offset += 1;  // tag
    let length = der[offset++];
    if (length & 0x80) {
      const octets = length & 0x7f;
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + der[offset++];
    }
    const value = der.subarray(offset, offset + length);
    offset += length;
    return value;
  };
  expect(der[0]).toBe(0x30);  // SEQUENCE
  // Into the SEQUENCE: past its tag and length octets.
  offset = der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2;
  next();  // version
  const protocol = next().readUIntBE(0, 2);
  const cipher = next().toString('hex');
  next();  // session id
  return { protocol, cipher, masterKey: next() };
}

/** A client session without node's identity prefix (Node 22.23+, 24.22+, 26.12+ add one). */
function rawClientSession(session: Buffer): Buffer {
  if (session[0] !== 0) return session;
  const prefix = '\0nodejs:tls:session:1\0';
  const nameLength = session.readUInt16BE(prefix.length);
  return session.subarray(prefix.length + 2 + nameLength);
}

type MakeServer = (options: tls.TlsOptions, listener: (socket: tls.TLSSocket) => void) => tls.Server;
const servers: [string, MakeServer][] = [
  ['node:tls', (options, listener) => tls.createServer(options, listener)],
  ['epoll-reactor', (options, listener) => createSecureServer(options as SecureServerOptions, listener as never) as unknown as tls.Server],
];

interface Seen { server: Buffer; again: Buffer; afterDestroy: Buffer | null | undefined; client: Buffer }

/** One handshake; the server socket's session is read once the client is secure too. */
async function handshake(make: MakeServer, options: tls.TlsOptions, clientOptions: tls.ConnectionOptions = {}): Promise<Seen> {
  const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...options }, () => { /* read below */ }));
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const port = await listenLocal(server);
  const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...clientOptions }));
  client.on('error', () => { /* the server hangs up below */ });
  await once(client, 'secureConnect');
  const [socket] = await accepted;
  const first = socket.getSession()!;
  const copy = Buffer.from(first);
  first.fill(0);  // the next call's Buffer is not this one
  const again = socket.getSession()!;
  socket.destroy();
  return { server: copy, again, afterDestroy: socket.getSession(), client: rawClientSession(client.getSession()!) };
}

describe.each(['TLSv1.2', 'TLSv1.3'] as const)('%s', (version) => {
  test.each(servers)('%s: the server socket\'s getSession() is the handshake\'s session, a fresh Buffer each call, null once destroyed', async (_name, make) => {
    const seen = await handshake(make, { maxVersion: version });
    expect(seen.again).toBeInstanceOf(Buffer);
    expect(seen.again.equals(seen.server)).toBe(true);
    expect(seen.afterDestroy).toBeNull();
    const server = sessionFields(seen.server);
    const client = sessionFields(seen.client);
    expect(server.protocol).toBe(version === 'TLSv1.3' ? 0x0304 : 0x0303);
    expect(server.protocol).toBe(client.protocol);
    expect(server.cipher).toBe(client.cipher);
    // Under TLS 1.2 both ends keep the one master secret. (Under TLS 1.3 the
    // field holds a ticket's secret, filled when the server issues its first
    // ticket, which node's server may not have done yet here.)
    if (version === 'TLSv1.2') expect(server.masterKey.equals(client.masterKey)).toBe(true);
  });

  test('the same fields as node:tls\'s server session, and the client\'s certificate in it when one was asked for', async () => {
    const options = { maxVersion: version, requestCert: true, ca: pki.caCert };
    const clientOptions = { key: pki.clientKey, cert: pki.clientCert };
    const [node, reactor] = [await handshake(servers[0][1], options, clientOptions), await handshake(servers[1][1], options, clientOptions)];
    const nodeFields = sessionFields(node.server);
    const reactorFields = sessionFields(reactor.server);
    expect(reactorFields.protocol).toBe(nodeFields.protocol);
    expect(reactorFields.cipher).toBe(nodeFields.cipher);
    if (version === 'TLSv1.2') expect(reactorFields.masterKey.length).toBe(nodeFields.masterKey.length);
    const clientCertificate = new (await import('node:crypto')).X509Certificate(pki.clientCert).raw;
    expect(node.server.includes(clientCertificate)).toBe(true);
    expect(reactor.server.includes(clientCertificate)).toBe(true);
  });
});

test('the sessions kept for getSession() are one per open server connection, and none once they close', async () => {
  const reactor = getReactor();
  // The earlier tests' connections may still be closing on the reactor
  // thread, each taking its kept session with it: count from when they are gone.
  await waitFor(() => reactor.native.stats().connections === 0, 10_000, "the earlier tests' connections to close");
  const before = reactor.native.stats().tlsServerSessions;
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }));
  const accepted: SecureSocket[] = [];
  server.on('secureConnection', (socket: SecureSocket) => accepted.push(socket));
  const port = await listenLocal(server);
  const clients = [];
  for (let i = 0; i < 20; i++) {
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    client.on('error', () => { /* closed by the server below */ });
    clients.push(once(client, 'secureConnect'));
  }
  await Promise.all(clients);
  await waitFor(() => accepted.length === 20, 10_000);
  expect(reactor.native.stats().tlsServerSessions - before).toBe(20);
  expect(accepted.every((socket) => socket.getSession() instanceof Buffer)).toBe(true);
  // Half closed by the server, half by their clients.
  for (const socket of accepted.slice(0, 10)) socket.destroy();
  for (const socket of accepted.slice(10)) socket.end();
  await waitFor(() => reactor.native.stats().tlsServerSessions === before, 10_000, 'every kept session to be released');
});
