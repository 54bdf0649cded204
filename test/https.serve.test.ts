// serveHttp() serves an https.Server too, with reactor TLS from the server's
// own options; where reactor TLS cannot (PSK), the server
// keeps its own listener: node:tls over a reactor socket was slower than that.
// Either way a Node https client gets its answers, twice over one
// keep-alive socket.
import { constants } from 'node:crypto';
import { once } from 'node:events';
import * as https from 'node:https';
import type * as net from 'node:net';
import { Socket as NetSocket } from 'node:net';
import type * as tls from 'node:tls';

import { SecureSocket, serveHttp, Socket } from '../lib';
import { checkMustCalls, mustBeInstanceOf, mustCall, mustNotCall } from './helpers';
import { makeTestCertificate, TestCertificate } from './helpers/cert';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let certificate: TestCertificate | undefined;
afterEach(() => {
  certificate?.remove();
  certificate = undefined;
});

/** One GET over `agent`; resolves with the status, body and whether the socket was reused. */
function get(port: number, path: string, agent: https.Agent, ca: Buffer): Promise<{ status: number | undefined; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path, agent, ca, servername: 'localhost' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body, reused: req.reusedSocket }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('an https.Server behind serveHttp gets reactor TLS and answers a Node https client twice on one keep-alive socket', async () => {
  certificate = makeTestCertificate();
  const tlsSockets: unknown[] = [];
  const httpsServer = https.createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
    const tlsSocket = req.socket as tls.TLSSocket;
    tlsSockets.push(tlsSocket);
    expect(tlsSocket.encrypted).toBe(true);
    res.end(`secure ${req.url} over ${tlsSocket.getProtocol()}`);
  });
  // Reactor TLS: the https.Server is handed secure plaintext sockets; its
  // 'connection' listeners see each one before its handshake, as node:tls
  // emits the raw socket, but node:tls's own listener, which would wrap it
  // in TLS again, is passed over (or the requests below would fail).
  const connections: unknown[] = [];
  httpsServer.prependListener('connection', (socket: unknown) => connections.push(socket));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;

  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await get(port, '/one', agent, certificate.cert);
  const second = await get(port, '/two', agent, certificate.cert);

  expect(first).toEqual({ status: 200, body: expect.stringMatching(/^secure \/one over TLSv1\.[23]$/) as unknown as string, reused: false });
  expect(second).toEqual({ status: 200, body: expect.stringMatching(/^secure \/two over TLSv1\.[23]$/) as unknown as string, reused: true });
  expect(tlsSockets).toHaveLength(2);
  expect(tlsSockets[1]).toBe(tlsSockets[0]);
  expect(tlsSockets[0]).toBeInstanceOf(SecureSocket);
  expect(connections).toEqual([tlsSockets[0]]);

  agent.destroy();
  const reactorClosed = new Promise<void>((resolve) => server.once('close', mustCall(() => resolve())));
  httpsServer.close();
  httpsServer.closeAllConnections();
  await reactorClosed;
}, 30000);

test("shutdown code that tracks an https.Server's sockets through 'connection' closes it behind serveHttp", async () => {
  // node's test-https-close: a response that never ends, and close() once
  // every socket 'connection' gave is destroyed. No 'connection' reached
  // the https.Server, so close() waited for good.
  certificate = makeTestCertificate();
  const httpsServer = https.createServer({ key: certificate.key, cert: certificate.cert }, (_req, res) => {
    res.writeHead(200);
    res.write('never ends');
  });
  const sockets = new Set<net.Socket>();
  httpsServer.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const request = https.get({ host: '127.0.0.1', port, ca: certificate.cert, servername: 'localhost', agent: false });
  request.on('error', () => undefined);
  const [response] = await once(request, 'response') as [NodeJS.ReadableStream];
  response.on('error', () => undefined);
  await once(response, 'data');
  const closed = new Promise<void>((resolve) => httpsServer.close(mustCall(() => resolve())));
  expect(sockets.size).toBe(1);
  for (const socket of sockets) socket.destroy();
  await closed;
}, 30000);

