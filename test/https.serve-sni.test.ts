// serveHttp(httpsServer) with per-name certificates, from the https.Server's
// addContext() (before or after serveHttp; options, the package's
// createSecureContext or node's tls.createSecureContext) or its SNICallback:
// served by reactor TLS, matched with node's own patterns.
import { once } from 'node:events';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureContext, SecureSocket, serveHttp } from '../lib';
import { releaseTracked, track } from './helpers/cleanup';
import { issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
let alpha: { key: Buffer; cert: Buffer };     // a.example
let wildcard: { key: Buffer; cert: Buffer };  // *.example.com
beforeAll(() => {
  pki = makeTestPki();
  alpha = issueServerCertificate(pki, ['a.example']);
  wildcard = issueServerCertificate(pki, ['*.example.com']);
});
afterAll(() => pki.remove());

/** The CN of the certificate a GET asking for `servername` met, and whether reactor TLS served it. */
function certificateFor(port: number, servername: string): Promise<{ commonName: string; reactor: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername, ca: pki.caCert, agent: false,
      checkServerIdentity: () => undefined }, (response) => {
      const commonName = String((response.socket as tls.TLSSocket).getPeerCertificate().subject.CN);
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ commonName, reactor: body }));
    });
    req.on('error', reject);
  });
}

/** An https.Server (CN=localhost) that answers whether its socket is a reactor SecureSocket. */
function makeHttpsServer(): https.Server {
  return https.createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    res.end(req.socket instanceof SecureSocket ? 'reactor' : 'node:tls');
  });
}

async function serve(httpsServer: https.Server): Promise<number> {
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  httpsServer.on('close', () => { /* the reactor server closes with it */ });
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

const ignoresCase = Number(process.versions.node.split('.')[0]) >= 22;

test('contexts added before and after serveHttp are served by name, with reactor TLS', async () => {
  const httpsServer = makeHttpsServer();
  httpsServer.addContext('A.example', createSecureContext(alpha));
  const port = await serve(httpsServer);
  httpsServer.addContext('*.example.com', wildcard);
  expect(await certificateFor(port, 'a.example')).toEqual({ commonName: ignoresCase ? 'a.example' : 'localhost', reactor: 'reactor' });
  expect(await certificateFor(port, 'A.example')).toEqual({ commonName: 'a.example', reactor: 'reactor' });
  expect(await certificateFor(port, 'www.example.com')).toEqual({ commonName: '*.example.com', reactor: 'reactor' });
  expect(await certificateFor(port, 'a.b.example.com')).toEqual({ commonName: 'localhost', reactor: 'reactor' });
  httpsServer.close();
});

test("contexts node made, added before and after serveHttp, are served by name, with reactor TLS", async () => {
  const httpsServer = makeHttpsServer();
  httpsServer.addContext('a.example', alpha);
  const port = await serve(httpsServer);
  httpsServer.addContext('*.example.com', tls.createSecureContext(wildcard));
  expect(await certificateFor(port, 'a.example')).toEqual({ commonName: 'a.example', reactor: 'reactor' });
  expect(await certificateFor(port, 'www.example.com')).toEqual({ commonName: '*.example.com', reactor: 'reactor' });
  expect(await certificateFor(port, 'other.example')).toEqual({ commonName: 'localhost', reactor: 'reactor' });
  // node's own check of the name still comes first, and a refused name is recorded by neither.
  expect(() => httpsServer.addContext('', alpha)).toThrow(expect.objectContaining({ code: 'ERR_TLS_REQUIRED_SERVER_NAME' }));
  expect((httpsServer as unknown as { _contexts: unknown[] })._contexts).toHaveLength(2);
  httpsServer.close();
});

test("an https.Server's SNICallback is asked by reactor TLS, with the reactor's socket, and answers with node's contexts", async () => {
  const contexts: Record<string, tls.SecureContext> = { 'a.example': tls.createSecureContext(alpha) };
  const askedWith: unknown[] = [];
  const httpsServer = https.createServer({
    key: pki.serverKey, cert: pki.serverCert,
    SNICallback(name, callback) {
      askedWith.push(this);
      callback(null, contexts[name]);
    },
  }, (req, res) => res.end(req.socket instanceof SecureSocket ? 'reactor' : 'node:tls'));
  const port = await serve(httpsServer);
  expect(await certificateFor(port, 'a.example')).toEqual({ commonName: 'a.example', reactor: 'reactor' });
  expect(await certificateFor(port, 'other.example')).toEqual({ commonName: 'localhost', reactor: 'reactor' });
  expect(askedWith).toHaveLength(2);
  expect(askedWith[0]).toBeInstanceOf(SecureSocket);
  httpsServer.close();
});
