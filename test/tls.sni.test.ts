// Per-name certificates on a reactor TLS server, as node:tls's: an SNICallback
// (answered at once or later, with an error, a throw, twice, or with what is
// not a context) and addContext() (exact and wildcard names, the last added
// winning). The handshake stops on the reactor thread at the client's name
// and goes on with the context JS chose. Each case is run against node's
// tls.Server given the same options, and both must be seen alike.
import { once } from 'node:events';
import * as tls from 'node:tls';

import { createSecureContext, createSecureServer, SecureServer, SecureServerOptions, SecureSocket } from '../lib';
import { contextsCheckedForCertificate } from '../lib/net-version';
import { listenLocal } from './helpers';
import { startFixture } from './helpers/child';
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

type AnyServer = SecureServer | tls.Server;
type Make = (options: SecureServerOptions) => AnyServer;
const reactor: Make = (options) => createSecureServer(options);
const node: Make = (options) => tls.createServer(options as tls.TlsOptions);
const servers: [string, Make][] = [['epoll-reactor', reactor], ['node:tls', node]];

/** An echo server with the test's default identity (CN=localhost) and `options`. */
async function start(make: Make, options: SecureServerOptions = {}): Promise<{ server: AnyServer; port: number }> {
  const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...options }));
  server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  return { server, port: await listenLocal(server as SecureServer) };
}

interface Seen {
  commonName?: string;
  servername?: string | false;
  alpn?: string | false;
  reused?: boolean;
  session?: Buffer;
  reply?: string;
  error?: string;
}

/**
 * Connects asking for `servername` (none when undefined), trusting the test
 * CA without checking the name, echoes one message; what the client saw.
 */
function visit(port: number, servername: string | undefined, options: tls.ConnectionOptions = {}): Promise<Seen> {
  return new Promise((resolve) => {
    const socket = track(tls.connect({
      host: '127.0.0.1', port, ca: pki.caCert, checkServerIdentity: () => undefined,
      ...(servername === undefined ? {} : { servername }), ...options,
    }));
    let session: Buffer | undefined;
    socket.on('session', (data: Buffer) => { session = data; });
    socket.once('error', (error: Error & { code?: string }) => resolve({ error: error.code ?? error.message }));
    // Closed without an error (after the handshake, before the echo).
    socket.once('close', () => resolve({ error: 'closed' }));
    socket.once('secureConnect', () => {
      const seen: Seen = {
        commonName: socket.getPeerCertificate().subject?.CN as string | undefined,
        alpn: socket.alpnProtocol ?? undefined, reused: socket.isSessionReused(),
      };
      socket.write('ping');
      socket.once('data', (chunk: Buffer) => {
        seen.reply = chunk.toString();
        // The TLS 1.3 ticket comes after the handshake; the echo is after it.
        setImmediate(() => {
          seen.session = session;
          socket.destroy();
          resolve(seen);
        });
      });
    });
  });
}

/** The servername the server's socket reported, for the next connection. */
function nextServername(server: AnyServer): Promise<string | false | null> {
  return new Promise((resolve) => {
    server.once('secureConnection', (socket: SecureSocket | tls.TLSSocket) => resolve(socket.servername as string | false));
  });
}

