// createSecureServer checks its options as node:tls does, with node's error
// codes, before anything is created; options reactor TLS does not implement
// yet are refused by name rather than ignored.
import * as tls from 'node:tls';

import { createSecureServer } from '../lib';
import { makeTestPki, TestPki } from './helpers/tls-pki';

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/** The code node:tls's own createServer throws for the same options. */
function nodeCode(options: tls.TlsOptions): string | undefined {
  try {
    tls.createServer(options).close();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

test.each<[string, () => tls.TlsOptions]>([
  ['a key that is not PEM', () => ({ key: 'not a key', cert: pki.serverCert })],
  ['a certificate that is not PEM', () => ({ key: pki.serverKey, cert: 'not a cert' })],
  ['a key that does not match the certificate', () => ({ key: pki.clientKey, cert: pki.serverCert })],
  ['an unknown minVersion', () => ({ key: pki.serverKey, cert: pki.serverCert, minVersion: 'TLSv9' as tls.SecureVersion })],
  ['ciphers that match nothing', () => ({ key: pki.serverKey, cert: pki.serverCert, ciphers: 'NOT-A-CIPHER' })],
  ['ciphers of the wrong type', () => ({ key: pki.serverKey, cert: pki.serverCert, ciphers: 42 as unknown as string })],
  ['an ALPN name longer than 255 bytes', () => ({ key: pki.serverKey, cert: pki.serverCert, ALPNProtocols: ['x'.repeat(300)] })],
  ['a handshakeTimeout that is not a number', () => ({ key: pki.serverKey, cert: pki.serverCert, handshakeTimeout: '5' as unknown as number })],
])('%s throws what node:tls throws', (_, make) => {
  const options = make();
  const expected = nodeCode(options);
  expect(expected).toBeDefined();
  let code: string | undefined;
  try {
    createSecureServer(options as Parameters<typeof createSecureServer>[0]);
  } catch (error) {
    code = (error as { code?: string }).code;
  }
  expect(code).toBe(expected);
});

test.each([0, NaN, null, false, -5, 5000])('handshakeTimeout %p is taken as node:tls takes it (falsy: the 120 s default)', (timeout) => {
  const options = { key: pki.serverKey, cert: pki.serverCert, handshakeTimeout: timeout as number };
  const nodeServer = tls.createServer(options);
  const symbol = Object.getOwnPropertySymbols(nodeServer).find((key) => String(key) === 'Symbol(handshake-timeout)');
  expect(symbol).toBeDefined();
  const server = createSecureServer(options, null as never);
  expect((server as unknown as { handshakeTimeout: number }).handshakeTimeout)
    .toBe((nodeServer as unknown as Record<symbol, number>)[symbol!]);
  expect(server.listenerCount('secureConnection')).toBe(0);
});

test('an encrypted key needs its passphrase, as with node:tls', () => {
  const { privateKey } = require('node:crypto').generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }) as { privateKey: string };
  const expected = nodeCode({ key: privateKey, passphrase: 'wrong' });
  expect(() => createSecureServer({ key: privateKey, passphrase: 'wrong' })).toThrow(expect.objectContaining({ code: expected }));
  // The right passphrase builds the key (its certificate does not match, which node also reports).
  const mismatch = nodeCode({ key: privateKey, passphrase: 'secret', cert: pki.serverCert });
  expect(() => createSecureServer({ key: privateKey, passphrase: 'secret', cert: pki.serverCert }))
    .toThrow(expect.objectContaining({ code: mismatch }));
});

test.each(['privateKeyEngine', 'privateKeyIdentifier', 'clientCertEngine'])(
  'the not-yet-supported option %s is refused by name', (name) => {
    expect(() => createSecureServer({ key: pki.serverKey, cert: pki.serverCert, [name]: 'x' } as never))
      .toThrow(expect.objectContaining({ code: 'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED', message: expect.stringContaining(name) }));
  });

test('options that are not an object, and a listener that is not a function, throw ERR_INVALID_ARG_TYPE', () => {
  expect(() => createSecureServer(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, 'x' as never))
    .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
});