test('an https.Server that reactor TLS cannot serve (PSK) is served by its own listener, node:tls on its own sockets', async () => {
  certificate = makeTestCertificate();
  const tlsSockets: unknown[] = [];
  const httpsServer = https.createServer({
    key: certificate.key, cert: certificate.cert, pskCallback: () => null,
  }, (req, res) => {
    const tlsSocket = req.socket as tls.TLSSocket;
    tlsSockets.push(tlsSocket);
    expect(tlsSocket.encrypted).toBe(true);
    res.end(`secure ${req.url} over ${tlsSocket.getProtocol()}`);
  });
  // What the https.Server is handed to wrap in TLS: its own listener's sockets.
  const connections: unknown[] = [];
  httpsServer.prependListener('connection', (socket: unknown) => connections.push(socket));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1', keepAlive: true, keepAliveInitialDelay: 5000 }));
  expect(server).toBe(httpsServer);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;

  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const first = await get(port, '/one', agent, certificate.cert);
  const second = await get(port, '/two', agent, certificate.cert);

  expect(first).toEqual({ status: 200, body: expect.stringMatching(/^secure \/one over TLSv1\.[23]$/) as unknown as string, reused: false });
  expect(second).toEqual({ status: 200, body: expect.stringMatching(/^secure \/two over TLSv1\.[23]$/) as unknown as string, reused: true });
  expect(connections).toHaveLength(1);
  expect(connections[0]).toBeInstanceOf(NetSocket);
  expect(connections[0]).not.toBeInstanceOf(Socket);
  // serveHttp's connection options, as net keeps them (the delay in seconds).
  expect(httpsServer).toMatchObject({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 5 });
  expect(tlsSockets).toHaveLength(2);
  expect(tlsSockets[1]).toBe(tlsSockets[0]);
  expect(tlsSockets[0]).not.toBe(connections[0]);

  agent.destroy();
  const reactorClosed = new Promise<void>((resolve) => server.once('close', mustCall(() => resolve())));
  httpsServer.close();
  httpsServer.closeAllConnections();
  await reactorClosed;
}, 30000);

/**
 * Serves `httpsServer` and opens one connection: resolves once node:tls's
 * path has it, the https.Server being handed its own listener's socket to
 * wrap. No handshake: the connection closes at once (no ClientHello, so
 * nothing to trace).
 */
async function expectLeftToNodeTls(httpsServer: https.Server): Promise<void> {
  const wrapped = new Promise<unknown>((resolve) => httpsServer.prependListener('connection', resolve));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  expect(server).toBe(httpsServer);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const { createConnection } = await import('node:net');
  track(createConnection({ host: '127.0.0.1', port })).on('error', () => {});
  const socket = await wrapped;
  expect(socket).toBeInstanceOf(NetSocket);
  expect(socket).not.toBeInstanceOf(Socket);
  httpsServer.close();
  httpsServer.closeAllConnections();
}

