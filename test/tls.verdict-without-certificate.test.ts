// A TLS peer that sent no certificate, judged as the running node judges
// it. A client needs none from a server with a PSK cipher or in a resumed
// TLS 1.3 session (an external PSK looks like one), on every version. A
// server with requestCert judges its clients the same way on Node 20 and 22,
// and on 24 and later says UNABLE_TO_GET_ISSUER_CERT for every client without
// one (lib/net-version.ts serversNeedClientCertificates). .ci/run runs this
// file on 22 and 24 too, where that threshold lies.
import * as tls from 'node:tls';

import { connect, createSecureServer } from '../lib';
import { serversNeedClientCertificates } from '../lib/net-version';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

const CIPHERS = 'PSK+HIGH:TLS_AES_128_GCM_SHA256';
const KEY = Buffer.from('82072606b502b0f4025e90eb75fe137d', 'hex');
type ServerKind = 'node' | 'reactor';
const reactorClient = (port: number, options: object) =>
  connect({ host: '127.0.0.1', port, tls: options as never }) as unknown as tls.TLSSocket;

describe('a peer without a certificate, judged as node judges it', () => {
  // Node 20 and 22 judge a client as a client judges a server (a PSK, or a
  // resumed TLS 1.3 session, needs no certificate); 24 and later do not.
  const resumedOrPsk = serversNeedClientCertificates ? [false, 'UNABLE_TO_GET_ISSUER_CERT'] : [true, null];

  test('a server that asks for certificates: a TLS 1.3 session resumed without one, and a full handshake without one', async () => {
    const pki = makeTestPki();
    pki.remove();  // its keys and certificates are read into memory
    const seen: Record<string, (boolean | string | null)[][]> = { node: [], reactor: [] };
    for (const kind of ['node', 'reactor'] as ServerKind[]) {
      const options = { key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: false };
      const server = track(kind === 'node' ? tls.createServer(options) : createSecureServer(options));
      server.on('secureConnection', (socket: tls.TLSSocket) => {
        seen[kind].push([socket.isSessionReused(), socket.authorized, socket.authorizationError === null ? null : String(socket.authorizationError)]);
        socket.end('x');
      });
      const port = await listenLocal(server as never);
      let session: Buffer | undefined;
      for (let i = 0; i < 2; i += 1) {
        await new Promise<void>((resolve) => {
          const client = tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...(session ? { session } : {}) });
          client.on('session', (saved: Buffer) => { session = saved; });
          client.on('data', () => undefined);
          client.on('error', () => undefined);
          client.on('close', () => resolve());
        });
      }
    }
    expect(seen.node).toEqual([[false, false, 'UNABLE_TO_GET_ISSUER_CERT'], [true, ...resumedOrPsk]]);
    expect(seen.reactor).toEqual(seen.node);
  });

  test('a server that asks for certificates and takes PSK: a TLS 1.3 PSK client has none', async () => {
    const pki = makeTestPki();
    pki.remove();  // its keys and certificates are read into memory
    const seen: Record<string, (boolean | string | null)[]> = {};
    for (const kind of ['node', 'reactor'] as ServerKind[]) {
      const options = {
        key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: false, ciphers: CIPHERS,
        pskCallback: () => KEY,
      };
      const server = track(kind === 'node' ? tls.createServer(options) : createSecureServer(options));
      server.on('secureConnection', (socket: tls.TLSSocket) => {
        seen[kind] = [socket.isSessionReused(), socket.authorized, socket.authorizationError === null ? null : String(socket.authorizationError)];
        socket.end('x');
      });
      const port = await listenLocal(server as never);
      await new Promise<void>((resolve) => {
        const client = reactorClient(port, { ciphers: CIPHERS, pskCallback: () => ({ psk: KEY, identity: 'alice' }) });
        client.on('data', () => undefined);
        client.on('error', () => undefined);
        client.on('close', () => resolve());
      });
    }
    expect(seen.node).toEqual([true, ...resumedOrPsk]);
    expect(seen.reactor).toEqual(seen.node);
  });
});
