// Session resumption options of a reactor TLS server, as node:tls's:
// `ticketKeys` (servers given the same keys resume each other's sessions,
// node:tls servers included), `sessionIdContext` (node's default when not
// given), `sessionTimeout` (how long a session stays resumable), and node's
// checks of them. The client is node's tls.connect, handed the session it saved.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureServerOptions, serveHttp } from '../lib';
import { closeServer, listenLocal } from './helpers';
import { probeSessionBinding } from '../lib/session-binding';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/** A reactor TLS server that echoes; returns its port. */
async function startServer(options: SecureServerOptions = {}): Promise<number> {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  }));
  return listenLocal(server);
}

/**
 * Connects (offering `session` to resume, if given) and resolves with whether
 * the server resumed it, and, after a full handshake, the session its ticket
 * carries. A resumed session brings no new ticket: the ticket callback keeps
 * the one presented (it does not ask OpenSSL to renew it), as node's does.
 */
function visit(port: number, session?: Buffer, options: tls.ConnectionOptions = {}): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', session, ...options });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      if (!socket.isSessionReused()) return;
      socket.end();
      resolve({ reused: true, session: session! });
    });
    // TLS 1.3 sends tickets after the handshake: wait for one, then close.
    socket.once('session', (saved: Buffer) => {
      if (socket.isSessionReused()) return;
      socket.end();
      resolve({ reused: false, session: saved });
    });
    socket.resume();
  });
}

