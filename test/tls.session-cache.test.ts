// A server's external session cache, as node:tls's: 'newSession' (id,
// session, callback) for each session a handshake makes, and
// 'resumeSession' (id, callback) when a client offers a session id without
// a ticket, the handshake waiting for the lookup. Each case runs against
// node's tls.Server given the same options, with node's tls.connect as the
// client, and both must be seen alike.
import { once } from 'node:events';
import { constants } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer, forward, ForwardResult, SecureServer, SecureServerOptions, SecureSocket } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type AnyServer = SecureServer | tls.Server;
type Make = (options: SecureServerOptions) => AnyServer;
const servers: [string, Make][] = [
  ['epoll-reactor', (options) => createSecureServer(options)],
  ['node:tls', (options) => tls.createServer(options as tls.TlsOptions)],
];

// TLS 1.2 with no tickets: sessions resume by id, from the cache alone.
const BY_ID: SecureServerOptions = { maxVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_TICKET };

type ResumeCallback = (error: Error | null, session?: unknown) => void;

/**
 * An echo server with the test's identity and `options`, recording its
 * events in `events`; its 'newSession' stores in `cache` and its
 * 'resumeSession' answers from it, unless the test listens itself.
 */
async function start(make: Make, options: SecureServerOptions, listen: {
  newSession?: (id: Buffer, session: Buffer, done: () => void) => void;
  resumeSession?: (id: Buffer, callback: ResumeCallback) => void;
} = {}): Promise<{ server: AnyServer; port: number; events: string[]; cache: Map<string, Buffer> }> {
  const events: string[] = [];
  const cache = new Map<string, Buffer>();
  const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...options }));
  server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => {
    events.push(`secureConnection reused=${socket.isSessionReused()}`);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  server.on('tlsClientError', (error: Error & { code?: string }) => events.push(`tlsClientError ${error.code ?? error.message}`));
  server.on('newSession', listen.newSession ?? ((id: Buffer, session: Buffer, done: () => void) => {
    events.push(`newSession ${id.length}`);
    cache.set(id.toString('hex'), session);
    done();
  }));
  server.on('resumeSession', listen.resumeSession ?? ((id: Buffer, callback: ResumeCallback) => {
    events.push(`resumeSession ${id.length} ${cache.has(id.toString('hex')) ? 'hit' : 'miss'}`);
    callback(null, cache.get(id.toString('hex')) ?? null);
  }));
  return { server, port: await listenLocal(server as SecureServer), events, cache };
}

interface Visit {
  outcome: string;
  reused?: boolean;
  session?: Buffer;
}

/** A node:tls client offering `session`; its echo's outcome, whether it resumed, and the last session it got. */
function visit(port: number, session?: Buffer, options: tls.ConnectionOptions = {}): Promise<Visit> {
  return new Promise((resolve) => {
    let latest: Buffer | undefined;
    const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', session, ...options }));
    socket.on('session', (data: Buffer) => { latest = data; });
    socket.once('error', (error: Error & { code?: string }) => resolve({ outcome: `error ${error.code}` }));
    socket.once('close', () => resolve({ outcome: 'closed' }));
    socket.once('secureConnect', () => {
      const reused = socket.isSessionReused();
      socket.write('ping');
      socket.once('data', (echo: Buffer) => {
        // TLS 1.3 tickets come after the handshake: wait a moment for them.
        setTimeout(() => {
          socket.destroy();
          resolve({ outcome: echo.toString(), reused, session: latest });
        }, 20);
      });
    });
  });
}