describe.each(servers)('%s', (_, make) => {
  test('an SNICallback chooses the certificate by the name the client sent, and is not asked without one', async () => {
    const names: string[] = [];
    const alphaContext = createSecureContext(alpha);
    const { server, port } = await start(make, {
      SNICallback: (name, callback) => {
        names.push(name);
        callback(null, name === 'a.example' ? alphaContext : undefined);
      },
    });
    const servername = nextServername(server);
    expect(await visit(port, 'a.example')).toMatchObject({ commonName: 'a.example', reply: 'ping' });
    expect(await servername).toBe('a.example');
    expect(await visit(port, 'other.example')).toMatchObject({ commonName: 'localhost', reply: 'ping' });
    expect(await visit(port, undefined)).toMatchObject({ commonName: 'localhost', reply: 'ping' });
    expect(names).toEqual(['a.example', 'other.example']);
  });

  test('an SNICallback may answer later; the handshake waits, and bytes flow after it', async () => {
    const alphaContext = createSecureContext(alpha);
    const { port } = await start(make, {
      SNICallback: (_name, callback) => { setTimeout(() => callback(null, alphaContext), 100); },
    });
    const started = Date.now();
    expect(await visit(port, 'a.example')).toMatchObject({ commonName: 'a.example', reply: 'ping' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  test.each([
    ['an error it passes', (callback: (error: Error | null) => void, error: Error) => callback(error)],
    ['an error it throws', (_callback: (error: Error | null) => void, error: Error) => { throw error; }],
  ])('an SNICallback failing with %s fails the handshake with it, as tlsClientError', async (_how, fail) => {
    const failure = new Error('no such name');
    const { server, port } = await start(make, { SNICallback: (_name, callback) => fail(callback, failure) });
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, 'a.example')).error).toBe('ECONNRESET');
    expect((await reported)[0]).toBe(failure);
  });

  test('an SNICallback that answers twice: the socket is destroyed with ERR_MULTIPLE_CALLBACK', async () => {
    const { server, port } = await start(make, {
      SNICallback: (_name, callback) => { callback(null); callback(null); },
    });
    const reported = once(server, 'tlsClientError');
    // The client may or may not have finished its side first.
    expect((await visit(port, 'a.example')).error).toBeDefined();
    expect((await reported)[0]).toMatchObject({ code: 'ERR_MULTIPLE_CALLBACK' });
  });

  test("an object that is not a context: TypeError 'Invalid SNI context'; a primitive means the server's own", async () => {
    const { server, port } = await start(make, {
      SNICallback: (name, callback) => callback(null, (name === 'object.example' ? {} : 'not a context') as never),
    });
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, 'object.example')).error).toBe('ECONNRESET');
    const [error] = await reported;
    // node's is made in its own realm: compared by name, not by class.
    expect(error).toMatchObject({ name: 'TypeError', message: 'Invalid SNI context' });
    expect(await visit(port, 'primitive.example')).toMatchObject({ commonName: 'localhost', reply: 'ping' });
  });

  test('a context without a certificate, to a server with none: handshake_failure, reported as the running node reports it', async () => {
    const server = track(make({ SNICallback: (_name, callback) => callback(null, tls.createSecureContext()) }));
    const port = await listenLocal(server as SecureServer);
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, 'any.name')).error).toMatch(/^ERR_SSL_.*ALERT_HANDSHAKE_FAILURE$/);
    // Node 20 reports the error its swap to the context left queued (lib/net-version.ts).
    expect((await reported)[0]).toMatchObject({
      code: contextsCheckedForCertificate ? 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM' : 'ERR_SSL_PASSED_A_NULL_PARAMETER',
    });
  });

  test('addContext: exact and wildcard names, the last added winning, added before or after listen()', async () => {
    const { server, port } = await start(make);
    expect(await visit(port, 'a.example')).toMatchObject({ commonName: 'localhost' });
    server.addContext('a.example', alpha);
    server.addContext('*.example.com', createSecureContext(wildcard));
    expect(await visit(port, 'a.example')).toMatchObject({ commonName: 'a.example', reply: 'ping' });
    expect(await visit(port, 'www.example.com')).toMatchObject({ commonName: '*.example.com', reply: 'ping' });
    // '*' is one label, and other names keep the server's own.
    expect(await visit(port, 'a.b.example.com')).toMatchObject({ commonName: 'localhost' });
    expect(await visit(port, 'example.com')).toMatchObject({ commonName: 'localhost' });
    server.addContext('*.example', wildcard);
    expect(await visit(port, 'a.example')).toMatchObject({ commonName: '*.example.com' });
  });

  test("the server's ALPN list stays in force over a chosen context, which has none", async () => {
    const { port } = await start(make, {
      ALPNProtocols: ['h2', 'http/1.1'],
      SNICallback: (_name, callback) => callback(null, createSecureContext(alpha)),
    });
    expect(await visit(port, 'a.example', { ALPNProtocols: ['http/1.1'] }))
      .toMatchObject({ commonName: 'a.example', alpn: 'http/1.1' });
  });

  test('a session made under a chosen context resumes, without asking again', async () => {
    let asked = 0;
    const alphaContext = createSecureContext(alpha);
    const { port } = await start(make, { SNICallback: (_name, callback) => { asked++; callback(null, alphaContext); } });
    const first = await visit(port, 'a.example');
    expect(first).toMatchObject({ commonName: 'a.example', reused: false });
    expect(first.session).toBeInstanceOf(Buffer);
    const second = await visit(port, 'a.example', { session: first.session });
    expect(second).toMatchObject({ reused: true, reply: 'ping' });
    expect(asked).toBe(1);
  });

  test('a client that leaves while the SNICallback decides: tlsClientError ECONNRESET, and the late answer is harmless', async () => {
    let answer: ((error: Error | null, context?: tls.SecureContext) => void) | undefined;
    const { server, port } = await start(make, { SNICallback: (_name, callback) => { answer = callback; } });
    const reported = once(server, 'tlsClientError');
    const client = track(tls.connect({ host: '127.0.0.1', port, servername: 'a.example', rejectUnauthorized: false }));
    client.on('error', () => undefined);
    const deadline = Date.now() + 5000;
    while (answer === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(answer).toBeDefined();
    client.destroy();
    expect((await reported)[0]).toMatchObject({ code: 'ECONNRESET' });
    answer!(null, createSecureContext(alpha));
    // The server still serves.
    expect(await visit(port, undefined)).toMatchObject({ commonName: 'localhost', reply: 'ping' });
  });

  test('a handshake whose SNICallback never answers ends at handshakeTimeout', async () => {
    const { server, port } = await start(make, { handshakeTimeout: 200, SNICallback: () => undefined });
    // node's server reports the timeout and leaves the socket to this listener
    // (as https.Server's does); the reactor's destroys it either way.
    server.on('tlsClientError', (_error: Error, socket: { destroy(): void }) => socket.destroy());
    const reported = once(server, 'tlsClientError');
    const seen = visit(port, 'a.example');
    expect((await reported)[0]).toMatchObject({ code: 'ERR_TLS_HANDSHAKE_TIMEOUT' });
    expect((await seen).error).toBe('ECONNRESET');
  });
});