describe('ticketKeys', () => {
  test.each(['TLSv1.2', 'TLSv1.3'] as const)('%s: a server given the same keys resumes the session another server issued; other keys do not', async (version) => {
    const keys = randomBytes(48);
    const first = await startServer({ ticketKeys: keys });
    const sameKeys = await startServer({ ticketKeys: Buffer.from(keys) });
    const otherKeys = await startServer({ ticketKeys: randomBytes(48) });
    const options = { minVersion: version, maxVersion: version };
    const { reused: firstReused, session } = await visit(first, undefined, options);
    expect(firstReused).toBe(false);
    expect((await visit(first, session, options)).reused).toBe(true);
    expect((await visit(sameKeys, session, options)).reused).toBe(true);
    expect((await visit(otherKeys, session, options)).reused).toBe(false);
  });

  test.each(['TLSv1.2', 'TLSv1.3'] as const)("%s: tickets are node's: a node:tls server given the same keys resumes ours, and ours resumes its", async (version) => {
    const keys = randomBytes(48);
    const ours = await startServer({ ticketKeys: keys });
    const nodeServer = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys: keys }, (socket) => socket.resume()));
    const theirs = await listenLocal(nodeServer);
    const options = { minVersion: version, maxVersion: version };
    const fromOurs = await visit(ours, undefined, options);
    expect((await visit(theirs, fromOurs.session, options)).reused).toBe(true);
    const fromTheirs = await visit(theirs, undefined, options);
    expect((await visit(ours, fromTheirs.session, options)).reused).toBe(true);
  });

  test('a session is resumed only by a server with the same sessionIdContext', async () => {
    const keys = randomBytes(48);
    const first = await startServer({ ticketKeys: keys, sessionIdContext: 'first' });
    const sameContext = await startServer({ ticketKeys: keys, sessionIdContext: 'first' });
    const otherContext = await startServer({ ticketKeys: keys, sessionIdContext: 'second' });
    const { session } = await visit(first);
    expect((await visit(sameContext, session)).reused).toBe(true);
    expect((await visit(otherContext, session)).reused).toBe(false);
  });

  test('without ticketKeys each server has keys of its own, as node', async () => {
    const first = await startServer();
    const second = await startServer();
    const { session } = await visit(first);
    expect((await visit(first, session)).reused).toBe(true);
    expect((await visit(second, session)).reused).toBe(false);
  });

  test('getTicketKeys() returns the given keys, or random ones of its own, as a copy', () => {
    const keys = randomBytes(48);
    const given = createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys: keys });
    expect(given.getTicketKeys()).toEqual(keys);
    given.getTicketKeys().fill(0);
    expect(given.getTicketKeys()).toEqual(keys);
    const own = createSecureServer({ key: pki.serverKey, cert: pki.serverCert });
    const other = createSecureServer({ key: pki.serverKey, cert: pki.serverCert });
    expect(own.getTicketKeys()).toHaveLength(48);
    expect(own.getTicketKeys()).not.toEqual(other.getTicketKeys());
  });

  test.each(['TLSv1.2', 'TLSv1.3'] as const)('%s: setTicketKeys() on a listening server: old tickets stop resuming, the new keys\' do', async (version) => {
    const keys = randomBytes(48);
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.resume()));
    const port = await listenLocal(server);
    const options = { minVersion: version, maxVersion: version };
    const before = await visit(port, undefined, options);
    expect((await visit(port, before.session, options)).reused).toBe(true);
    server.setTicketKeys(keys);
    expect(server.getTicketKeys()).toEqual(keys);
    expect((await visit(port, before.session, options)).reused).toBe(false);
    // A node:tls server given the same keys resumes what ours issues now.
    const nodeServer = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys: keys }, (socket) => socket.resume()));
    const theirs = await listenLocal(nodeServer);
    const after = await visit(port, undefined, options);
    expect((await visit(theirs, after.session, options)).reused).toBe(true);
    expect((await visit(port, after.session, options)).reused).toBe(true);
  });

  test('setTicketKeys() before listen() is the key the server listens with', async () => {
    const keys = randomBytes(48);
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.resume()));
    server.setTicketKeys(keys);
    const port = await listenLocal(server);
    const nodeServer = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys: keys }, (socket) => socket.resume()));
    const theirs = await listenLocal(nodeServer);
    const { session } = await visit(port);
    expect((await visit(theirs, session)).reused).toBe(true);
  });

  test.each([
    ['a string', 'x'.repeat(48)],
    ['47 bytes', Buffer.alloc(47)],
    ['49 bytes', Buffer.alloc(49)],
    ['undefined', undefined],
  ])("setTicketKeys(%s) throws what tls.Server's throws, and changes nothing", (_, keys) => {
    const ours = createSecureServer({ key: pki.serverKey, cert: pki.serverCert });
    const theirs = tls.createServer({ key: pki.serverKey, cert: pki.serverCert });
    const before = ours.getTicketKeys();
    const thrown = (call: () => void): unknown => { try { call(); } catch (error) { return error; } return undefined; };
    const ourError = thrown(() => ours.setTicketKeys(keys as Buffer)) as Error & { code?: string };
    const theirError = thrown(() => theirs.setTicketKeys(keys as Buffer)) as Error & { code?: string };
    expect(theirError).toBeDefined();
    expect({ name: ourError?.name, code: ourError?.code, message: ourError?.message })
      .toEqual({ name: theirError.name, code: theirError.code, message: theirError.message });
    expect(ours.getTicketKeys()).toEqual(before);
  });

  test('setTicketKeys() takes any ArrayBufferView of 48 bytes, as node', () => {
    const server = createSecureServer({ key: pki.serverKey, cert: pki.serverCert });
    const keys = randomBytes(48);
    server.setTicketKeys(new DataView(keys.buffer, keys.byteOffset, 48));
    expect(server.getTicketKeys()).toEqual(keys);
  });

  test("bad ticketKeys throw node's errors before anything is created", () => {
    const create = (ticketKeys: unknown): unknown => createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys } as SecureServerOptions);
    expect(() => create(randomBytes(47))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => create('x'.repeat(48))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test("serveHttp(httpsServer) issues tickets with the https.Server's own keys", async () => {
    const keys = randomBytes(48);
    const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys: keys }, (_request, response) => response.end('ok'));
    const served = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
    await once(served, 'listening');
    const servedPort = (served.address() as AddressInfo).port;
    const sameKeys = await startServer({ ticketKeys: keys });
    const { session } = await visit(servedPort);
    expect((await visit(sameKeys, session)).reused).toBe(true);
    await closeServer(served);
  });

  test('a later setTicketKeys() on the https.Server reaches reactor TLS (key rotation)', async () => {
    const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert }, (_request, response) => response.end('ok'));
    const served = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
    await once(served, 'listening');
    const servedPort = (served.address() as AddressInfo).port;
    const before = await visit(servedPort);
    expect((await visit(servedPort, before.session)).reused).toBe(true);
    const keys = randomBytes(48);
    httpsServer.setTicketKeys(keys);
    expect(httpsServer.getTicketKeys()).toEqual(keys);
    expect((await visit(servedPort, before.session)).reused).toBe(false);
    const sameKeys = await startServer({ ticketKeys: keys });
    const after = await visit(servedPort);
    expect((await visit(sameKeys, after.session)).reused).toBe(true);
    expect(() => httpsServer.setTicketKeys(Buffer.alloc(3))).toThrow();
    await closeServer(served);
  });
});

