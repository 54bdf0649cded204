// A server's ALPNCallback, as node:tls's: it is given the SNI name and the
// names the client offers and chooses one, refuses them all (undefined), or
// fails the handshake (a name not offered, a throw). On the reactor the
// handshake stops at the ClientHello for JS's answer and goes on with it.
// Each case runs against node's tls.Server given the same options, and both
// must be seen alike.
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureContext, createSecureServer, SecureServer, SecureServerOptions, SecureSocket } from '../lib';
import { contextsCheckedForCertificate } from '../lib/net-version';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
let alpha: { key: Buffer; cert: Buffer };  // a.example
let beta: { key: Buffer; cert: Buffer };   // b.example
beforeAll(() => {
  pki = makeTestPki();
  alpha = issueServerCertificate(pki, ['a.example']);
  beta = issueServerCertificate(pki, ['b.example']);
});
afterAll(() => pki.remove());

type AnyServer = SecureServer | tls.Server;
type Make = (options: SecureServerOptions) => AnyServer;
const servers: [string, Make][] = [
  ['epoll-reactor', (options) => createSecureServer(options)],
  ['node:tls', (options) => tls.createServer(options as tls.TlsOptions)],
];

type Asked = { servername: string | false; protocols: string[] };

/** An echo server with the test's default identity (CN=localhost) and `options`. */
async function start(make: Make, options: SecureServerOptions): Promise<{ server: AnyServer; port: number }> {
  const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...options }));
  server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  return { server, port: await listenLocal(server as SecureServer) };
}

interface Seen {
  alpn?: string | false;
  commonName?: string;
  reused?: boolean;
  session?: Buffer;
  reply?: string;
  error?: string;
}

/** Connects with `options`, trusting the test CA, echoes one message; what the client saw. */
function visit(port: number, options: tls.ConnectionOptions): Promise<Seen> {
  return new Promise((resolve) => {
    const socket = track(tls.connect({
      host: '127.0.0.1', port, ca: pki.caCert, checkServerIdentity: () => undefined, ...options,
    }));
    let session: Buffer | undefined;
    socket.on('session', (data: Buffer) => { session = data; });
    socket.once('error', (error: Error & { code?: string }) => resolve({ error: error.code ?? error.message }));
    socket.once('close', () => resolve({ error: 'closed' }));
    socket.once('secureConnect', () => {
      const seen: Seen = {
        alpn: socket.alpnProtocol ?? undefined, reused: socket.isSessionReused(),
        commonName: socket.getPeerCertificate().subject?.CN as string | undefined,
      };
      socket.write('ping');
      socket.once('data', (chunk: Buffer) => {
        seen.reply = chunk.toString();
        setImmediate(() => {
          seen.session = session;
          socket.destroy();
          resolve(seen);
        });
      });
    });
  });
}

/** The ALPN protocol the server's socket reports for its next connection. */
function nextServerAlpn(server: AnyServer): Promise<string | false | null> {
  return new Promise((resolve) => {
    server.once('secureConnection', (socket: SecureSocket | tls.TLSSocket) => resolve(socket.alpnProtocol as string | false));
  });
}

