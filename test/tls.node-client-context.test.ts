// connect({ tls: { secureContext } }) with a context node made
// (tls.createSecureContext), as tls.connect uses one: the client says in its
// ClientHello what tls.connect says with the same context, byte for byte
// where a context decides it, and negotiates what tls.connect negotiates.
// OpenSSL has getters for a context's ciphers and versions but not for its
// groups, signature algorithms or certificate compression; those are read
// off the ClientHello a client on node's context sends (tls_node_context.cc).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

type Client = (port: number, secureContext: tls.SecureContext) => tls.TLSSocket;
const clients: [string, Client][] = [
  ['tls.connect', (port, secureContext) => tls.connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext })],
  ['epoll-reactor', (port, secureContext) =>
    connect({ host: '127.0.0.1', port, tls: { servername: 'localhost', secureContext } }) as unknown as tls.TLSSocket],
];

/** The ClientHello's handshake message a client sends, read by a server that then closes. */
async function clientHelloOf(client: Client, secureContext: tls.SecureContext): Promise<Buffer> {
  const server = track(net.createServer());
  const received = new Promise<Buffer>((resolve, reject) => {
    server.once('connection', (socket) => {
      let bytes = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (bytes.length < 5 || bytes.length < 5 + bytes.readUInt16BE(3)) return;
        socket.destroy();
        if (bytes[0] !== 22) reject(new Error(`not a handshake record: ${bytes.subarray(0, 5).toString('hex')}`));
        else resolve(bytes.subarray(5, 5 + bytes.readUInt16BE(3)));
      });
    });
  });
  const port = await listenLocal(server);
  const socket = track(client(port, secureContext));
  socket.on('error', () => undefined);  // the server closes mid-handshake
  return received;
}

interface ClientHelloParts { ciphers: string; sessionIdLength: number; extensions: [number, string][] }

/** What a context decides in a ClientHello: key shares by group (their keys are new each time), no random or session id bytes. */
function partsOf(handshake: Buffer): ClientHelloParts {
  expect(handshake[0]).toBe(1);
  let at = 4 + 2 + 32;
  const sessionIdLength = handshake[at];
  at += 1 + sessionIdLength;
  const cipherLength = handshake.readUInt16BE(at);
  const ciphers = handshake.subarray(at + 2, at + 2 + cipherLength).toString('hex');
  at += 2 + cipherLength;
  at += 1 + handshake[at];
  const end = at + 2 + handshake.readUInt16BE(at);
  at += 2;
  const extensions: [number, string][] = [];
  while (at < end) {
    const type = handshake.readUInt16BE(at);
    let data = handshake.subarray(at + 4, at + 4 + handshake.readUInt16BE(at + 2));
    at += 4 + data.length;
    if (type === 21) continue;  // padding, as long as the rest makes it
    if (type === 51) {
      const groups: Buffer[] = [];
      for (let share = 2; share < data.length; share += 4 + data.readUInt16BE(share + 2)) groups.push(data.subarray(share, share + 2));
      data = Buffer.concat(groups);
    }
    extensions.push([type, data.toString('hex')]);
  }
  return { ciphers, sessionIdLength, extensions };
}

const nodeHasCertificateCompression = (() => {
  try {
    tls.createSecureContext({ ca: [], certificateCompression: 'not a list' } as unknown as tls.SecureContextOptions);
    return false;
  } catch {
    return true;
  }
})();

