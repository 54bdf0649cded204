// A server's failed handshake reaches its JS before the peer learns of it,
// as on node's one thread: the alert OpenSSL wrote waits until JS closes the
// connection after 'tlsClientError'. A client in the same process (a test
// suite's, or node's own test-tls-client-auth) that waits for the server's
// event and then for its own error sees both, in that order.
import * as tls from 'node:tls';

import { createSecureServer } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

test.each(['node', 'reactor'] as const)('%s: TLS 1.3, a client without the certificate the server requires: the server\'s tlsClientError comes before the client\'s error, 20 of 20', async (kind) => {
  const options = { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: true };
  const order: string[] = [];
  const server = track(kind === 'node' ? tls.createServer(options) : createSecureServer(options));
  server.on('tlsClientError', (error: NodeJS.ErrnoException) => order.push(`server ${error.code}`));
  const port = await listenLocal(server as never);
  for (let round = 0; round < 20; round++) {
    order.length = 0;
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    await new Promise<void>((resolve) => {
      client.on('error', (error: NodeJS.ErrnoException) => { order.push(`client ${error.code}`); resolve(); });
      client.on('close', () => resolve());
      client.resume();
    });
    // The server's event, if it came after the client's error, is in this turn's queue.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual(['server ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', expect.stringMatching(/^client ERR_SSL_.*CERTIFICATE_REQUIRED$/)]);
  }
}, 30_000);
