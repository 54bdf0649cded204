// setSecureContext() on a TLS server, as tls.Server's: a certificate renewed
// while the server runs. New connections get the new context, connections
// made before keep theirs, bad options throw node's errors and change
// nothing, and what stays (ticket keys given, the session timeout, ALPN,
// requestCert) stays. Each case runs against node's tls.Server too. Then
// an https.Server behind serveHttp, whose setSecureContext() reaches
// reactor TLS.
import { once } from 'node:events';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureServer, SecureServerOptions, SecureSocket, serveHttp } from '../lib';
import { getReactor } from '../lib/reactor';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
let alpha: { key: Buffer; cert: Buffer };  // CN a.example
beforeAll(() => {
  pki = makeTestPki();
  alpha = issueServerCertificate(pki, ['a.example']);
});
afterAll(() => pki.remove());

type AnyServer = SecureServer | tls.Server;
const servers: [string, (options: SecureServerOptions) => AnyServer][] = [
  ['epoll-reactor', (options) => createSecureServer(options)],
  ['node:tls', (options) => tls.createServer(options as tls.TlsOptions)],
];

/** An echo server with the test identity (CN=localhost) and `options`, listening. */
async function start(make: (options: SecureServerOptions) => AnyServer, options: SecureServerOptions = {}):
  Promise<{ server: AnyServer; port: number }> {
  const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...options }));
  server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  return { server, port: await listenLocal(server as SecureServer) };
}

/** A client trusting the test CA without checking names, once its handshake is done. */
function connect(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, checkServerIdentity: () => undefined,
      ...options }, () => resolve(socket)));
    socket.once('error', reject);
  });
}

function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.write(text);
  });
}

function commonName(socket: tls.TLSSocket): unknown {
  return socket.getPeerCertificate().subject.CN;
}

