// certificateCompression works as node:tls's (Node 24 and later; earlier
// nodes have no such option and ignore it, and so does reactor TLS): when
// both sides ask for an algorithm, the server's certificate travels
// compressed, and it saves the same bytes from a reactor TLS server as from
// node's, and for a reactor TLS client as for node's. Bytes are counted by a
// TCP relay between the two.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer } from '../lib';
import { checkMustCalls, listenLocal } from './helpers';
import { makeTestCertificate, TestCertificate } from './helpers/cert';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

function nodeHasCertificateCompression(): boolean {
  try {
    tls.createSecureContext({ certificateCompression: 'not a list' } as tls.SecureContextOptions);
    return false;
  } catch {
    return true;
  }
}
const testWhereNodeHasIt = nodeHasCertificateCompression() ? test : test.skip;

let identity: TestCertificate;
beforeAll(() => { identity = makeTestCertificate(); });
afterAll(() => identity.remove());

type Compression = { certificateCompression?: Array<'zlib' | 'brotli' | 'zstd'> };

/** A relay to `port` that counts the bytes the server sends until the first client closes. */
async function countingRelay(port: number): Promise<{ port: number; serverBytes: () => number }> {
  let bytes = 0;
  const relay = track(net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    upstream.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  }));
  return { port: await listenLocal(relay), serverBytes: () => bytes };
}

/** Server bytes of one handshake (and the server's end of the connection) through a relay. */
async function handshakeBytes(serverPort: number, client: 'node' | 'reactor', options: Compression): Promise<number> {
  const relay = await countingRelay(serverPort);
  const socket = client === 'node'
    ? track(tls.connect({ host: '127.0.0.1', port: relay.port, ca: identity.cert, servername: 'localhost', ...options }))
    : track(connect({ host: '127.0.0.1', port: relay.port, tls: { ca: identity.cert, servername: 'localhost', ...options } }));
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    // The server ends the connection once secure: everything it sent has passed the relay by 'end'.
    socket.on('end', () => resolve());
    socket.resume();
  });
  return relay.serverBytes();
}

async function serverPort(make: 'node' | 'reactor', options: Compression): Promise<number> {
  const serverOptions = { key: identity.key, cert: identity.cert, ...options };
  const server = make === 'node'
    ? track(tls.createServer(serverOptions, (socket) => socket.end()))
    : track(createSecureServer(serverOptions, (socket) => socket.end()));
  return listenLocal(server as tls.Server);
}

const zlib: Compression = { certificateCompression: ['zlib'] };

testWhereNodeHasIt('a reactor TLS server sends its certificate compressed when both sides ask, as node:tls does', async () => {
  const saved = async (make: 'node' | 'reactor'): Promise<number> =>
    (await handshakeBytes(await serverPort(make, {}), 'node', zlib)) - (await handshakeBytes(await serverPort(make, zlib), 'node', zlib));
  const ours = await saved('reactor');
  expect(ours).toBeGreaterThan(0);
  expect(ours).toBe(await saved('node'));
  // A client that does not ask gets it uncompressed.
  expect(await handshakeBytes(await serverPort('reactor', zlib), 'node', {}))
    .toBe(await handshakeBytes(await serverPort('reactor', {}), 'node', {}));
}, 20_000);

testWhereNodeHasIt('a reactor TLS client asks for compressed certificates, as tls.connect does', async () => {
  const port = await serverPort('node', zlib);
  const savedForOurs = (await handshakeBytes(port, 'reactor', {})) - (await handshakeBytes(port, 'reactor', zlib));
  const savedForNodes = (await handshakeBytes(port, 'node', {})) - (await handshakeBytes(port, 'node', zlib));
  expect(savedForOurs).toBeGreaterThan(0);
  expect(savedForOurs).toBe(savedForNodes);
}, 20_000);

test('certificateCompression node refuses is refused with its error; where node has no such option it is ignored', () => {
  const outcome = (make: () => unknown): string => {
    try {
      make();
      return 'accepted';
    } catch (error) {
      return String((error as { code?: string }).code);
    }
  };
  for (const certificateCompression of [['lz4'], 'zlib', ['zlib', 'zlib', 'brotli', 'zstd']]) {
    const options = { key: identity.key, cert: identity.cert, certificateCompression: certificateCompression as never };
    const theirs = outcome(() => tls.createServer(options));
    expect(outcome(() => createSecureServer(options))).toBe(theirs);
    // Port 9 is never reached: the call throws first, or the socket is destroyed at once.
    expect(outcome(() => track(connect({ host: '127.0.0.1', port: 9, tls: { certificateCompression: certificateCompression as never } }))
      .on('error', () => {}))).toBe(outcome(() => tls.createSecureContext({ certificateCompression } as never)));
  }
});