describe.each(servers)('%s', (_, make) => {
  test('TLS 1.2 without tickets: the session is offered to the cache, and a client offering its id resumes from it', async () => {
    const { port, events } = await start(make, BY_ID);
    const first = await visit(port);
    expect(first).toMatchObject({ outcome: 'ping', reused: false });
    const second = await visit(port, first.session);
    expect(second).toMatchObject({ outcome: 'ping', reused: true });
    // The first client (able to speak TLS 1.3) offered a random legacy id;
    // the second offered the one stored.
    expect(events).toEqual(['resumeSession 32 miss', 'newSession 32', 'secureConnection reused=false',
      'resumeSession 32 hit', 'secureConnection reused=true']);
  });

  test("'secureConnection' waits for the 'newSession' callback", async () => {
    let offered = 0;
    let connected = 0;
    const { server, port, events } = await start(make, BY_ID, {
      newSession: (_id, _session, done) => { offered = Date.now(); events.push('newSession'); setTimeout(done, 100); },
    });
    server.once('secureConnection', () => { connected = Date.now(); });
    expect((await visit(port)).outcome).toBe('ping');
    expect(events).toEqual(['resumeSession 32 miss', 'newSession', 'secureConnection reused=false']);
    expect(connected - offered).toBeGreaterThanOrEqual(90);
  });

  test("the handshake's last flight waits for the 'newSession' callback, so a client that comes straight back resumes", async () => {
    let offered = 0;
    const { port, events, cache } = await start(make, BY_ID, {
      // A cache that takes 100 ms to store.
      newSession: (id, session, done) => {
        offered = Date.now();
        events.push('newSession');
        setTimeout(() => { cache.set(id.toString('hex'), session); done(); }, 100);
      },
    });
    // The client learns its session with the server's Finished, and
    // reconnects with it at once.
    const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    await once(socket, 'secureConnect');
    const finishedAt = Date.now();
    const session = socket.getSession();
    socket.destroy();
    expect(finishedAt - offered).toBeGreaterThanOrEqual(90);
    expect(await visit(port, session)).toMatchObject({ outcome: 'ping', reused: true });
  });

  test("TLS 1.3: the tickets, and what the server writes after them, wait for the 'newSession' callback", async () => {
    let called = 0;
    const { server, port } = await start(make, { minVersion: 'TLSv1.3' }, {
      newSession: (_id, _session, done) => { if (called === 0) called = Date.now(); setTimeout(done, 100); },
    });
    server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => socket.write('hello'));
    const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    const [greeting] = await once(socket, 'data') as [Buffer];
    const greetedAt = Date.now();
    expect(greeting.toString()).toBe('hello');
    expect(called).toBeGreaterThan(0);
    expect(greetedAt - called).toBeGreaterThanOrEqual(90);
    // And the connection carries on.
    socket.write('ping');
    expect(((await once(socket, 'data')) as [Buffer])[0].toString()).toBe('ping');
  });

  test('a lookup that finds nothing, or answers with bytes that are no session, makes a full handshake', async () => {
    const answers: unknown[] = [null, undefined, Buffer.from('not a session'), 'a string'];
    const { port, events } = await start(make, BY_ID, {
      resumeSession: (_id, callback) => { events.push('resumeSession'); callback(null, answers.shift()); },
    });
    const first = await visit(port);
    for (let i = 0; i < 4; i += 1) expect(await visit(port, first.session)).toMatchObject({ outcome: 'ping', reused: false });
    expect(events.filter((event) => event === 'resumeSession')).toHaveLength(5);
    expect(events.filter((event) => event.startsWith('secureConnection'))).toEqual(Array(5).fill('secureConnection reused=false'));
  });

  test('a lookup that can answer later holds the handshake until it does', async () => {
    const { port, cache } = await start(make, BY_ID, {
      resumeSession: (id, callback) => setTimeout(() => callback(null, cache.get(id.toString('hex'))), 100),
    });
    const first = await visit(port);
    const started = Date.now();
    expect(await visit(port, first.session)).toMatchObject({ outcome: 'ping', reused: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  test('an error passed to the lookup fails the handshake with it, as tlsClientError', async () => {
    const failure = new Error('cache unreachable');
    const { server, port } = await start(make, BY_ID, { resumeSession: (_id, callback) => callback(failure) });
    const first = await visit(port);
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, first.session)).outcome).toMatch(/^(error |closed)/);
    expect((await reported)[0]).toBe(failure);
  });

  test('a lookup answered twice destroys the socket with ERR_MULTIPLE_CALLBACK', async () => {
    const { server, port } = await start(make, BY_ID, {
      resumeSession: (_id, callback) => { callback(null, null); callback(null, null); },
    });
    const first = await visit(port);
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, first.session)).outcome).toMatch(/^(error |closed)/);
    expect((await reported)[0]).toMatchObject({ code: 'ERR_MULTIPLE_CALLBACK' });
  });

  test('a client that leaves while the lookup waits ends its handshake, and the late answer changes nothing', async () => {
    let answerLate: ResumeCallback | undefined;
    const asked = new Promise<void>((resolve) => {
      void start(make, BY_ID, { resumeSession: (_id, callback) => { answerLate = callback; resolve(); } }).then(({ port }) => {
        const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
        socket.on('error', () => {});
        void asked.then(() => socket.destroy());
      });
    });
    await asked;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(() => answerLate!(null, Buffer.from('too late'))).not.toThrow();
  });

  test('with an ALPNCallback too, the lookup comes first, then the ALPN choice, and the session resumes', async () => {
    const order: string[] = [];
    const { port, cache } = await start(make, { ...BY_ID, ALPNCallback: ({ protocols }) => { order.push('ALPNCallback'); return protocols[0]; } }, {
      newSession: (id, session, done) => { cache.set(id.toString('hex'), session); done(); },
      resumeSession: (id, callback) => { order.push('resumeSession'); callback(null, cache.get(id.toString('hex'))); },
    });
    const first = await visit(port, undefined, { ALPNProtocols: ['h2', 'http/1.1'] });
    expect(await visit(port, first.session, { ALPNProtocols: ['h2', 'http/1.1'] })).toMatchObject({ reused: true });
    expect(order).toEqual(['resumeSession', 'ALPNCallback', 'resumeSession', 'ALPNCallback']);
  });

  test('a HelloRetryRequest (no key share in common) is looked up once, for the first ClientHello', async () => {
    const { port, events } = await start(make, { minVersion: 'TLSv1.3', ecdhCurve: 'P-384' });
    expect(await visit(port, undefined, { ecdhCurve: 'X25519:P-384' })).toMatchObject({ outcome: 'ping', reused: false });
    expect(events.filter((event) => event.startsWith('resumeSession'))).toEqual(['resumeSession 32 miss']);
  });

  test('TLS 1.2 with tickets: a ticket resumes without a lookup, and the cache is offered nothing', async () => {
    const { port, events } = await start(make, { maxVersion: 'TLSv1.2' });
    const first = await visit(port);
    expect(await visit(port, first.session)).toMatchObject({ outcome: 'ping', reused: true });
    expect(events).toEqual(['resumeSession 32 miss', 'secureConnection reused=false', 'secureConnection reused=true']);
  });

  test("TLS 1.3: the client's legacy id is looked up, a full handshake's tickets are offered after 'secureConnection', and tickets resume", async () => {
    const { port, events } = await start(make, { minVersion: 'TLSv1.3' });
    const first = await visit(port);
    const second = await visit(port, first.session);
    expect(second).toMatchObject({ outcome: 'ping', reused: true });
    expect(events).toEqual([
      'resumeSession 32 miss', 'secureConnection reused=false', 'newSession 32', 'newSession 32',
      'resumeSession 32 miss', 'secureConnection reused=true',
    ]);
  });

  test('listeners added while the server listens are asked from then on, and removed ones no more', async () => {
    const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...BY_ID }));
    server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => socket.on('data', (chunk: Buffer) => socket.write(chunk)));
    const port = await listenLocal(server as SecureServer);
    const events: string[] = [];
    const first = await visit(port);
    const cache = new Map<string, Buffer>();
    const onNew = (id: Buffer, session: Buffer, done: () => void): void => {
      events.push('newSession');
      cache.set(id.toString('hex'), session);
      done();
    };
    const onResume = (id: Buffer, callback: ResumeCallback): void => {
      events.push('resumeSession');
      callback(null, cache.get(id.toString('hex')));
    };
    server.on('newSession', onNew);
    server.on('resumeSession', onResume);
    // The first session was never stored: a full handshake, whose session is.
    expect(await visit(port, first.session)).toMatchObject({ reused: false });
    const stored = await visit(port);
    expect(await visit(port, stored.session)).toMatchObject({ reused: true });
    // The fresh client's random legacy id is looked up too.
    expect(events).toEqual(['resumeSession', 'newSession', 'resumeSession', 'newSession', 'resumeSession']);
    server.off('newSession', onNew);
    server.off('resumeSession', onResume);
    expect(await visit(port, stored.session)).toMatchObject({ outcome: 'ping', reused: false });
    expect(events).toHaveLength(5);
  });
});

