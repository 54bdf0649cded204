// `secureProtocol` works as node:tls's: each method name allows the protocol
// versions node allows for it (TLS_method any, SSLv23_method the default
// minimum up to TLSv1.2, TLSv1_2_method TLSv1.2 alone), bad names and names
// beside minVersion/maxVersion get node's errors, and serveHttp keeps reactor
// TLS for an https.Server given one. Outcomes are compared with node:tls's
// against the same peer. A server given a client's method (which fails every
// handshake in node) is refused, and serveHttp leaves it to node:tls.
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket, serveHttp } from '../lib';
import { checkMustCalls, listenLocal, mustBeInstanceOf, mustCall, mustNotCall, thrownCode } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type Versions = Pick<tls.TlsOptions, 'secureProtocol' | 'minVersion' | 'maxVersion'>;
// TLSv1 and TLSv1.1 need OpenSSL's security level 0 (SHA-1 signatures), on both sides.
const ciphers = 'DEFAULT@SECLEVEL=0';

/** What node's client gets from a server: its protocol, or "failed". */
function nodeClientOutcome(port: number, options: Versions): Promise<string> {
  return new Promise((resolve) => {
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ciphers, ...options }, () => {
      resolve(String(client.getProtocol()));
      client.destroy();
    }));
    client.on('error', () => resolve('failed'));
  });
}

async function serverPort(make: typeof tls.createServer | typeof createSecureServer, options: Versions): Promise<number> {
  const server = track((make as typeof tls.createServer)({ key: pki.serverKey, cert: pki.serverCert, ciphers, ...options },
    (socket) => socket.end()));
  server.on('tlsClientError', () => {});
  return listenLocal(server as never);
}

const anyVersion: Versions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.3' };

test.each<[string, Versions, string]>([
  ['TLSv1_2_method', anyVersion, 'TLSv1.2'],
  ['TLSv1_2_server_method', anyVersion, 'TLSv1.2'],
  ['TLSv1_1_method', anyVersion, 'TLSv1.1'],
  ['TLSv1_method', anyVersion, 'TLSv1'],
  ['TLSv1_2_method', { minVersion: 'TLSv1.3' }, 'failed'],
  ['TLS_method', anyVersion, 'TLSv1.3'],
  ['TLS_method', { secureProtocol: 'TLSv1_method' }, 'TLSv1'],
  ['SSLv23_method', anyVersion, 'TLSv1.2'],
  ['SSLv23_server_method', { secureProtocol: 'TLSv1_1_method' }, 'failed'],
])('a reactor TLS server with secureProtocol %s, against a client with %j, agrees with node:tls', async (method, client, expected) => {
  const ours = await nodeClientOutcome(await serverPort(createSecureServer, { secureProtocol: method }), client);
  const theirs = await nodeClientOutcome(await serverPort(tls.createServer, { secureProtocol: method }), client);
  expect(ours).toBe(theirs);
  expect(ours).toBe(expected);
}, 20_000);

test.each<[string, Versions, string]>([
  ['TLSv1_2_method', anyVersion, 'TLSv1.2'],
  ['TLSv1_2_client_method', anyVersion, 'TLSv1.2'],
  ['TLS_method', { secureProtocol: 'TLSv1_method' }, 'TLSv1'],
  ['SSLv23_client_method', anyVersion, 'TLSv1.2'],
  ['TLSv1_method', { minVersion: 'TLSv1.2' }, 'failed'],
])('a reactor TLS client with secureProtocol %s gets from a node:tls server with %j what node\'s client gets', async (method, server, expected) => {
  const port = await serverPort(tls.createServer, server);
  const ours = await new Promise<string>((resolve) => {
    const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost', ciphers, secureProtocol: method } }));
    socket.once('secureConnect', () => {
      resolve(String((socket as SecureSocket).getProtocol()));
      socket.destroy();
    });
    socket.on('error', () => resolve('failed'));
  });
  expect(ours).toBe(await nodeClientOutcome(port, { secureProtocol: method }));
  expect(ours).toBe(expected);
}, 20_000);

test('bad secureProtocol options get node\'s errors, before a server or client exists', () => {
  const bad: Versions[] = [{ secureProtocol: 'SSLv3_method' }, { secureProtocol: 'hokey-pokey' },
    { secureProtocol: 'TLSv1_2_method', minVersion: 'TLSv1.2' }, { secureProtocol: 'TLS_method', maxVersion: 'TLSv1.3' }];
  const identity = { key: pki.serverKey, cert: pki.serverCert };
  for (const options of bad) {
    const theirs = thrownCode(() => tls.createServer({ ...identity, ...options }));
    expect(theirs).toMatch(/^ERR_TLS_(INVALID_PROTOCOL_METHOD|PROTOCOL_VERSION_CONFLICT)$/);
    expect(thrownCode(() => createSecureServer({ ...identity, ...options }))).toBe(theirs);
    // Port 9 is never reached: the call throws first.
    expect(thrownCode(() => connect({ host: '127.0.0.1', port: 9, tls: options }))).toBe(theirs);
  }
  // A method for the other side fails every handshake in node; the reactor refuses it.
  expect(thrownCode(() => createSecureServer({ ...identity, secureProtocol: 'TLSv1_2_client_method' })))
    .toBe('ERR_EPOLL_REACTOR_TLS_UNSUPPORTED');
  expect(thrownCode(() => connect({ host: '127.0.0.1', port: 9, tls: { secureProtocol: 'TLS_server_method' } })))
    .toBe('ERR_EPOLL_REACTOR_TLS_UNSUPPORTED');
});

async function httpsGetProtocol(port: number): Promise<string> {
  return new Promise((resolve) => {
    https.get({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk; });
      res.on('end', () => resolve(body));
    }).on('error', (error: NodeJS.ErrnoException) => resolve(`failed ${error.code}`));
  });
}

test('serveHttp keeps reactor TLS for an https.Server with secureProtocol', async () => {
  const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert, secureProtocol: 'TLSv1_2_method' }, (req, res) => {
    res.end(String((req.socket as tls.TLSSocket).getProtocol()));
  });
  // Reactor TLS: no raw 'connection' for node:tls to wrap.
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  expect(await httpsGetProtocol((server.address() as AddressInfo).port)).toBe('TLSv1.2');
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);

test('serveHttp leaves an https.Server with a client\'s secureProtocol to node:tls, which fails its handshakes', async () => {
  const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert, secureProtocol: 'TLS_client_method' },
    mustNotCall('a request'));
  httpsServer.prependListener('connection', mustCall());
  httpsServer.on('tlsClientError', mustCall());
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  expect(await httpsGetProtocol((server.address() as AddressInfo).port)).toMatch(/^failed /);
  httpsServer.close();
}, 20_000);