describe.each(servers)('%s', (_name, make) => {
  test('new connections get the new certificate; one made before keeps its own and still echoes', async () => {
    const { server, port } = await start(make);
    const before = await connect(port);
    expect(commonName(before)).toBe('localhost');
    server.setSecureContext({ ...alpha });
    const after = await connect(port);
    expect(commonName(after)).toBe('a.example');
    expect(await echo(before, 'still here')).toBe('still here');
    expect(await echo(after, 'new')).toBe('new');
  });

  test('set before listen(): the first connection already gets it', async () => {
    const server = track(make({ key: pki.serverKey, cert: pki.serverCert }));
    server.setSecureContext({ ...alpha });
    const port = await listenLocal(server as SecureServer);
    expect(commonName(await connect(port))).toBe('a.example');
  });

  test('set after a listen() that failed: the next listen() serves it', async () => {
    const taken = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }));
    const takenPort = await listenLocal(taken as unknown as SecureServer);
    const server = track(make({ key: pki.serverKey, cert: pki.serverCert }));
    server.listen(takenPort, '127.0.0.1');
    expect((await once(server, 'error'))[0]).toMatchObject({ code: 'EADDRINUSE' });
    server.setSecureContext({ ...alpha });
    const port = await listenLocal(server as SecureServer);
    expect(commonName(await connect(port))).toBe('a.example');
  });

  test("close() and listen() in one tick: the 'close' that follows leaves the new listener its context", async () => {
    const { server } = await start(make);
    server.close();
    const closed = once(server, 'close');
    server.listen(0, '127.0.0.1');
    await Promise.all([closed, once(server, 'listening')]);
    const { port } = server.address() as net.AddressInfo;
    const client = await connect(port);
    expect(commonName(client)).toBe('localhost');
    expect(await echo(client, 'after close')).toBe('after close');
    server.setSecureContext({ ...alpha });
    expect(commonName(await connect(port))).toBe('a.example');
  });

  test("set while 'OCSPRequest' is asked about a context chosen by SNI name: that handshake still ends", async () => {
    const chosen = tls.createSecureContext(alpha);
    const { server, port } = await start(make, { SNICallback: (_name, callback) => callback(null, chosen) });
    server.on('OCSPRequest', (_certificate: Buffer, _issuer: Buffer, callback: (error: null, response?: Buffer) => void) => {
      server.setSecureContext({ key: pki.serverKey, cert: pki.serverCert });
      setTimeout(() => callback(null), 20);
    });
    const client = await connect(port, { servername: 'a.example', requestOCSP: true } as tls.ConnectionOptions);
    expect(commonName(client)).toBe('a.example');
    expect(await echo(client, 'stapled or not')).toBe('stapled or not');
  });

  test("bad options throw node's error and the server keeps serving the old certificate", async () => {
    const { server, port } = await start(make);
    const thrown = (f: () => void): unknown => {
      try {
        f();
      } catch (error) {
        return { name: (error as Error).name, code: (error as { code?: string }).code };
      }
      return 'nothing';
    };
    const node = tls.createServer({ key: pki.serverKey, cert: pki.serverCert });
    for (const bad of [null, 5, 'options']) {
      expect(thrown(() => server.setSecureContext(bad as never))).toEqual(thrown(() => node.setSecureContext(bad as never)));
    }
    const mismatched = { key: pki.serverKey, cert: alpha.cert };
    expect(thrown(() => server.setSecureContext(mismatched))).toEqual(thrown(() => node.setSecureContext(mismatched)));
    expect(thrown(() => server.setSecureContext(mismatched))).not.toBe('nothing');
    expect(commonName(await connect(port))).toBe('localhost');
  });

  test('ticket keys: new random ones unless given, and given ones stay through a later call', async () => {
    const random = (await start(make)).server;
    const first = random.getTicketKeys();
    random.setSecureContext({ ...alpha });
    expect(random.getTicketKeys().equals(first)).toBe(false);
    const keys = Buffer.alloc(48, 7);
    const given = (await start(make, { ticketKeys: keys })).server;
    given.setSecureContext({ ...alpha });
    expect(given.getTicketKeys().equals(keys)).toBe(true);
  });

  test("ALPN and requestCert are the server's and stay", async () => {
    const { server, port } = await start(make, { ALPNProtocols: ['h2', 'http/1.1'], requestCert: true,
      rejectUnauthorized: false, ca: pki.caCert });
    server.setSecureContext({ ...alpha, ca: pki.caCert });
    const authorized = new Promise((resolve) => {
      server.once('secureConnection', (socket: SecureSocket | tls.TLSSocket) => resolve(socket.authorized));
    });
    const client = await connect(port, { ALPNProtocols: ['http/1.1'], key: pki.clientKey, cert: pki.clientCert });
    expect(client.alpnProtocol).toBe('http/1.1');
    expect(commonName(client)).toBe('a.example');
    expect(await authorized).toBe(true);
  });
});

test('replacing the context many times lets each old native context go', async () => {
  const reactor = getReactor();
  const { server, port } = await start(servers[0][1]);
  server.setSecureContext({ ...alpha });
  const before = reactor.native.stats().tlsContexts;
  for (let i = 1; i <= 200; i++) server.setSecureContext(i % 2 ? { ...alpha } : { key: pki.serverKey, cert: pki.serverCert });
  expect(reactor.native.stats().tlsContexts).toBe(before);
  // The last (the 200th) was the server's own identity.
  expect(commonName(await connect(port))).toBe('localhost');
});

test("an https.Server behind serveHttp: its setSecureContext() reaches reactor TLS", async () => {
  const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
    res.end(req.socket instanceof SecureSocket ? 'reactor' : 'node:tls');
  });
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const get = (): Promise<[unknown, string]> => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, ca: pki.caCert, agent: false, checkServerIdentity: () => undefined },
      (response) => {
        const name = (response.socket as tls.TLSSocket).getPeerCertificate().subject.CN;
        let body = '';
        response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
        response.on('end', () => resolve([name, body]));
      }).on('error', reject);
  });
  expect(await get()).toEqual(['localhost', 'reactor']);
  httpsServer.setSecureContext({ ...alpha });
  expect(await get()).toEqual(['a.example', 'reactor']);
  // Both listeners' ticket keys are node's new ones.
  expect((server as SecureServer).getTicketKeys().equals(httpsServer.getTicketKeys())).toBe(true);
  // Bad options throw node's error first; neither server changes.
  expect(() => httpsServer.setSecureContext({ key: pki.serverKey, cert: pki.caCert })).toThrow();
  expect(await get()).toEqual(['a.example', 'reactor']);
  httpsServer.close();
});