// What the reactor holds for 'newSession' meets forward(), end() and a client
// that leaves; node:tls has no forward(), so these run on the reactor alone.
describe('epoll-reactor: output held for the session cache', () => {
  /** A TLS 1.3 server whose 'newSession' callback is called `delayMs` later (or never, for -1). */
  async function heldServer(delayMs: number, onSecure: (socket: SecureSocket) => void): Promise<{ port: number; offered: () => number }> {
    let offered = 0;
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, minVersion: 'TLSv1.3' }, onSecure));
    server.on('newSession', (_id: Buffer, _session: Buffer, done: () => void) => {
      if (offered === 0) offered = Date.now();
      if (delayMs >= 0) setTimeout(done, delayMs);
    });
    return { port: await listenLocal(server), offered: () => offered };
  }

  function client(port: number): tls.TLSSocket {
    const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    socket.on('error', () => {});
    return socket;
  }

  test('a forward started while the tickets are held carries both ways once they go', async () => {
    const upstream = track(net.createServer((socket) => socket.pipe(socket)));
    const upstreamPort = await listenLocal(upstream);
    const results: Promise<ForwardResult>[] = [];
    const { port, offered } = await heldServer(100, (socket) => {
      const far = connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
      far.once('connect', () => results.push(forward(socket, far)));
    });
    const socket = client(port);
    await once(socket, 'secureConnect');
    socket.write('through the forward');
    const [echo] = await once(socket, 'data') as [Buffer];
    expect(echo.toString()).toBe('through the forward');
    expect(Date.now() - offered()).toBeGreaterThanOrEqual(90);
    socket.end();
    await waitFor(() => results.length === 1);
    expect(await results[0]).toMatchObject({ bytesFirstToSecond: 19, bytesSecondToFirst: 19 });
  });

  test('end() while held sends its bytes, close_notify and the FIN once the callback is called', async () => {
    const { port, offered } = await heldServer(100, (socket) => socket.end('goodbye'));
    const socket = client(port);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('goodbye');
    expect(Date.now() - offered()).toBeGreaterThanOrEqual(90);
  });

  test("a client that leaves while held ends the hold: the socket closes though the callback is never called", async () => {
    const closed: Promise<unknown>[] = [];
    const { port } = await heldServer(-1, (socket) => {
      // Its held write meets the closed client (EPIPE or ECONNRESET): 'close' is what counts.
      closed.push(new Promise((resolve) => socket.on('close', resolve)));
      socket.write('held');
    });
    const socket = client(port);
    await once(socket, 'secureConnect');
    await waitFor(() => closed.length === 1);
    socket.destroy();
    await closed[0];
  });
});
