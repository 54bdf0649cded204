// `pfx`: a key, its certificate and the chain in one PKCS#12 bundle, as
// node:tls takes them, for reactor TLS servers (createSecureServer, and
// serveHttp of an https.Server made with one) and clients (connect({ tls })).
// Each is compared with node:tls given the same bundle.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket, serveHttp } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
let serverPfx: Buffer;      // the server's key and certificate, with the CA as chain; passphrase 'sekrit'
let openServerPfx: Buffer;  // the same with an empty password
let clientPfx: Buffer;      // the client's key and certificate; passphrase 'client pass'

function exportPfx(key: string, cert: string, password: string, chain?: string): Buffer {
  const out = path.join(pki.directory, `bundle-${Math.random().toString(36).slice(2)}.p12`);
  execFileSync('/usr/bin/openssl', ['pkcs12', '-export', '-inkey', key, '-in', cert, ...(chain ? ['-certfile', chain] : []),
    '-passout', `pass:${password}`, '-out', out], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
  return fs.readFileSync(out);
}

beforeAll(() => {
  pki = makeTestPki();
  serverPfx = exportPfx(pki.paths.serverKey, pki.paths.serverCert, 'sekrit', pki.paths.caCert);
  openServerPfx = exportPfx(pki.paths.serverKey, pki.paths.serverCert, '');
  clientPfx = exportPfx(pki.paths.clientKey, pki.paths.clientCert, 'client pass');
});
afterAll(() => pki.remove());

/** Connects with tls.connect trusting the test CA; the server certificate's fingerprint and chain length. */
async function visit(port: number): Promise<{ fingerprint: string; chain: number; reply: string }> {
  const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
  await new Promise((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  const certificate = socket.getPeerCertificate(true);
  let chain = 1;
  for (let at = certificate; at.issuerCertificate && at.issuerCertificate !== at; at = at.issuerCertificate) chain++;
  socket.write('ping');
  const reply = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  socket.destroy();
  return { fingerprint: certificate.fingerprint256, chain, reply };
}

test.each([
  ['a Buffer and passphrase', () => ({ pfx: serverPfx, passphrase: 'sekrit' })],
  ['[{ buf, passphrase }]', () => ({ pfx: [{ buf: serverPfx, passphrase: 'sekrit' }] })],
  ['a bundle with an empty password, no passphrase', () => ({ pfx: openServerPfx })],
  ['[{ buf, passphrase as bytes }]', () => ({ pfx: [{ buf: serverPfx, passphrase: new Uint8Array(Buffer.from('sekrit')) as never }] })],
])('a server given pfx as %s presents what node:tls presents with it', async (_, options) => {
  const ours = track(createSecureServer(options(), (socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk))));
  const theirs = track(tls.createServer(options(), (socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk))));
  const [oursSeen, theirsSeen] = [await visit(await listenLocal(ours)), await visit(await listenLocal(theirs))];
  expect(oursSeen).toEqual(theirsSeen);
  expect(oursSeen.reply).toBe('ping');
});

test.each([
  ['a wrong passphrase', () => ({ pfx: serverPfx, passphrase: 'wrong' })],
  ['no passphrase', () => ({ pfx: serverPfx })],
  ['bytes that are not PKCS#12', () => ({ pfx: Buffer.from('not a pfx') })],
])("a pfx with %s throws node:tls's error", (_, options) => {
  const thrown = (make: () => unknown): Error & { code?: string } => {
    try { make(); } catch (error) { return error as Error & { code?: string }; }
    throw new Error('did not throw');
  };
  const ours = thrown(() => createSecureServer(options()));
  const theirs = thrown(() => tls.createServer(options()));
  expect({ name: ours.name, code: ours.code, message: ours.message })
    .toEqual({ name: theirs.name, code: theirs.code, message: theirs.message });
});

test('a client given pfx presents its certificate to a server that asks for one', async () => {
  let seen: tls.PeerCertificate | undefined;
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true },
    (socket) => {
      seen = socket.getPeerCertificate();
      socket.end(socket.authorized ? 'authorized' : `not: ${String(socket.authorizationError)}`);
    }));
  const port = await listenLocal(server);
  const client = track(connect({ host: '127.0.0.1', port,
    tls: { ca: pki.caCert, servername: 'localhost', pfx: clientPfx, passphrase: 'client pass' } })) as SecureSocket;
  let reply = '';
  client.on('data', (chunk: Buffer) => { reply += chunk.toString(); });
  await new Promise((resolve, reject) => { client.once('end', resolve); client.once('error', reject); });
  expect(reply).toBe('authorized');
  expect(seen?.fingerprint256).toBe(new (require('node:crypto').X509Certificate)(pki.clientCert).fingerprint256);
});

test('serveHttp(https.Server with pfx) serves it with reactor TLS', async () => {
  const server = https.createServer({ pfx: serverPfx, passphrase: 'sekrit' }, (_request, response) => response.end('hello'));
  // Reactor TLS hands the https.Server secure sockets, its 'connection'
  // listeners too; node:tls would get raw sockets there to wrap.
  let rawConnections = 0;
  server.prependListener('connection', (socket: unknown) => { if (!(socket instanceof SecureSocket)) rawConnections++; });
  const served = track(serveHttp(server, { port: 0, host: '127.0.0.1' }));
  await new Promise((resolve) => served.once('listening', resolve));
  const port = (served.address() as { port: number }).port;
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      response.on('end', () => resolve(text));
    }).on('error', reject);
  });
  expect(body).toBe('hello');
  expect(rawConnections).toBe(0);
});
