// ecdhCurve, sigalgs and secureOptions shape a reactor TLS context as they
// shape node's: against the same peer, the same options give the same
// outcome (the protocol and key-exchange group, or a failed handshake), for a
// server, for a client, and for an https.Server behind serveHttp, which keeps
// reactor TLS for them rather than leaving the server to node:tls.
import { constants } from 'node:crypto';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket, serveHttp } from '../lib';
import { checkMustCalls, listenLocal, mustBeInstanceOf, thrownCode } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type Shaping = Pick<tls.TlsOptions, 'ecdhCurve' | 'sigalgs' | 'secureOptions' | 'ciphers'>;

/** What node's client gets from a server: "<protocol> <group>", or "failed". */
function nodeClientOutcome(port: number, options: Shaping = {}): Promise<string> {
  return new Promise((resolve) => {
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...options }, () => {
      resolve(`${client.getProtocol()} ${(client.getEphemeralKeyInfo() as { name?: string }).name ?? '?'}`);
      client.destroy();
    }));
    client.on('error', () => resolve('failed'));
  });
}

async function reactorServerPort(options: Shaping): Promise<number> {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => socket.end()));
  server.on('tlsClientError', () => {});
  return listenLocal(server);
}

async function nodeServerPort(options: Shaping): Promise<number> {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => socket.end()));
  server.on('tlsClientError', () => {});
  return listenLocal(server);
}

const NO_TLS_1_3 = constants.SSL_OP_NO_TLSv1_3;
// OpenSSL's first TLS 1.3 group: X25519, or the hybrid X25519MLKEM768 from
// OpenSSL 3.5 (Node 22.20 and later, 24, 26), which Node 22's
// getEphemeralKeyInfo() does not name ('?').
const DEFAULT_TLS13 = /^TLSv1\.3 (X25519(MLKEM768)?|\?)$/;

test.each<[string, Shaping, Shaping, string | RegExp]>([
  ['no shaping options', {}, {}, DEFAULT_TLS13],
  ['ecdhCurve secp384r1', { ecdhCurve: 'secp384r1' }, {}, 'TLSv1.3 secp384r1'],
  ['ecdhCurve auto', { ecdhCurve: 'auto' }, {}, DEFAULT_TLS13],
  ['ecdhCurve with no group the client offers', { ecdhCurve: 'secp384r1' }, { ecdhCurve: 'prime256v1' }, 'failed'],
  ['sigalgs the key can sign with', { sigalgs: 'ECDSA+SHA256' }, {}, DEFAULT_TLS13],
  ['sigalgs the key cannot sign with', { sigalgs: 'RSA-PSS+SHA256' }, {}, 'failed'],
  ['secureOptions SSL_OP_NO_TLSv1_3', { secureOptions: NO_TLS_1_3 }, {}, 'TLSv1.2 X25519'],
  // No TLSv1.3 names among the ciphers keeps OpenSSL's TLSv1.3 suites (Node 20 and later).
  ['ciphers naming TLSv1.2 ciphers only', { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, {}, DEFAULT_TLS13],
  ['ciphers naming TLSv1.3 suites only', { ciphers: 'TLS_AES_256_GCM_SHA384' }, { maxVersion: 'TLSv1.2' } as Shaping, 'failed'],
])('a reactor TLS server with %s gives a node client what node:tls gives', async (_name, server, client, expected) => {
  const ours = await nodeClientOutcome(await reactorServerPort(server), client);
  const theirs = await nodeClientOutcome(await nodeServerPort(server), client);
  expect(ours).toBe(theirs);
  expect(ours).toEqual(typeof expected === 'string' ? expected : expect.stringMatching(expected));
}, 20_000);

test.each<[string, Shaping, Shaping, string]>([
  ['ecdhCurve the server also has', { ecdhCurve: 'secp384r1' }, { ecdhCurve: 'secp384r1' }, 'TLSv1.3'],
  ['ecdhCurve the server does not have', { ecdhCurve: 'prime256v1' }, { ecdhCurve: 'secp384r1' }, 'failed'],
  ['sigalgs the server cannot sign with', {}, { sigalgs: 'RSA-PSS+SHA256' }, 'failed'],
  ['secureOptions SSL_OP_NO_TLSv1_3', {}, { secureOptions: NO_TLS_1_3 }, 'TLSv1.2'],
  ['ciphers naming TLSv1.2 ciphers only', {}, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, 'TLSv1.3'],
])('a reactor TLS client with %s gets from node:tls what node\'s client gets', async (_name, server, client, expected) => {
  const port = await nodeServerPort(server);
  const ours = await new Promise<string>((resolve) => {
    const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost', ...client } }));
    socket.once('secureConnect', () => {
      resolve(String((socket as SecureSocket).getProtocol()));
      socket.destroy();
    });
    socket.on('error', () => resolve('failed'));
  });
  const theirs = (await nodeClientOutcome(port, client)).split(' ')[0];
  expect(ours).toBe(theirs);
  expect(ours).toBe(expected);
}, 20_000);

test('bad shaping options meet node\'s checks: the same errors, or none where node has none', () => {
  const bad: Shaping[] = [{ ecdhCurve: 'no-such-curve' }, { ecdhCurve: 5 as never }, { sigalgs: '' }, { sigalgs: 5 as never },
    { secureOptions: 'x' as never }, { secureOptions: 1.5 }];
  const identity = { key: pki.serverKey, cert: pki.serverCert };
  const servers = bad.map((options) => [
    thrownCode(() => createSecureServer({ ...identity, ...options })),
    thrownCode(() => tls.createServer({ ...identity, ...options }))]);
  // A server's secureOptions pass through node's `|=` with its cipher order flag: never refused.
  expect(servers.map(([, theirs]) => theirs)).toEqual([
    'ERR_CRYPTO_OPERATION_FAILED', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_TYPE', 'accepted', 'accepted']);
  expect(servers.map(([ours]) => ours)).toEqual(servers.map(([, theirs]) => theirs));
  // A client's are checked. Port 9 is never reached: each call throws first.
  for (const options of bad) {
    const theirs = thrownCode(() => tls.createSecureContext(options));
    expect(theirs).not.toBe('accepted');
    expect(thrownCode(() => connect({ host: '127.0.0.1', port: 9, tls: options }))).toBe(theirs);
  }
});

test('serveHttp keeps reactor TLS for an https.Server with ecdhCurve, sigalgs and secureOptions', async () => {
  const httpsServer = https.createServer({
    key: pki.serverKey, cert: pki.serverCert, ecdhCurve: 'secp384r1', sigalgs: 'ECDSA+SHA256', secureOptions: NO_TLS_1_3,
  }, (req, res) => {
    res.end(`${(req.socket as tls.TLSSocket).getProtocol()}`);
  });
  // Reactor TLS: no raw 'connection' for node:tls to wrap.
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const outcome = (options: Shaping): Promise<string> => new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', agent: false, ...options }, (res) => {
      const group = ((res.socket as tls.TLSSocket).getEphemeralKeyInfo() as { name?: string }).name;
      let body = '';
      res.on('data', (chunk: Buffer) => { body += chunk; });
      res.on('end', () => resolve(`${body} ${group}`));
    });
    req.on('error', () => resolve('failed'));
  });
  expect(await outcome({})).toBe('TLSv1.2 secp384r1');
  expect(await outcome({ ecdhCurve: 'prime256v1' })).toBe('failed');
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);