test('each name reaches the SNICallback intact when the reactor merges turns JS has not taken yet', async () => {
  // Events made while JS is busy are merged into the batch JS has not taken,
  // their string indices renumbered (batch.h Append); a name event left out
  // of that once read another connection's address as its name.
  const asked: string[] = [];
  const { port } = await start(reactor, { SNICallback: (name, callback) => { asked.push(name); callback(null); } });
  const count = 40;
  const clients = startFixture('sni-clients.js', { PORT: String(port), COUNT: String(count) });
  track(clients.child);  // killed by its pid after the test
  await clients.next((line) => line.connecting !== undefined);
  // Stall this thread while the clients connect and send their names.
  const until = Date.now() + 400;
  while (Date.now() < until) { /* busy: the reactor thread goes on alone */ }
  expect(await clients.next((line) => line.done === true, 30000)).toMatchObject({ failed: 0 });
  expect(asked.sort()).toEqual(Array.from({ length: count }, (_, i) => `c${i}.example`).sort());
});

test('checks of SNICallback and addContext throw what node:tls throws', () => {
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (error) {
      return { name: (error as Error).name, code: (error as { code?: string }).code, message: (error as Error).message };
    }
    return 'nothing';
  };
  for (const bad of [1, 'callback', {}]) {
    expect(thrown(() => createSecureServer({ SNICallback: bad as never })))
      .toEqual(thrown(() => tls.createServer({ SNICallback: bad as never })));
  }
  const ours = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }));
  const theirs = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }));
  for (const name of ['', undefined]) {
    expect(thrown(() => ours.addContext(name as never, alpha))).toEqual(thrown(() => theirs.addContext(name as never, alpha)));
  }
  // Bad keys: node's own error, from its createSecureContext.
  expect(thrown(() => ours.addContext('a.example', { key: 'nonsense', cert: alpha.cert })))
    .toEqual(thrown(() => theirs.addContext('a.example', { key: 'nonsense', cert: alpha.cert })));
});

const makers: [string, (options: tls.SecureContextOptions) => tls.SecureContext][] = [
  ["epoll-reactor's createSecureContext", createSecureContext], ["node's tls.createSecureContext", tls.createSecureContext],
];

