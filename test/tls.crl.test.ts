// `crl` works as node:tls's: a server asking for client certificates, and a
// client checking its server, refuse a certificate its CA has revoked
// (CERT_REVOKED) and accept one it has not, and serveHttp keeps reactor TLS
// for an https.Server given one. Each outcome is compared with node:tls's
// against the same peer.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket, serveHttp } from '../lib';
import { checkMustCalls, listenLocal, mustBeInstanceOf } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
/** Revocation lists from the test CA: none revoked, the client's revoked, the server's revoked. */
let crls: { none: Buffer; client: Buffer; server: Buffer };

/** A CRL signed by the CA revoking `revoke` (certificate files in the PKI's directory). */
function makeCrl(name: string, revoke: string[]): Buffer {
  const directory = path.join(pki.directory, `crl-${name}`);
  fs.mkdirSync(directory);
  fs.writeFileSync(path.join(directory, 'index.txt'), '');
  fs.writeFileSync(path.join(directory, 'crlnumber'), '01\n');
  fs.writeFileSync(path.join(directory, 'ca.cnf'), [
    '[ ca ]', 'default_ca = test', '[ test ]', `database = ${directory}/index.txt`, `crlnumber = ${directory}/crlnumber`,
    'default_md = sha256', 'default_crl_days = 2', 'policy = any', '[ any ]', 'commonName = supplied', '',
  ].join('\n'));
  const ca = ['-config', path.join(directory, 'ca.cnf'), '-keyfile', path.join(pki.directory, 'ca.key'),
    '-cert', pki.paths.caCert];
  const run = (args: string[]): void => {
    execFileSync('/usr/bin/openssl', ['ca', ...ca, ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
  };
  for (const file of revoke) run(['-revoke', path.join(pki.directory, file)]);
  run(['-gencrl', '-out', path.join(directory, 'crl.pem')]);
  return fs.readFileSync(path.join(directory, 'crl.pem'));
}

beforeAll(() => {
  pki = makeTestPki();
  crls = { none: makeCrl('none', []), client: makeCrl('client', ['client.pem']), server: makeCrl('server', ['server.pem']) };
});
afterAll(() => pki.remove());

/** "authorized", the server socket's authorizationError, or "failed" (the client saw the handshake fail). */
async function serverVerdict(server: tls.Server | ReturnType<typeof createSecureServer>): Promise<string> {
  server.on('tlsClientError', () => {});
  const port = await listenLocal(server);
  return new Promise<string>((resolve) => {
    server.once('secureConnection', (socket: tls.TLSSocket | SecureSocket) => {
      resolve(socket.authorized ? 'authorized' : String(socket.authorizationError));
    });
    // TLS 1.3: the client's handshake is done before the server judges the
    // client's certificate, so a refusal arrives as an error or close after it.
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost',
      key: pki.clientKey, cert: pki.clientCert }));
    client.on('data', () => {});
    client.on('error', () => resolve('failed'));
    client.on('close', () => resolve('failed'));
  });
}

test.each<[string, 'none' | 'client', boolean, string]>([
  ['no revoked certificate', 'none', true, 'authorized'],
  ['the client certificate revoked, rejectUnauthorized', 'client', true, 'failed'],
  ['the client certificate revoked, rejectUnauthorized false', 'client', false, 'CERT_REVOKED'],
])('a server with a CRL, %s: the verdict node:tls gives', async (_name, crl, rejectUnauthorized, expected) => {
  const options = { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized,
    crl: crls[crl] };
  const ours = await serverVerdict(track(createSecureServer(options, (socket) => socket.end())));
  const theirs = await serverVerdict(track(tls.createServer(options, (socket) => socket.end())));
  expect(ours).toBe(theirs);
  expect(ours).toBe(expected);
}, 20_000);

test.each<[string, 'none' | 'server', string]>([
  ['no revoked certificate', 'none', 'authorized'],
  ['the server certificate revoked', 'server', 'CERT_REVOKED'],
])('a client with a CRL, %s: the verdict tls.connect gives', async (_name, crl, expected) => {
  const port = await listenLocal(track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end())));
  const options = { ca: pki.caCert, servername: 'localhost', crl: crls[crl] };
  const verdict = (make: () => tls.TLSSocket | SecureSocket, connectEvent: string): Promise<string> => new Promise((resolve) => {
    const socket = track(make());
    socket.once(connectEvent, () => resolve('authorized'));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
  const ours = await verdict(() => connect({ host: '127.0.0.1', port, tls: options }) as SecureSocket, 'secureConnect');
  const theirs = await verdict(() => tls.connect({ host: '127.0.0.1', port, ...options }), 'secureConnect');
  expect(ours).toBe(theirs);
  expect(ours).toBe(expected);
}, 20_000);

test('text that is no CRL throws node\'s error before anything listens', () => {
  const identity = { key: pki.serverKey, cert: pki.serverCert };
  let theirs: unknown;
  try {
    tls.createServer({ ...identity, crl: 'not a crl' });
  } catch (error) {
    theirs = (error as { code?: string }).code;
  }
  expect(theirs).toEqual(expect.any(String));
  expect(() => createSecureServer({ ...identity, crl: 'not a crl' })).toThrow(expect.objectContaining({ code: theirs }));
  expect(() => connect({ host: '127.0.0.1', port: 9, tls: { crl: 'not a crl' } })).toThrow(expect.objectContaining({ code: theirs }));
});

test('serveHttp keeps reactor TLS for an https.Server with a CRL, and refuses a revoked client', async () => {
  const httpsServer = https.createServer({
    key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: false, crl: crls.client,
  }, (req, res) => res.end(String((req.socket as tls.TLSSocket).authorizationError)));
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', agent: false,
      key: pki.clientKey, cert: pki.clientCert }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  expect(body).toBe('CERT_REVOKED');
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);
