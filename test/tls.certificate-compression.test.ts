// certificateCompression works as node:tls's (Node 24 and later; earlier
// nodes have no such option and ignore it, and so does reactor TLS): when
// both sides ask for an algorithm, the server's certificate travels
// compressed, and it saves the same bytes from a reactor TLS server as from
// node's, and for a reactor TLS client as for node's. Bytes are counted by a
// TCP relay between the two.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect, createSecureServer } from '../lib';
import { checkMustCalls, listenLocal, thrownCode } from './helpers';
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

// A certificate for localhost with 200 more names: about 6 KiB that zlib
// shrinks by kilobytes, far more than the few bytes by which session
// tickets vary from one handshake to the next.
let identity: { key: Buffer; cert: Buffer };
let directory: string;
beforeAll(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-certcomp-'));
  const names = ['DNS:localhost', ...Array.from({ length: 200 }, (_, i) => `DNS:host-${i}.compression.example`)];
  execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=localhost', '-days', '1', '-addext', `subjectAltName=${names.join(',')}`,
    '-keyout', path.join(directory, 'key.pem'), '-out', path.join(directory, 'cert.pem')],
  { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
  identity = { key: fs.readFileSync(path.join(directory, 'key.pem')), cert: fs.readFileSync(path.join(directory, 'cert.pem')) };
});
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

// Session tickets differ in size by a block or two between handshakes.
const TICKET_JITTER = 64;

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
  expect(ours).toBeGreaterThan(1000);
  expect(Math.abs(ours - await saved('node'))).toBeLessThan(TICKET_JITTER);
  // A client that does not ask gets it uncompressed.
  const unasked = (await handshakeBytes(await serverPort('reactor', zlib), 'node', {})) -
    (await handshakeBytes(await serverPort('reactor', {}), 'node', {}));
  expect(Math.abs(unasked)).toBeLessThan(TICKET_JITTER);
}, 20_000);

testWhereNodeHasIt('a reactor TLS client asks for compressed certificates, as tls.connect does', async () => {
  const port = await serverPort('node', zlib);
  const savedForOurs = (await handshakeBytes(port, 'reactor', {})) - (await handshakeBytes(port, 'reactor', zlib));
  const savedForNodes = (await handshakeBytes(port, 'node', {})) - (await handshakeBytes(port, 'node', zlib));
  expect(savedForOurs).toBeGreaterThan(1000);
  expect(Math.abs(savedForOurs - savedForNodes)).toBeLessThan(TICKET_JITTER);
}, 20_000);

test('certificateCompression node refuses is refused with its error; where node has no such option it is ignored', () => {
  for (const certificateCompression of [['lz4'], 'zlib', ['zlib', 'zlib', 'brotli', 'zstd']]) {
    const options = { key: identity.key, cert: identity.cert, certificateCompression: certificateCompression as never };
    const theirs = thrownCode(() => tls.createServer(options));
    expect(thrownCode(() => createSecureServer(options))).toBe(theirs);
    // Port 9 is never reached: the call throws first, or the socket is destroyed at once.
    expect(thrownCode(() => track(connect({ host: '127.0.0.1', port: 9, tls: { certificateCompression: certificateCompression as never } }))
      .on('error', () => {}))).toBe(thrownCode(() => tls.createSecureContext({ certificateCompression } as never)));
  }
});
