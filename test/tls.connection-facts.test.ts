// What a TLSSocket can be asked about its connection besides the peer's
// certificate: its own certificate, the key exchange, the shared signature
// algorithms, the session ticket, and keying material exported from the
// connection's secrets. Each is compared with node:tls against the same peer,
// on both ends of a reactor connection; the reactor thread answers (it owns
// the SSL), so these also cover asking while it runs.
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal, thrownCode } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type Maker = 'node' | 'reactor';
// node's types make the context required; it is optional in node and here.
type Export = (length: number, label: string, context?: Buffer) => Buffer;
const exportOf = (socket: tls.TLSSocket, ...args: Parameters<Export>): Buffer =>
  (socket.exportKeyingMaterial as Export).apply(socket, args);

/** A server made by `make`, with `options` added; resolves to the port and its next accepted socket. */
async function serverOf(make: Maker, options: tls.TlsOptions = {}): Promise<{ port: number; accepted: Promise<tls.TLSSocket> }> {
  const all = { key: pki.serverKey, cert: pki.serverCert, ...options };
  const server = track((make === 'node' ? tls.createServer(all) : createSecureServer(all as never)) as tls.Server);
  const accepted = new Promise<tls.TLSSocket>((resolve) => server.once('secureConnection', resolve));
  return { port: await listenLocal(server), accepted };
}

