// setTypeOfService() on a TLS socket, as node's TLSSocket does on Node 24.22
// and later: its handle (a TLSWrap) has no type-of-service option, so the
// value is kept and read back as set, ECN bits and all, and never applied;
// bad values throw as on a plain socket. Where net has no such methods,
// TLS sockets have none either.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal, thrownCode } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

interface TypeOfService {
  setTypeOfService(tos: unknown): unknown;
  getTypeOfService(): number;
}

const netHasTypeOfService = typeof (net.Socket.prototype as Partial<TypeOfService>).setTypeOfService === 'function';
const maybe = netHasTypeOfService ? test : test.skip;

/** What a server socket made by `make` reads back around setTypeOfService(), once secure. */
async function serverSide(make: 'node' | 'reactor'): Promise<unknown[]> {
  const options = { key: pki.serverKey, cert: pki.serverCert };
  const seen = new Promise<unknown[]>((resolve) => {
    const onSecure = (socket: tls.TLSSocket | SecureSocket): void => {
      const tos = socket as unknown as TypeOfService;
      const before = tos.getTypeOfService();
      tos.setTypeOfService(0xff);
      const code = thrownCode(() => tos.setTypeOfService(256));
      resolve([before, tos.getTypeOfService(), code]);
      socket.destroy();
    };
    const server = make === 'node' ? tls.createServer(options, onSecure) : createSecureServer(options, onSecure);
    listenLocal(track(server as tls.Server)).then((port) => {
      track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' })).on('error', () => {});
    }, () => {});
  });
  return seen;
}

maybe('a TLS server socket keeps the value as set, as node:tls\'s', async () => {
  const expected = [0, 0xff, 'ERR_OUT_OF_RANGE'];
  expect(await serverSide('node')).toEqual(expected);
  expect(await serverSide('reactor')).toEqual(expected);
});

test('TLS sockets have the methods exactly where net\'s Socket has them', async () => {
  const seen = new Promise<string[]>((resolve) => {
    const server = createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
      const tos = socket as unknown as Partial<TypeOfService>;
      resolve([typeof tos.setTypeOfService, typeof tos.getTypeOfService]);
      socket.destroy();
    });
    listenLocal(track(server as unknown as tls.Server)).then((port) => {
      track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' })).on('error', () => {});
    }, () => {});
  });
  expect(await seen).toEqual(netHasTypeOfService ? ['function', 'function'] : ['undefined', 'undefined']);
});