const contexts: [string, tls.SecureContextOptions][] = [
  ['no options', {}],
  ['TLSv1.2 ciphers, at most TLSv1.2', { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305', maxVersion: 'TLSv1.2' }],
  ['TLSv1.3 suites alone', { ciphers: 'TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256' }],
  ['a security level in the ciphers', { ciphers: 'DEFAULT@SECLEVEL=2' }],
  ['TLSv1.3 only', { minVersion: 'TLSv1.3' }],
  ['ecdhCurve P-384', { ecdhCurve: 'P-384' }],
  ['ecdhCurve P-521:X25519:P-256', { ecdhCurve: 'P-521:X25519:P-256' }],
  ['sigalgs ECDSA+SHA256', { sigalgs: 'ECDSA+SHA256' }],
  ['sigalgs by scheme names, SHA-1 at TLSv1.2', { sigalgs: 'ed25519:rsa_pss_rsae_sha384:RSA+SHA1:ECDSA+SHA384', maxVersion: 'TLSv1.2' }],
  ['sigalgs with DSA and SHA-224, at most TLSv1.2', { sigalgs: 'ECDSA+SHA256:DSA+SHA256:RSA+SHA224:ECDSA+SHA224', maxVersion: 'TLSv1.2' }],
  ['secureOptions without tickets', { secureOptions: 0x4000 /* SSL_OP_NO_TICKET */ }],
  ...(nodeHasCertificateCompression
    ? [['certificateCompression', { certificateCompression: ['brotli', 'zlib'] } as tls.SecureContextOptions] as [string, tls.SecureContextOptions]]
    : []),
];

test.each(contexts)('a context node made with %s: the ClientHello is the one tls.connect sends', async (_name, options) => {
  const [theirs, ours] = [
    partsOf(await clientHelloOf(clients[0][1], tls.createSecureContext(options))),
    partsOf(await clientHelloOf(clients[1][1], tls.createSecureContext(options))),
  ];
  expect(ours).toEqual(theirs);
});

test('on a context node made, the server\'s choice of version and cipher, and the verdict on its certificate, are tls.connect\'s', async () => {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.end(`${socket.getProtocol()} ${socket.getCipher().name}`);
  }));
  const port = await listenLocal(server);
  const outcome = async (client: Client, options: tls.SecureContextOptions): Promise<string> => {
    const socket = track(client(port, tls.createSecureContext(options)));
    return new Promise((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      socket.on('end', () => resolve(`${socket.authorized} ${text}`));
      socket.on('error', (error: Error & { code?: string }) => resolve(`error ${error.code}`));
    });
  };
  const cases: [tls.SecureContextOptions, RegExp][] = [
    [{ ca: pki.caCert }, /^true TLSv1\.3 /],
    [{ ca: pki.caCert, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }, /^true TLSv1\.2 ECDHE-ECDSA-CHACHA20-POLY1305$/],
    [{ ca: pki.caCert, ciphers: 'TLS_CHACHA20_POLY1305_SHA256' }, /^true TLSv1\.3 TLS_CHACHA20_POLY1305_SHA256$/],
    // Nothing the server's P-256 certificate can sign with at TLSv1.2.
    [{ ca: pki.caCert, maxVersion: 'TLSv1.2', sigalgs: 'RSA+SHA256' }, /^error /],
    // node's roots, which do not know the test CA.
    [{}, /^error /],
  ];
  for (const [options, expected] of cases) {
    const theirs = await outcome(clients[0][1], options);
    expect(theirs).toMatch(expected);
    expect(await outcome(clients[1][1], options)).toBe(theirs);
  }
});

test('a context whose security level allows a weak client certificate sends it, as tls.connect does', async () => {
  const weak = selfSigned(pki.directory, 'weak client', 768);
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: false,
    ciphers: 'DEFAULT@SECLEVEL=0' }, (socket) => {
    socket.end(String(socket.getPeerCertificate().subject?.CN));
  }));
  const port = await listenLocal(server);
  const options = { host: '127.0.0.1', port, rejectUnauthorized: false };
  const seen = (socket: tls.TLSSocket): Promise<string> => new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    socket.on('end', () => resolve(text));
    socket.on('error', (error: Error & { code?: string }) => resolve(`error ${error.code}`));
  });
  // A 768-bit RSA key, which OpenSSL's default level 1 refuses to load.
  const context = (): tls.SecureContext => tls.createSecureContext({ ...weak, ciphers: 'DEFAULT@SECLEVEL=0' });
  expect(await seen(track(tls.connect({ ...options, secureContext: context() })))).toBe('weak client');
  expect(await seen(track(connect({ ...options, tls: { rejectUnauthorized: false, secureContext: context() } }) as unknown as tls.TLSSocket)))
    .toBe('weak client');
});