test("an https.Server's ALPNCallback is served by reactor TLS: it chooses among the names an https client offers", async () => {
  certificate = makeTestCertificate();
  const asked: unknown[] = [];
  const httpsServer = https.createServer({
    key: certificate.key, cert: certificate.cert,
    ALPNCallback: (arg) => { asked.push(arg); return 'http/1.1'; },
  }, (req, res) => {
    const tlsSocket = req.socket as tls.TLSSocket;
    expect(tlsSocket).toBeInstanceOf(SecureSocket);
    res.end(`over ${String(tlsSocket.alpnProtocol)}`);
  });
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const body = await new Promise<string>((resolve, reject) => {
    // Passed on to tls.connect, though https.RequestOptions does not declare it.
    const options = {
      host: '127.0.0.1', port, ca: certificate!.cert, servername: 'localhost', agent: false,
      ALPNProtocols: ['h2', 'http/1.1'],
    } as https.RequestOptions;
    const req = https.request(options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
  expect(body).toBe('over http/1.1');
  expect(asked).toEqual([{ servername: 'localhost', protocols: ['h2', 'http/1.1'] }]);
  const reactorClosed = new Promise<void>((resolve) => server.once('close', mustCall(() => resolve())));
  httpsServer.close();
  httpsServer.closeAllConnections();
  await reactorClosed;
}, 30000);

test.each<[string, object]>([
  ['pskCallback', { pskCallback: () => null }],
])('an https.Server with %s, which reactor TLS does not do, is left to node:tls', async (_name, options) => {
  certificate = makeTestCertificate();
  await expectLeftToNodeTls(https.createServer({ key: certificate.key, cert: certificate.cert, ...options }, mustNotCall('a request')));
}, 20_000);

test.each(['before', 'after'])("an https.Server's 'OCSPRequest' listener added %s serveHttp() is asked by reactor TLS, and its staple reaches the client", async (when) => {
  certificate = makeTestCertificate();
  const httpsServer = https.createServer({ key: certificate.key, cert: certificate.cert }, (_req, res) => res.end('ok'));
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const asked: Array<Buffer | null> = [];
  const listen = (): void => {
    httpsServer.on('OCSPRequest', (cert: Buffer | null, _issuer: Buffer | null, callback: (error: Error | null, response: Buffer) => void) => {
      asked.push(cert);
      callback(null, Buffer.from('stapled'));
    });
  };
  if (when === 'before') listen();
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  if (when === 'after') listen();
  const { port } = server.address() as net.AddressInfo;
  const { connect } = await import('node:tls');
  const socket = track(connect({ host: '127.0.0.1', port, ca: certificate.cert, servername: 'localhost', requestOCSP: true } as tls.ConnectionOptions));
  const [response] = await once(socket, 'OCSPResponse') as [Buffer | null];
  await once(socket, 'secureConnect');
  socket.destroy();
  expect(String(response)).toBe('stapled');
  expect(asked).toHaveLength(1);
  expect(asked[0]).toBeInstanceOf(Buffer);
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);

test.each(['before', 'after'])("an https.Server's session cache ('newSession', 'resumeSession') added %s serveHttp() is asked by reactor TLS, and a client resumes from it", async (when) => {
  certificate = makeTestCertificate();
  // TLS 1.2 without tickets: sessions resume by id, from the cache alone.
  const httpsServer = https.createServer({ key: certificate.key, cert: certificate.cert, maxVersion: 'TLSv1.2',
    secureOptions: constants.SSL_OP_NO_TICKET }, (_req, res) => res.end('ok'));
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const cache = new Map<string, Buffer>();
  const events: string[] = [];
  const listen = (): void => {
    httpsServer.on('newSession', (id: Buffer, session: Buffer, done: () => void) => {
      events.push('newSession');
      cache.set(id.toString('hex'), session);
      done();
    });
    httpsServer.on('resumeSession', (id: Buffer, callback: (error: Error | null, session?: Buffer) => void) => {
      events.push(cache.has(id.toString('hex')) ? 'resumeSession hit' : 'resumeSession miss');
      callback(null, cache.get(id.toString('hex')));
    });
  };
  if (when === 'before') listen();
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  if (when === 'after') listen();
  const { port } = server.address() as net.AddressInfo;
  const { connect } = await import('node:tls');
  const handshake = async (session?: Buffer): Promise<{ reused: boolean; session?: Buffer }> => {
    const socket = track(connect({ host: '127.0.0.1', port, ca: certificate!.cert, servername: 'localhost', session }));
    let latest: Buffer | undefined;
    socket.on('session', (data: Buffer) => { latest = data; });
    await once(socket, 'secureConnect');
    const reused = socket.isSessionReused();
    socket.destroy();
    return { reused, session: latest };
  };
  const first = await handshake();
  const second = await handshake(first.session);
  expect([first.reused, second.reused]).toEqual([false, true]);
  // The first client's random legacy id (it speaks TLS 1.3) is looked up too.
  expect(events).toEqual(['resumeSession miss', 'newSession', 'resumeSession hit']);
  // Without listeners the reactor's server stops asking, as node:tls does:
  // no handshake waits for a lookup that cannot find anything.
  httpsServer.removeAllListeners('newSession');
  httpsServer.removeAllListeners('resumeSession');
  expect([server.listenerCount('newSession'), server.listenerCount('resumeSession')]).toEqual([0, 0]);
  expect((await handshake(second.session)).reused).toBe(false);
  expect(events).toHaveLength(3);
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);

test.each(['before', 'after'])('an https.Server\'s \'keylog\' listener added %s serveHttp() hears reactor TLS\'s key log, the client\'s own lines', async (when) => {
  certificate = makeTestCertificate();
  const httpsServer = https.createServer({ key: certificate.key, cert: certificate.cert }, (_request, response) => response.end('ok'));
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const lines: string[] = [];
  const sockets: unknown[] = [];
  const listen = (): void => {
    httpsServer.on('keylog', (line: Buffer, socket: unknown) => {
      lines.push(line.toString('latin1'));
      sockets.push(socket);
    });
  };
  if (when === 'before') listen();
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  if (when === 'after') listen();
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const clientLines: string[] = [];
  const body = await new Promise<string>((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port, rejectUnauthorized: false, agent: false }, (response) => {
      let text = '';
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve(text));
    }).on('error', reject);
    request.on('socket', (socket) => socket.on('keylog', (line: Buffer) => clientLines.push(line.toString('latin1'))));
  });
  expect(body).toBe('ok');
  // TLS 1.3: the handshake and traffic secrets of both sides, and the
  // exporter's; each line as node gives it, a newline at its end.
  expect(lines.map((line) => line.split(' ')[0]).sort()).toEqual(['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0',
    'EXPORTER_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0']);
  expect(lines.every((line) => /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+\n$/.test(line))).toBe(true);
  // The same secrets node's client logged: what a packet capture needs.
  expect([...lines].sort()).toEqual([...clientLines].sort());
  expect(sockets.every((socket) => socket instanceof SecureSocket)).toBe(true);
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);