describe.each(servers)('%s', (_, make) => {
  test('the callback is given the SNI name and the names offered, in order, and its choice is what both sides see', async () => {
    const asked: Asked[] = [];
    const { server, port } = await start(make, {
      ALPNCallback: (arg) => { asked.push(arg); return arg.protocols[1]; },
    });
    const serverAlpn = nextServerAlpn(server);
    expect(await visit(port, { servername: 'a.example', ALPNProtocols: ['a', 'b', 'c'] }))
      .toMatchObject({ alpn: 'b', reply: 'ping' });
    expect(await serverAlpn).toBe('b');
    expect(await visit(port, { ALPNProtocols: ['x', 'http/1.1'] })).toMatchObject({ alpn: 'http/1.1', reply: 'ping' });
    expect(asked).toEqual([
      { servername: 'a.example', protocols: ['a', 'b', 'c'] },
      { servername: false, protocols: ['x', 'http/1.1'] },
    ]);
  });

  test('a client that offers no ALPN is not asked about, and gets none', async () => {
    const callback = jest.fn(() => 'a');
    const { server, port } = await start(make, { ALPNCallback: callback });
    const serverAlpn = nextServerAlpn(server);
    expect(await visit(port, { servername: 'a.example' })).toMatchObject({ alpn: false, reply: 'ping' });
    expect(await serverAlpn).toBe(false);
    expect(callback).not.toHaveBeenCalled();
  });

  test('undefined refuses every name: a no_application_protocol alert, and tlsClientError on the server', async () => {
    const { server, port } = await start(make, { ALPNCallback: () => undefined });
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, { ALPNProtocols: ['a'] })).error).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    expect((await reported)[0]).toMatchObject({ code: 'ERR_SSL_NO_APPLICATION_PROTOCOL' });
  });

  test('a name the client did not offer fails the handshake with ERR_TLS_ALPN_CALLBACK_INVALID_RESULT', async () => {
    const { server, port } = await start(make, { ALPNCallback: () => 'http/5' });
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, { ALPNProtocols: ['http/1', 'h2'] })).error).toBe('ECONNRESET');
    const [error] = await reported as [Error & { code: string }];
    expect(error.name).toBe('TypeError');
    expect(error.code).toBe('ERR_TLS_ALPN_CALLBACK_INVALID_RESULT');
    expect(error.message).toBe(
      "ALPN callback returned a value (http/5) that did not match any of the client's offered protocols (http/1, h2)");
  });

  test('a callback that throws fails the handshake with what it threw', async () => {
    const failure = new Error('no protocol for you');
    const { server, port } = await start(make, { ALPNCallback: () => { throw failure; } });
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, { ALPNProtocols: ['a'] })).error).toBe('ECONNRESET');
    expect((await reported)[0]).toBe(failure);
  });

  test.each(['TLSv1.2', 'TLSv1.3'] as const)('a resumed %s session asks again, and the new choice holds', async (version) => {
    const choices = ['a', 'b'];
    const { port } = await start(make, { ALPNCallback: () => choices.shift() });
    const first = await visit(port, { ALPNProtocols: ['a', 'b'], maxVersion: version });
    expect(first).toMatchObject({ alpn: 'a', reused: false });
    expect(first.session).toBeInstanceOf(Buffer);
    expect(await visit(port, { ALPNProtocols: ['a', 'b'], maxVersion: version, session: first.session }))
      .toMatchObject({ alpn: 'b', reused: true, reply: 'ping' });
    expect(choices).toEqual([]);
  });

  test.each(['TLSv1.2', 'TLSv1.3'] as const)('with an SNICallback too (%s): both are asked, and the chosen context and name both hold', async (version) => {
    const order: string[] = [];
    const alphaContext = createSecureContext(alpha);
    const { port } = await start(make, {
      SNICallback: (name, callback) => { order.push(`sni ${name}`); callback(null, alphaContext); },
      ALPNCallback: ({ servername }) => { order.push(`alpn ${String(servername)}`); return 'h2'; },
    });
    expect(await visit(port, { servername: 'a.example', maxVersion: version, ALPNProtocols: ['http/1.1', 'h2'] }))
      .toMatchObject({ alpn: 'h2', commonName: 'a.example', reply: 'ping' });
    // node asks the ALPNCallback first over TLS 1.3, the SNICallback first
    // over TLS 1.2; the reactor asks the ALPNCallback first over both (docs/tls.md).
    expect(order.sort()).toEqual(['alpn a.example', 'sni a.example']);
  });
});