/** A client made by `make`, connected to `port` and past its handshake. */
async function clientOf(make: Maker, port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const all = { ca: pki.caCert, servername: 'localhost', ...options };
  const socket = make === 'node'
    ? track(tls.connect({ host: '127.0.0.1', port, ...all }))
    : track(connect({ host: '127.0.0.1', port, tls: all as never })) as unknown as tls.TLSSocket;
  socket.on('data', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** `ask` of a reactor client and of node's client, each against a node server given `serverOptions`. */
async function askClients<T>(ask: (socket: tls.TLSSocket) => T, serverOptions: tls.TlsOptions = {},
  clientOptions: tls.ConnectionOptions = {}): Promise<[T, T]> {
  const { port } = await serverOf('node', serverOptions);
  const ours = ask(await clientOf('reactor', port, clientOptions));
  const theirs = ask(await clientOf('node', port, clientOptions));
  return [ours, theirs];
}

/** `ask` of a reactor server's socket and of node's, each accepting node's client given `clientOptions`. */
async function askServers<T>(ask: (socket: tls.TLSSocket) => T, serverOptions: tls.TlsOptions = {},
  clientOptions: tls.ConnectionOptions = {}): Promise<[T, T]> {
  const answers: T[] = [];
  for (const make of ['reactor', 'node'] as const) {
    const { port, accepted } = await serverOf(make, serverOptions);
    await clientOf('node', port, clientOptions);
    answers.push(ask(await accepted));
  }
  return answers as [T, T];
}

describe('getCertificate() and getX509Certificate(): this end\'s certificate', () => {
  test('a server\'s socket gives node\'s object for the certificate it serves', async () => {
    const [ours, theirs] = await askServers((socket) => socket.getCertificate());
    expect(ours).toEqual(theirs);
    expect((ours as tls.PeerCertificate).subject.CN).toBe('localhost');
    const [ourX509, theirX509] = await askServers((socket) => socket.getX509Certificate()?.fingerprint256);
    expect(ourX509).toBe(theirX509);
    expect(ourX509).toBe((ours as tls.PeerCertificate).fingerprint256);
  });

  test('a client with a certificate gives it; one without gives {} and undefined', async () => {
    const withCertificate = { key: pki.clientKey, cert: pki.clientCert };
    const [ours, theirs] = await askClients((socket) => socket.getCertificate(), { requestCert: true, ca: pki.caCert }, withCertificate);
    expect(ours).toEqual(theirs);
    expect((ours as tls.PeerCertificate).subject.CN).toBe('test client');
    expect(await askClients((socket) => [socket.getCertificate(), socket.getX509Certificate()])).toEqual([[{}, undefined], [{}, undefined]]);
  });
});

describe('getEphemeralKeyInfo(): the key exchange, as a client sees it', () => {
  test.each([
    ['the default groups', {}],
    ['X25519', { ecdhCurve: 'X25519' }],
    ['P-256', { ecdhCurve: 'prime256v1' }],
    ['P-384', { ecdhCurve: 'secp384r1' }],
    ['finite-field DH', { ecdhCurve: 'ffdhe2048' }],
    ['TLS 1.2', { maxVersion: 'TLSv1.2' as const }],
  ])('%s', async (_name, options) => {
    const [ours, theirs] = await askClients((socket) => socket.getEphemeralKeyInfo(), options, options);
    expect(ours).toEqual(theirs);
    // The same keys too (node 24's TLSGroup object has `size`, undefined).
    expect(Object.keys(ours ?? {}).sort()).toEqual(Object.keys(theirs ?? {}).sort());
  });

  test('a server\'s socket gives null, as node\'s', async () => {
    expect(await askServers((socket) => socket.getEphemeralKeyInfo())).toEqual([null, null]);
  });
});

test('getSharedSigalgs(): the signature algorithms both ends accept, on either end', async () => {
  const [ourServer, theirServer] = await askServers((socket) => socket.getSharedSigalgs());
  expect(ourServer).toEqual(theirServer);
  expect(ourServer).toContain('ECDSA+SHA256');
  const narrowed = { sigalgs: 'ECDSA+SHA256:ECDSA+SHA384' };
  expect(await askServers((socket) => socket.getSharedSigalgs(), narrowed, narrowed)).toEqual([['ECDSA+SHA256', 'ECDSA+SHA384'],
    ['ECDSA+SHA256', 'ECDSA+SHA384']]);
  const [ourClient, theirClient] = await askClients((socket) => socket.getSharedSigalgs(), { requestCert: true, ca: pki.caCert },
    { key: pki.clientKey, cert: pki.clientCert });
  expect(ourClient).toEqual(theirClient);
});

describe('getTLSTicket(): a client\'s session ticket', () => {
  test('a TLS 1.2 server issues its ticket in the handshake', async () => {
    const options = { maxVersion: 'TLSv1.2' as const };
    const [ours, theirs] = await askClients((socket) => socket.getTLSTicket(), options, options);
    expect(Buffer.isBuffer(ours)).toBe(true);
    expect(ours!.length).toBe(theirs!.length);
  });

  test('a TLS 1.3 server\'s come after it: the ticket of the session last issued', async () => {
    const { port } = await serverOf('node');
    const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
    // node's server sends two tickets after a TLS 1.3 handshake.
    const sessions: Buffer[] = [];
    await new Promise<void>((resolve) => socket.on('session', (session: Buffer) => {
      if (sessions.push(session) === 2) resolve();
    }));
    const ticket = socket.getTLSTicket();
    expect(Buffer.isBuffer(ticket)).toBe(true);
    // The ticket is carried in the session's own bytes.
    expect(sessions[1].includes(ticket!)).toBe(true);
    expect(sessions[0].includes(ticket!)).toBe(false);
  });

  test('a server\'s socket has none, as node\'s', async () => {
    expect(await askServers((socket) => socket.getTLSTicket())).toEqual([undefined, undefined]);
  });
});

describe('exportKeyingMaterial()', () => {
  /** What each end of one connection exports for the same arguments: a reactor end and node's. */
  async function bothEnds(reactorEnd: 'server' | 'client', options: tls.TlsOptions, args: [number, string, Buffer?]): Promise<[string, string]> {
    const { port, accepted } = await serverOf(reactorEnd === 'server' ? 'reactor' : 'node', options);
    const client = await clientOf(reactorEnd === 'client' ? 'reactor' : 'node', port, options as tls.ConnectionOptions);
    const server = await accepted;
    return [exportOf(server, ...args).toString('hex'), exportOf(client, ...args).toString('hex')];
  }

  test.each([
    ['TLS 1.3, no context', {}, [32, 'EXPORTER-test']],
    ['TLS 1.3, a context', {}, [48, 'EXPORTER-test', Buffer.from('context')]],
    ['TLS 1.3, an empty context', {}, [16, 'EXPORTER-test', Buffer.alloc(0)]],
    ['TLS 1.2, a context', { maxVersion: 'TLSv1.2' as const }, [64, 'EXPORTER-test', Buffer.from('context')]],
    ['TLS 1.2, the most the reactor makes', { maxVersion: 'TLSv1.2' as const }, [65536, 'EXPORTER-test']],
  ] as Array<[string, tls.TlsOptions, [number, string, Buffer?]]>)('%s: both ends agree, the reactor\'s at either end', async (_name, options, args) => {
    for (const end of ['server', 'client'] as const) {
      const [server, client] = await bothEnds(end, options, args);
      expect(server).toBe(client);
      expect(server).toHaveLength(args[0] * 2);
    }
  });

  test('more than 65536 bytes is refused: node makes up to 4 GiB, which would hold the reactor thread', async () => {
    const { port } = await serverOf('node', { maxVersion: 'TLSv1.2' });
    const client = await clientOf('reactor', port, { maxVersion: 'TLSv1.2' });
    expect(thrownCode(() => exportOf(client, 65537, 'EXPORTER-test'))).toBe('ERR_OUT_OF_RANGE');
  });

  test('a context over a SharedArrayBuffer, at an offset, exports as the same bytes in a Buffer (it crashed the process)', async () => {
    const { port, accepted } = await serverOf('node');
    const client = await clientOf('reactor', port);
    const server = await accepted;
    const shared = new Uint8Array(new SharedArrayBuffer(64), 8, 16);
    shared.set(Buffer.from('sixteen bytes!!!'));
    const ours = exportOf(client, 32, 'EXPORTER-test', shared as unknown as Buffer);
    expect(ours).toEqual(exportOf(server, 32, 'EXPORTER-test', Buffer.from('sixteen bytes!!!')));
  });

  test('different labels and contexts give different material', async () => {
    const { port } = await serverOf('reactor');
    const client = await clientOf('reactor', port);
    const first = exportOf(client, 32, 'EXPORTER-a');
    expect(exportOf(client, 32, 'EXPORTER-b')).not.toEqual(first);
    expect(exportOf(client, 32, 'EXPORTER-a', Buffer.from('x'))).not.toEqual(first);
    expect(exportOf(client, 32, 'EXPORTER-a')).toEqual(first);
  });

  test('bad arguments, a handshake not done and a destroyed socket throw as node\'s', async () => {
    const { port } = await serverOf('node');
    const ours = await clientOf('reactor', port);
    const theirs = await clientOf('node', port);
    const calls: Array<(socket: tls.TLSSocket) => unknown> = [
      (socket) => exportOf(socket, 0, 'x'),
      (socket) => exportOf(socket, 1.5, 'x'),
      (socket) => exportOf(socket, '8' as never, 'x'),
      (socket) => exportOf(socket, 2 ** 32, 'x'),
      (socket) => exportOf(socket, 8, 5 as never),
      (socket) => socket.exportKeyingMaterial(8, 'x', 'context' as never),
      (socket) => socket.exportKeyingMaterial(8, 'x', new DataView(new ArrayBuffer(4)) as never),
      // TLS 1.3's exporter makes at most 255 hashes' worth.
      (socket) => exportOf(socket, 255 * 48 + 1, 'x'),
    ];
    expect(calls.map((call) => thrownCode(() => call(ours)))).toEqual(calls.map((call) => thrownCode(() => call(theirs))));
    const early = (make: Maker): string => {
      const socket = make === 'node' ? track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }))
        : track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as unknown as tls.TLSSocket;
      socket.on('error', () => {});
      return thrownCode(() => exportOf(socket, 8, 'x'));
    };
    expect(early('reactor')).toBe(early('node'));
    expect(early('reactor')).toBe('ERR_TLS_INVALID_STATE');
  });
});

test('once destroyed, each gives what node\'s gives', async () => {
  const asks = (socket: tls.TLSSocket): unknown[] => [socket.getCertificate(), socket.getX509Certificate(),
    socket.getEphemeralKeyInfo(), socket.getSharedSigalgs(), socket.getTLSTicket(), socket.getPeerCertificate(true)];
  const [ours, theirs] = await askClients((socket) => {
    socket.destroy();
    return asks(socket);
  });
  expect(ours).toStrictEqual(theirs);
});
