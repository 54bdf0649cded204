// allowPartialTrustChain works as node:tls's: a client given it (directly or
// through createSecureContext) accepts a chain that ends at any certificate
// it trusts, not only at a self-signed root; without it the same chain is
// refused. tls.createServer ignores the option, and so does
// createSecureServer. Each outcome is compared with node:tls's.
import * as tls from 'node:tls';

import { connect, createSecureContext, createSecureServer } from '../lib';
import { checkMustCalls, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

async function nodeServerPort(): Promise<number> {
  return listenLocal(track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end())));
}

/** What a client socket ends in: "authorized", or its error's code. */
function outcomeOf(socket: tls.TLSSocket | ReturnType<typeof connect>): Promise<string> {
  return new Promise((resolve) => {
    socket.once('secureConnect', () => {
      resolve((socket as tls.TLSSocket).authorized ? 'authorized' : 'not authorized');
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
}

// The server's own certificate as the only trusted one: it is signed by the
// test CA, so it ends a chain only when partial chains are allowed.
// Refused: OpenSSL's code for it (UNABLE_TO_VERIFY_LEAF_SIGNATURE on 3.0).
const REFUSED = /^[A-Z_]+$/;

test.each<[string, boolean | undefined, string | RegExp]>([
  ['without allowPartialTrustChain', undefined, REFUSED],
  ['with allowPartialTrustChain', true, 'authorized'],
])('a client trusting only the server\'s certificate, %s, ends as tls.connect does', async (_name, allowPartialTrustChain, expected) => {
  const port = await nodeServerPort();
  const options = { ca: pki.serverCert, servername: 'localhost', allowPartialTrustChain };
  const ours = await outcomeOf(track(connect({ host: '127.0.0.1', port, tls: options })));
  const theirs = await outcomeOf(track(tls.connect({ host: '127.0.0.1', port, ...options })));
  expect(ours).toBe(theirs);
  expect(ours).toMatch(expected);
  // Through a context, as tls.connect({ secureContext }).
  const context = createSecureContext(options);
  const viaContext = await outcomeOf(track(connect({ host: '127.0.0.1', port, tls: { secureContext: context, servername: 'localhost' } })));
  const theirsViaContext = await outcomeOf(track(tls.connect({ host: '127.0.0.1', port, servername: 'localhost',
    secureContext: tls.createSecureContext(options) })));
  expect(viaContext).toBe(theirsViaContext);
  expect(viaContext).toMatch(expected);
}, 20_000);

test('a server given allowPartialTrustChain ignores it, as tls.createServer does', async () => {
  // It trusts only the client's own certificate (signed by the test CA).
  const serverOptions = { key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: false,
    ca: pki.clientCert, allowPartialTrustChain: true };
  const verdict = async (server: tls.Server | ReturnType<typeof createSecureServer>): Promise<string> => {
    const verdicts = new Promise<string>((resolve) => server.once('secureConnection', (socket: tls.TLSSocket) => {
      resolve(socket.authorized ? 'authorized' : String(socket.authorizationError));
      socket.end();
    }));
    const port = await listenLocal(track(server as tls.Server));
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', key: pki.clientKey,
      cert: pki.clientCert }));
    client.on('error', () => {});
    return verdicts;
  };
  const ours = await verdict(createSecureServer(serverOptions));
  const theirs = await verdict(tls.createServer(serverOptions));
  expect(ours).toBe(theirs);
  // Refused (SELF_SIGNED_CERT_IN_CHAIN on OpenSSL 3.0): the client's certificate ends no chain.
  expect(ours).toMatch(REFUSED);
}, 20_000);