describe.each(servers)('%s, setKeyCert() in the ALPNCallback', (_, make) => {
  // As an ACME TLS-ALPN-01 responder: the challenge's certificate for a
  // client offering acme-tls/1, the server's own for everyone else.
  const givens: [string, () => unknown][] = [
    ['options', () => beta],
    ['a context node made', () => tls.createSecureContext(beta)],
    ['a context the package made', () => createSecureContext(beta)],
  ];
  test.each(givens.flatMap(([what, given]) => (['TLSv1.2', 'TLSv1.3'] as const).map((v) => [what, v, given] as const)))(
    'given %s (%s): that certificate is the one the client gets, for that connection only', async (_what, version, given) => {
      const { port } = await start(make, {
        ALPNCallback(this: SecureSocket, { protocols }) {
          if (protocols.includes('acme-tls/1')) {
            this.setKeyCert(given() as tls.SecureContext);
            return 'acme-tls/1';
          }
          return protocols[0];
        },
      });
      expect(await visit(port, { ALPNProtocols: ['acme-tls/1'], maxVersion: version }))
        .toMatchObject({ alpn: 'acme-tls/1', commonName: 'b.example', reply: 'ping' });
      expect(await visit(port, { ALPNProtocols: ['http/1.1'], maxVersion: version }))
        .toMatchObject({ alpn: 'http/1.1', commonName: 'localhost', reply: 'ping' });
    });

  // node asks the SNICallback first over TLS 1.2 and the ALPNCallback first
  // over TLS 1.3 (above), and what is asked later wins; the reactor, which
  // asks the ALPNCallback first, gives what node's order would.
  test.each([['TLSv1.2', 'b.example'], ['TLSv1.3', 'a.example']] as const)('with an SNICallback too (%s): the certificate is %s\'s', async (version, commonName) => {
    const alphaContext = createSecureContext(alpha);
    const { port } = await start(make, {
      SNICallback: (_name, callback) => callback(null, alphaContext),
      ALPNCallback(this: SecureSocket, { protocols }) {
        this.setKeyCert(beta);
        return protocols[0];
      },
    });
    expect(await visit(port, { servername: 'a.example', ALPNProtocols: ['acme-tls/1'], maxVersion: version }))
      .toMatchObject({ alpn: 'acme-tls/1', commonName, reply: 'ping' });
  });

  test('a setSecureContext() after it in the callback leaves this handshake its certificate', async () => {
    let server!: AnyServer;
    ({ server } = await start(make, {
      ALPNCallback(this: SecureSocket, { protocols }) {
        this.setKeyCert(beta);
        server.setSecureContext({ key: alpha.key, cert: alpha.cert });
        return protocols[0];
      },
    }));
    const port = (server.address() as { port: number }).port;
    expect(await visit(port, { ALPNProtocols: ['acme-tls/1'] }))
      .toMatchObject({ alpn: 'acme-tls/1', commonName: 'b.example', reply: 'ping' });
  });

  test('a bad argument throws as node\'s does, and the throw fails the handshake', async () => {
    const thrown: unknown[] = [];
    const givens: unknown[] = ['x', {}, { cert: beta.cert }, { key: alpha.key, cert: beta.cert }];
    const { server, port } = await start(make, {
      ALPNCallback(this: SecureSocket) {
        const given = givens.shift();
        try {
          this.setKeyCert(given as tls.SecureContextOptions);
        } catch (error) {
          thrown.push(error);
        }
        if (givens.length === 0) this.setKeyCert('x' as tls.SecureContextOptions);
        return 'a';
      },
    });
    for (let i = 0; i < 2; ++i) {
      expect(await visit(port, { ALPNProtocols: ['a'] })).toMatchObject({ alpn: 'a', commonName: 'localhost' });
    }
    // A certificate without its key: node has taken the certificate when it
    // throws, and OpenSSL, left with no key that fits, fails the handshake.
    const keyless = once(server, 'tlsClientError');
    // (The client's code names the alert as its OpenSSL does: SSLV3_ or SSL/TLS_.)
    expect((await visit(port, { ALPNProtocols: ['a'] })).error).toMatch(/^ERR_SSL_.*ALERT_HANDSHAKE_FAILURE$/);
    expect((await keyless)[0]).toMatchObject({ code: 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM' });
    const reported = once(server, 'tlsClientError');
    expect((await visit(port, { ALPNProtocols: ['a'] })).error).toBe('ECONNRESET');
    expect((await reported)[0]).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown).toHaveLength(4);
    expect(thrown[0]).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE',
      message: 'The "options" argument must be of type object. Received type string (\'x\')' });
    // Node 22 and later check for a certificate first (lib/net-version.ts).
    const noCertificate = contextsCheckedForCertificate
      ? { message: 'SetKeyCert' } : { code: 'ERR_SSL_PASSED_A_NULL_PARAMETER' };
    expect(thrown[1]).toMatchObject(noCertificate);
    expect(thrown[2]).toMatchObject({ code: 'ERR_SSL_PASSED_A_NULL_PARAMETER', reason: 'passed a null parameter' });
    expect(thrown[3]).toMatchObject({ code: 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' });
  });

  test('after the handshake it changes nothing, and still checks its argument', async () => {
    const { server, port } = await start(make, {});
    const checked = new Promise<unknown[]>((resolve) => {
      server.once('secureConnection', (socket: SecureSocket | tls.TLSSocket) => {
        const results: unknown[] = [socket.setKeyCert(beta)];
        try {
          socket.setKeyCert({});
        } catch (error) {
          results.push((error as Error).message);
        }
        resolve(results);
      });
    });
    expect(await visit(port, {})).toMatchObject({ commonName: 'localhost', reply: 'ping' });
    expect(await checked).toEqual([undefined,
      contextsCheckedForCertificate ? 'SetKeyCert' : 'error:0A0C0102:SSL routines::passed a null parameter']);
  });
});

/** A ClientHello as node's client sends it offering `protocols`, taken from the wire. */
async function clientHello(protocols: string[], servername?: string): Promise<Buffer> {
  const listener = track(net.createServer());
  const port = await listenLocal(listener as unknown as SecureServer);
  const taken = once(listener, 'connection').then(async (args) => {
    const socket = args[0] as net.Socket;
    const [chunk] = await once(socket, 'data') as [Buffer];
    socket.destroy();
    return chunk;
  });
  track(tls.connect({ host: '127.0.0.1', port, ALPNProtocols: protocols, servername })).on('error', () => {});
  return taken;
}

/** Where the ALPN extension's data starts in a one-record ClientHello (RFC 8446 4.1.2). */
function alpnDataOffset(hello: Buffer): number {
  let at = 5 + 4 + 2 + 32;     // record header, handshake header, version, random
  at += 1 + hello[at];         // session id
  at += 2 + hello.readUInt16BE(at);  // cipher suites
  at += 1 + hello[at];         // compression methods
  const end = at + 2 + hello.readUInt16BE(at);
  for (at += 2; at < end; at += 4 + hello.readUInt16BE(at + 2)) {
    if (hello.readUInt16BE(at) === 16) return at + 4;
  }
  throw new Error('no ALPN extension');
}

describe.each(servers)('%s, a malformed ALPN list', (_, make) => {
  test.each([
    ['a list length past the extension', (hello: Buffer, at: number) => hello.writeUInt16BE(hello.readUInt16BE(at) + 1, at)],
    ['a name length past the list', (hello: Buffer, at: number) => { hello[at + 2] += 1; }],
    ['an empty name', (hello: Buffer, at: number) => { hello[at + 2] = 0; }],
  ])('(%s) is refused before the callback is asked', async (_what, corrupt) => {
    const callback = jest.fn(() => 'a');
    const { server, port } = await start(make, { ALPNCallback: callback });
    const hello = await clientHello(['a', 'bb']);
    corrupt(hello, alpnDataOffset(hello));
    const reported = once(server, 'tlsClientError');
    const raw = track(net.connect({ host: '127.0.0.1', port }));
    raw.on('error', () => {});
    raw.resume();
    raw.end(hello);
    expect((await reported)[0]).toMatchObject({ code: expect.stringMatching(/^ERR_SSL_/) as unknown as string });
    await once(raw, 'close');
    expect(callback).not.toHaveBeenCalled();
  });
});

/** Sends `hello` to `port` over a raw socket, closed when the test's tracked sockets are. */
function sendRaw(port: number, hello: Buffer): net.Socket {
  const raw = track(net.connect({ host: '127.0.0.1', port }));
  raw.on('error', () => {});
  raw.resume();
  raw.write(hello);
  return raw;
}

describe.each(servers)('%s', (_, make) => {
  test('an SNI name with bytes past ASCII reaches both callbacks as node reads it, one Latin-1 character a byte', async () => {
    const names: string[] = [];
    let asked!: () => void;
    const bothAsked = new Promise<void>((resolve) => { asked = resolve; });
    const { port } = await start(make, {
      ALPNCallback: ({ servername }) => { names.push(`alpn ${String(servername)}`); return 'a'; },
      SNICallback: (name, callback) => { names.push(`sni ${name}`); asked(); callback(null, undefined); },
    });
    const hello = await clientHello(['a'], 'cafe.example');
    const at = hello.indexOf('cafe.example');
    hello[at + 3] = 0xe9;  // 'é' in Latin-1
    sendRaw(port, hello);
    await bothAsked;
    expect(names.sort()).toEqual(['alpn caf\u00e9.example', 'sni caf\u00e9.example']);
  });
});

test('ALPNCallback with ALPNProtocols, or one that is not a function, throws before a server exists', () => {
  const both = { ALPNCallback: () => 'a', ALPNProtocols: ['b'] };
  let nodeError: unknown;
  try {
    tls.createServer(both);
  } catch (error) {
    nodeError = error;
  }
  expect(nodeError).toMatchObject({ code: 'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS' });
  expect(() => createSecureServer(both)).toThrow(nodeError as Error);
  expect(() => createSecureServer(both)).toThrow(TypeError);
  // node:tls throws this from its connection handler, as an uncaught exception.
  expect(() => createSecureServer({ ALPNCallback: 5 as unknown as () => string }))
    .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }) as unknown as Error);
});