test('a context with an RSA and an EC certificate sends the one the server\'s signature algorithms allow, as tls.connect does', async () => {
  const rsaClient = selfSigned(pki.directory, 'rsa client', 2048);
  const rsaServer = selfSigned(pki.directory, 'rsa server', 2049);
  const contextOptions = { key: [rsaClient.key, pki.clientKey], cert: [rsaClient.cert, pki.clientCert] };
  const clientCommonName = async (serverOptions: tls.TlsOptions, ours: boolean): Promise<string> => {
    const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: false,
      ...serverOptions }, (socket) => socket.end(String(socket.getPeerCertificate().subject?.CN))));
    const port = await listenLocal(server);
    const secureContext = tls.createSecureContext(contextOptions);
    const options = { host: '127.0.0.1', port, rejectUnauthorized: false };
    const socket = track(ours ? connect({ ...options, tls: { rejectUnauthorized: false, secureContext } }) as unknown as tls.TLSSocket
      : tls.connect({ ...options, secureContext }));
    return new Promise((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      socket.on('end', () => resolve(text));
      socket.on('error', (error: Error & { code?: string }) => resolve(`error ${error.code}`));
    });
  };
  const cases: [tls.TlsOptions, string][] = [
    [{}, 'test client'],
    // Signature algorithms bind the server's own certificate too: an RSA one there.
    [{ ...rsaServer, sigalgs: 'rsa_pss_rsae_sha256' }, 'rsa client'],
    [{ sigalgs: 'ecdsa_secp256r1_sha256' }, 'test client'],
  ];
  for (const [serverOptions, expected] of cases) {
    expect(await clientCommonName(serverOptions, false)).toBe(expected);
    expect(await clientCommonName(serverOptions, true)).toBe(expected);
  }
});

test('what is no SecureContext, its native part too, throws tls.connect\'s TypeError before any socket exists', () => {
  for (const secureContext of [{}, { context: {} }, 5, 'context', tls.createSecureContext().context]) {
    const theirs = captureThrow(() => tls.connect({ port: 9, secureContext } as never));
    const ours = captureThrow(() => connect({ port: 9, tls: { secureContext } as never }));
    expect(theirs).toMatchObject({ name: 'TypeError', code: 'ERR_TLS_INVALID_CONTEXT' });
    expect(ours).toEqual(theirs);
  }
});

// Brainpool's TLSv1.3 schemes: OpenSSL 3.2 and later (Node 24 and 26) have
// them, and SignatureSchemeName does not list them. 3.0 (Node 20 and 22)
// has no scheme outside that list.
const brainpoolSigalgs = 'ecdsa_brainpoolP256r1tls13_sha256:ECDSA+SHA256';
const opensslHasBrainpoolSchemes = (() => {
  try {
    tls.createSecureContext({ sigalgs: brainpoolSigalgs });
    return true;
  } catch {
    return false;
  }
})();

(opensslHasBrainpoolSchemes ? test : test.skip)('a signature scheme reactor TLS does not name refuses the context by name, before any socket exists', () => {
  const context = tls.createSecureContext({ sigalgs: brainpoolSigalgs });
  expect(() => connect({ port: 9, tls: { secureContext: context } }))
    .toThrow(expect.objectContaining({ code: 'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED', message: expect.stringMatching(/its sigalgs/) }));
});

/** An RSA key of `bits` and its self-signed certificate with `commonName`, made in `directory`. */
function selfSigned(directory: string, commonName: string, bits: number): { key: Buffer; cert: Buffer } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const keyPath = path.join(directory, `${bits}.key`);
  const certPath = path.join(directory, `${bits}.pem`);
  fs.writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  execFileSync('/usr/bin/openssl', ['req', '-x509', '-key', keyPath, '-out', certPath, '-subj', `/CN=${commonName}`, '-days', '2'],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
  return { key: fs.readFileSync(keyPath), cert: fs.readFileSync(certPath) };
}

function captureThrow(make: () => unknown): { name: string; code?: string; message: string } | undefined {
  try {
    const made = make() as { destroy?: () => void } | undefined;
    made?.destroy?.();
    return undefined;
  } catch (error) {
    const { name, code, message } = error as Error & { code?: string };
    return { name, code, message };
  }
}