describe('sessionTimeout', () => {
  test('a session older than sessionTimeout seconds is not resumed; a younger one is', async () => {
    const port = await startServer({ sessionTimeout: 1 });
    const { session } = await visit(port);
    expect((await visit(port, session)).reused).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await visit(port, session)).reused).toBe(false);
  });

  test('null and 0 mean "not given", as tls.createServer takes them: sessions still resume', async () => {
    const options = { ticketKeys: null, sessionTimeout: 0, sessionIdContext: null } as unknown as SecureServerOptions;
    expect(() => tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ...options } as tls.TlsOptions)).not.toThrow();
    const port = await startServer(options);
    const { session } = await visit(port);
    expect((await visit(port, session)).reused).toBe(true);
  });

  test("a bad sessionTimeout throws node's error", () => {
    const create = (sessionTimeout: unknown): unknown => createSecureServer({ key: pki.serverKey, cert: pki.serverCert, sessionTimeout } as SecureServerOptions);
    expect(() => create('300')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => create(2 ** 31)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('sessions and the SNI name, as node:tls on the node that runs', () => {
  // Node 22.23 and 24.22 bind each session to the SNI name it was made under
  // (and keep the name in it); 20.20 and 26.12 resume it under any name. The
  // client here offers the session's bare DER without checking the server
  // (rejectUnauthorized false), as node's own client does not, so that what
  // is compared is the server's decision.
  const wrapped = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');
  const bare = (session: Buffer): Buffer =>
    session.subarray(0, wrapped.length).equals(wrapped) ? session.subarray(wrapped.length + 2 + session.readUInt16BE(wrapped.length)) : session;

  async function servernamesAndResumptions(make: 'node' | 'reactor', version: tls.SecureVersion): Promise<unknown[]> {
    const servernames: (string | false)[] = [];
    const options = { key: pki.serverKey, cert: pki.serverCert, ticketKeys: randomBytes(48), sessionIdContext: 'same' };
    const onSocket = (socket: tls.TLSSocket): void => { servernames.push(socket.servername as string | false); socket.resume(); };
    const server = track(make === 'node' ? tls.createServer(options, onSocket) : createSecureServer(options, onSocket as never));
    const port = await listenLocal(server as never);
    const client = { ca: pki.caCert, maxVersion: version, rejectUnauthorized: false };
    const first = await visit(port, undefined, client);
    const resumed: Record<string, boolean> = {};
    for (const name of ['localhost', 'other.test', '']) {
      resumed[name || '(none)'] = (await visit(port, bare(first.session), { ...client, servername: name })).reused;
    }
    // The server's side of the last connection may come a turn after the client's.
    for (let turns = 0; servernames.length < 4 && turns < 200; turns++) await new Promise((resolve) => setTimeout(resolve, 10));
    return [resumed, servernames];
  }

  test.each(['TLSv1.2', 'TLSv1.3'] as const)('%s: a session resumes under another name, or none, exactly when node:tls\'s server resumes it; resumed connections report the servername node\'s do', async (version) => {
    const theirs = await servernamesAndResumptions('node', version);
    const ours = await servernamesAndResumptions('reactor', version);
    expect(ours).toEqual(theirs);
    expect((theirs[0] as Record<string, boolean>).localhost).toBe(true);
  });

  test("node's server answers whether it binds sessions to the name, and a reactor server's tickets follow it", async () => {
    const bound = await probeSessionBinding();
    expect(typeof bound).toBe('boolean');
    // A ticket our server made under one name, at a node:tls server with the same keys and id.
    const keys = randomBytes(48);
    const ours = await startServer({ ticketKeys: keys, sessionIdContext: 'same' });
    const theirs = await listenLocal(track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ticketKeys: keys, sessionIdContext: 'same' }, (socket) => socket.resume())) as never);
    const { session } = await visit(ours, undefined, { maxVersion: 'TLSv1.2' });
    const options = { maxVersion: 'TLSv1.2', rejectUnauthorized: false } as const;
    expect((await visit(theirs, bare(session), options)).reused).toBe(true);
    expect((await visit(theirs, bare(session), { ...options, servername: 'other.test' })).reused).toBe(!bound);
  });
});
