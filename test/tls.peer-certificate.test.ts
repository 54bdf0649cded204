// getPeerCertificate() gives node's whole object for the peer's certificate
// (the fingerprints, the public key and its parameters, extended key usage,
// as TLSSocket's), on a server asking for client certificates and on a
// client; a client's checkServerIdentity is handed the same object, so the
// pinning node's documentation shows (pubkey, fingerprint256) works. Each is
// compared with what node:tls gives for the same certificate.
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal, mustCall } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

const FIELDS = ['subject', 'issuer', 'subjectaltname', 'ca', 'pubkey', 'bits', 'asn1Curve', 'nistCurve', 'valid_from',
  'valid_to', 'fingerprint', 'fingerprint256', 'fingerprint512', 'serialNumber', 'raw'];

/** The client certificate a server sees, from a server made by `make`. */
async function clientCertificateSeenBy(make: 'node' | 'reactor'): Promise<Record<string, unknown>> {
  const options = { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true };
  const server = make === 'node' ? tls.createServer(options) : createSecureServer(options);
  const seen = new Promise<Record<string, unknown>>((resolve) => {
    server.once('secureConnection', (socket: tls.TLSSocket) => {
      resolve(socket.getPeerCertificate() as unknown as Record<string, unknown>);
      socket.end();
    });
  });
  const port = await listenLocal(track(server as tls.Server));
  track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', key: pki.clientKey, cert: pki.clientCert }))
    .on('error', () => {});
  return seen;
}

test('a server asking for client certificates gets node\'s whole object for one', async () => {
  const ours = await clientCertificateSeenBy('reactor');
  const theirs = await clientCertificateSeenBy('node');
  expect(Object.keys(theirs)).toEqual(expect.arrayContaining(FIELDS.filter((field) => field !== 'subjectaltname')));
  expect(ours).toEqual(theirs);
  expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
});

test('a client gets node\'s whole object for the server\'s certificate, and so does its checkServerIdentity', async () => {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end()));
  const port = await listenLocal(server);
  const identityChecks: Record<string, unknown>[] = [];
  // node's documented pinning: the public key's SHA-256 and the certificate's fingerprint.
  const checkServerIdentity = mustCall((hostname: string, cert: tls.PeerCertificate): Error | undefined => {
    identityChecks.push(cert as unknown as Record<string, unknown>);
    expect(Buffer.isBuffer(cert.pubkey)).toBe(true);
    expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    return tls.checkServerIdentity(hostname, cert);
  }, 2);
  const options = { ca: pki.caCert, servername: 'localhost', checkServerIdentity };
  const ours = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const socket = track(connect({ host: '127.0.0.1', port, tls: options })) as SecureSocket;
    socket.once('secureConnect', () => resolve(socket.getPeerCertificate() as unknown as Record<string, unknown>));
    socket.once('error', reject);
  });
  const theirs = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const socket = track(tls.connect({ host: '127.0.0.1', port, ...options }));
    socket.once('secureConnect', () => resolve(socket.getPeerCertificate() as unknown as Record<string, unknown>));
    socket.once('error', reject);
  });
  expect(ours).toEqual(theirs);
  expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
  // tls.connect hands its callback getPeerCertificate(true), which adds the issuer chain.
  const { issuerCertificate: _chain, ...theirsChecked } = identityChecks[1];
  expect(identityChecks[0]).toEqual(theirsChecked);
});

test('each call gives a copy: changing one leaves the next as it was', async () => {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end()));
  const port = await listenLocal(server);
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  const first = socket.getPeerCertificate() as tls.PeerCertificate;
  first.subject.CN = 'changed';
  first.raw.fill(0);
  const second = socket.getPeerCertificate() as tls.PeerCertificate;
  expect(second.subject.CN).toBe('localhost');
  expect(second.raw.some((byte) => byte !== 0)).toBe(true);
});
