// Renegotiation is off on reactor TLS, and the socket says so as TLSSocket
// does where OpenSSL refuses it: disableRenegotiation() is accepted,
// renegotiate() returns false and calls back with OpenSSL's error ('wrong
// ssl version' on TLSv1.3, 'no renegotiation' on TLSv1.2, as a node:tls
// server with SSL_OP_NO_RENEGOTIATION gives), and bad arguments throw
// node's errors.
import { constants } from 'node:crypto';
import * as tls from 'node:tls';

import { createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

interface Outcome { returned: boolean; code?: string; message?: string; library?: string; reason?: string }

/** What a server made by `make` gets from renegotiate() on a connection of `version`. */
async function renegotiation(make: 'node' | 'reactor', version: 'TLSv1.3' | 'TLSv1.2'): Promise<Outcome> {
  // node:tls renegotiates TLSv1.2 unless told not to; reactor TLS never does.
  const options = { key: pki.serverKey, cert: pki.serverCert, secureOptions: constants.SSL_OP_NO_RENEGOTIATION };
  const outcome = new Promise<Outcome>((resolve) => {
    const onSecure = (socket: tls.TLSSocket | SecureSocket): void => {
      socket.disableRenegotiation();
      const returned: boolean = Boolean(socket.renegotiate({}, (error) => {
        const { code, message, library, reason } = error as Error & { code?: string; library?: string; reason?: string };
        resolve({ returned, code, message, library, reason });
        socket.destroy();
      }));
    };
    const server = make === 'node' ? tls.createServer(options, onSecure) : createSecureServer(options, onSecure);
    listenLocal(track(server as tls.Server)).then((port) => {
      track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', maxVersion: version }))
        .on('error', () => {});
    }, () => {});
  });
  return outcome;
}

test.each(['TLSv1.3', 'TLSv1.2'] as const)('renegotiate() on a %s connection fails as node:tls\'s does where OpenSSL refuses it', async (version) => {
  const ours = await renegotiation('reactor', version);
  expect(ours).toEqual(await renegotiation('node', version));
  expect(ours.returned).toBe(false);
  expect(ours.code).toBe(version === 'TLSv1.3' ? 'ERR_SSL_WRONG_SSL_VERSION' : 'ERR_SSL_NO_RENEGOTIATION');
}, 20_000);

test('renegotiate()\'s arguments are checked as node checks them', async () => {
  let accepted: (socket: SecureSocket) => void;
  const secure = new Promise<SecureSocket>((resolve) => { accepted = resolve; });
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => accepted(socket)));
  const port = await listenLocal(server);
  track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' })).on('error', () => {});
  const socket: SecureSocket | undefined = await secure;
  const theirs = new tls.TLSSocket(undefined as never);
  for (const args of [[5], [{}, 5], [null]] as unknown[][]) {
    let code: string | undefined;
    try {
      (theirs.renegotiate as (...a: unknown[]) => boolean)(...args);
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).toBe('ERR_INVALID_ARG_TYPE');
    expect(() => (socket!.renegotiate as (...a: unknown[]) => boolean)(...args)).toThrow(expect.objectContaining({ code }));
  }
  socket!.destroy();
  expect(socket!.renegotiate({}, () => { throw new Error('no callback once destroyed'); })).toBe(false);
  theirs.destroy();
});