describe.each(servers.flatMap(([server, make]) => makers.map(([maker, makeContext]) => [server, maker, make, makeContext] as const)))(
  '%s with contexts made by %s', (_server, _maker, make, makeContext) => {
    test('an SNICallback and addContext answer with them: their certificate, the ALPN list and resumption', async () => {
      const alphaContext = makeContext(alpha);
      let asked = 0;
      const { port } = await start(make, {
        ALPNProtocols: ['h2', 'http/1.1'],
        SNICallback: (name, callback) => {
          asked++;
          callback(null, name === 'a.example' ? alphaContext : undefined);
        },
      });
      const first = await visit(port, 'a.example', { ALPNProtocols: ['http/1.1'] });
      expect(first).toMatchObject({ commonName: 'a.example', alpn: 'http/1.1', reused: false, reply: 'ping' });
      expect(await visit(port, 'a.example', { session: first.session })).toMatchObject({ reused: true, reply: 'ping' });
      expect(await visit(port, 'other.example')).toMatchObject({ commonName: 'localhost', reply: 'ping' });
      expect(asked).toBe(2);
      const { server: named, port: namedPort } = await start(make);
      named.addContext('*.example.com', makeContext(wildcard));
      expect(await visit(namedPort, 'www.example.com')).toMatchObject({ commonName: '*.example.com', reply: 'ping' });
    });

    test("a chosen context without a certificate leaves the server's own in force", async () => {
      const { port } = await start(make, { SNICallback: (_name, callback) => callback(null, makeContext({ ca: pki.caCert })) });
      expect(await visit(port, 'a.example')).toMatchObject({ commonName: 'localhost', reply: 'ping' });
    });

    test("the chosen context's CA checks a client's certificate; the server's own ciphers stay in force", async () => {
      const other = makeTestPki();
      try {
        const client = { key: other.clientKey, cert: other.clientCert };
        const chosen = makeContext({ ...alpha, ca: other.caCert, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' });
        const { server, port } = await start(make, {
          requestCert: true, rejectUnauthorized: false, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
          SNICallback: (_name, callback) => callback(null, chosen),
        });
        const authorized = new Promise((resolve) => {
          server.once('secureConnection', (socket: SecureSocket | tls.TLSSocket) => resolve(socket.authorized));
        });
        // The server's own CA (the test CA) did not issue it; the chosen context's did.
        expect(await visit(port, 'a.example', { ...client, maxVersion: 'TLSv1.2' })).toMatchObject({ commonName: 'a.example' });
        expect(await authorized).toBe(true);
        // A TLS 1.2 cipher only the chosen context lists is not taken; the server's is.
        expect((await visit(port, 'a.example', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' })).error)
          .toBeDefined();
        expect(await visit(port, 'a.example', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }))
          .toMatchObject({ commonName: 'a.example', reply: 'ping' });
      } finally {
        other.remove();
      }
    });
  });

test("a context node made, shared with node's server, serves both at once", async () => {
  // node's own server sets callbacks of its own on a context it switches to;
  // the reactor's must never meet them (it takes the keys, not the context).
  const shared = tls.createSecureContext(alpha);
  const answer = (_name: string, callback: (error: Error | null, context?: tls.SecureContext) => void): void => {
    callback(null, shared);
  };
  const ours = await start(reactor, { ALPNProtocols: ['http/1.1'], SNICallback: answer });
  const theirs = await start(node, { ALPNProtocols: ['http/1.1'], SNICallback: answer });
  theirs.server.on('keylog', () => undefined);
  ours.server.on('keylog', () => undefined);
  const visits: Promise<Seen>[] = [];
  for (let i = 0; i < 20; i++) {
    visits.push(visit(i % 2 ? ours.port : theirs.port, 'a.example', { ALPNProtocols: ['http/1.1'] }));
  }
  for (const seen of await Promise.all(visits)) {
    expect(seen).toMatchObject({ commonName: 'a.example', alpn: 'http/1.1', reply: 'ping' });
  }
});

test("createSecureContext's contexts work with node:tls too", async () => {
  const { port } = await start(node, { SNICallback: (_name, callback) => callback(null, createSecureContext(alpha)) });
  expect(await visit(port, 'a.example')).toMatchObject({ commonName: 'a.example', reply: 'ping' });
});

test("an added name matches the client's in letter case as node's tls.Server matches it on this node", async () => {
  const seen: Seen[] = [];
  for (const [, make] of servers) {
    const { server, port } = await start(make);
    server.addContext('A.example', alpha);
    server.addContext('*.EXAMPLE.com', wildcard);
    seen.push(await visit(port, 'a.EXAMPLE'), await visit(port, 'www.example.COM'), await visit(port, 'a.example'));
  }
  const names = seen.map((one) => one.commonName);
  expect(names.slice(0, 3)).toEqual(names.slice(3));
  // Node 22 and later ignore case there (Node 20 does not).
  expect(names[0]).toBe(Number(process.versions.node.split('.')[0]) >= 22 ? 'a.example' : 'localhost');
});
