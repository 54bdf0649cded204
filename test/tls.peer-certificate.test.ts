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
import { issueCrossCertifiedCas, issueIntermediateChain, makeTestPki, TestPki } from './helpers/tls-pki';

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
  // tls.connect hands its callback getPeerCertificate(true): the issuer chain too.
  expect(chainOf(identityChecks[0])).toEqual(chainOf(identityChecks[1]));
  expect(identityChecks[0]).toEqual(identityChecks[1]);
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

/**
 * What getPeerCertificate(true) links, in order: each certificate's SHA-256
 * and, last, 'self' when the last one is its own issuerCertificate.
 */
function chainOf(certificate: Record<string, unknown> | null, limit = 10): string[] {
  const chain: string[] = [];
  let at = certificate as (Record<string, unknown> & { issuerCertificate?: Record<string, unknown> }) | undefined;
  while (at !== undefined && chain.length < limit) {
    chain.push(String(at.fingerprint256));
    if (at.issuerCertificate === at) return [...chain, 'self'];
    at = at.issuerCertificate as typeof at;
  }
  return chain;
}

describe('getPeerCertificate(true) links the issuers as node does', () => {
  let chained: ReturnType<typeof issueIntermediateChain>;
  beforeAll(() => { chained = issueIntermediateChain(pki); });

  /** The chain a client sees of a node server sending `certChain`, ours and tls.connect's. */
  async function clientChains(certChain: Buffer[], clientOptions: tls.ConnectionOptions): Promise<string[][]> {
    const server = track(tls.createServer({ key: chained.serverKey, cert: Buffer.concat(certChain) }, (socket) => socket.end()));
    const port = await listenLocal(server);
    const options = { servername: 'localhost', ...clientOptions };
    const ours = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const socket = track(connect({ host: '127.0.0.1', port, tls: options as never })) as SecureSocket;
      socket.once('secureConnect', () => resolve(socket.getPeerCertificate(true) as unknown as Record<string, unknown>));
      socket.once('error', reject);
    });
    const theirs = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const socket = track(tls.connect({ host: '127.0.0.1', port, ...options }));
      socket.once('secureConnect', () => resolve(socket.getPeerCertificate(true) as unknown as Record<string, unknown>));
      socket.once('error', reject);
    });
    expect(ours).toEqual(theirs);
    return [chainOf(ours), chainOf(theirs)];
  }

  test('a client: the intermediate the server sent, then the root from the trust store, which is its own issuer', async () => {
    const [ours, theirs] = await clientChains([chained.serverCert, chained.intermediateCert], { ca: pki.caCert });
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(4);
    expect(ours[3]).toBe('self');
  });

  test('a client: issuers the server did not send come from the trust store', async () => {
    const [ours, theirs] = await clientChains([chained.serverCert], { ca: [pki.caCert, chained.intermediateCert] });
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(4);
  });

  test('a client that trusts none of it: the chain ends where the sent certificates end', async () => {
    const [ours, theirs] = await clientChains([chained.serverCert, chained.intermediateCert],
      { ca: chained.serverCert, rejectUnauthorized: false });
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(2);
  });

  test('a client sent its chain out of order: the links from what was sent stop as node\'s do', async () => {
    // node takes the intermediate, the last one left, and stops looking at
    // the sent certificates (the root it also sent is not linked).
    const [ours, theirs] = await clientChains([chained.serverCert, pki.caCert, chained.intermediateCert],
      { ca: chained.serverCert, rejectUnauthorized: false });
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(2);
  });

  test('two CAs in the trust store that certify each other: the reactor stops walking them', async () => {
    // node's own walk goes round for ever here (so it is not asked); the
    // reactor thread, which every connection shares, stops after 32.
    const bridge = issueCrossCertifiedCas(pki);
    const server = track(tls.createServer({ key: bridge.serverKey, cert: bridge.serverCert }, (socket) => socket.pipe(socket)));
    const port = await listenLocal(server);
    const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: bridge.crossCerts, servername: 'localhost',
      rejectUnauthorized: false } })) as SecureSocket;
    await new Promise((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const chain = chainOf(socket.getPeerCertificate(true) as unknown as Record<string, unknown>, 100);
    expect(chain).toHaveLength(1 + 32);
    // And the reactor goes on serving the connection.
    const echoed = new Promise((resolve) => socket.once('data', resolve));
    socket.write('still here');
    expect(String(await echoed)).toBe('still here');
  });

  test('a server: the client\'s chain, and one it sent nothing is {} either way', async () => {
    const chainSeenBy = async (make: 'node' | 'reactor', withCertificate: boolean): Promise<Record<string, unknown>> => {
      const options = { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: false };
      const server = make === 'node' ? tls.createServer(options) : createSecureServer(options);
      const seen = new Promise<Record<string, unknown>>((resolve) => {
        server.once('secureConnection', (socket: tls.TLSSocket) => {
          resolve(socket.getPeerCertificate(true) as unknown as Record<string, unknown>);
          socket.end();
        });
      });
      const port = await listenLocal(track(server as tls.Server));
      const client = withCertificate ? { key: chained.clientKey, cert: Buffer.concat([chained.clientCert, chained.intermediateCert]) } : {};
      track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...client })).on('error', () => {});
      return seen;
    };
    const ours = await chainSeenBy('reactor', true);
    const theirs = await chainSeenBy('node', true);
    expect(chainOf(ours)).toEqual(chainOf(theirs));
    expect(chainOf(ours)).toHaveLength(4);
    expect(ours).toEqual(theirs);
    expect(await chainSeenBy('reactor', false)).toEqual(await chainSeenBy('node', false));
  });
});
