// The code a failed verification reads as (authorizationError, and the
// client's error) is node:tls's, by OpenSSL 3's numbering: a chain whose
// intermediate is a CA only by its keyUsage (no basicConstraints) fails with
// X509_V_ERR_INVALID_CA (79 in OpenSSL 3; 24 was its number in 1.1.1, and is
// NO_ISSUER_PUBLIC_KEY now, which node reads as UNSPECIFIED).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect, createSecureServer } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

let directory: string;
const read = (name: string): Buffer => fs.readFileSync(path.join(directory, name));

beforeAll(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-codes-'));
  const openssl = (args: string[]): void => {
    execFileSync('/usr/bin/openssl', args, { cwd: directory, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-days', '2', '-subj', '/CN=root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  fs.writeFileSync(path.join(directory, 'inter.ext'), 'keyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', ...ec, '-keyout', 'inter.key', '-out', 'inter.csr', '-subj', '/CN=inter']);
  openssl(['x509', '-req', '-in', 'inter.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial',
    '-out', 'inter.pem', '-days', '2', '-extfile', 'inter.ext']);
  fs.writeFileSync(path.join(directory, 'leaf.ext'),
    'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost']);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key', '-CAcreateserial',
    '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext']);
});
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

/** What each side of one connection read: the client's and the server's authorizationError. */
async function codesSeen(server: 'node' | 'reactor', client: 'node' | 'reactor'): Promise<[unknown, unknown]> {
  const chain = Buffer.concat([read('leaf.pem'), read('inter.pem')]);
  const options = { key: read('leaf.key'), cert: chain, ca: read('root.pem'), requestCert: true, rejectUnauthorized: false };
  let serverSaw: unknown;
  const onSocket = (socket: tls.TLSSocket): void => { serverSaw = socket.authorizationError; socket.end(); };
  const listening = track(server === 'node' ? tls.createServer(options, onSocket) : createSecureServer(options, onSocket as never));
  const port = await listenLocal(listening as never);
  const clientOptions = { servername: 'localhost', ca: read('root.pem'), key: read('leaf.key'), cert: chain, rejectUnauthorized: false };
  const socket = track(client === 'node' ? tls.connect({ host: '127.0.0.1', port, ...clientOptions })
    : connect({ host: '127.0.0.1', port, tls: clientOptions })) as tls.TLSSocket;
  const clientSaw = await new Promise((resolve, reject) => {
    socket.once('secureConnect', () => resolve(socket.authorizationError));
    socket.once('error', reject);
  });
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  return [clientSaw, serverSaw];
}

test('an intermediate that is a CA only by keyUsage reads INVALID_CA on both sides, as node:tls', async () => {
  const theirs = await codesSeen('node', 'node');
  expect(theirs).toEqual(['INVALID_CA', 'INVALID_CA']);
  expect(await codesSeen('reactor', 'node')).toEqual(theirs);
  expect(await codesSeen('node', 'reactor')).toEqual(theirs);
}, 20_000);

test("a client that rejects it fails with node's code and message", async () => {
  const chain = Buffer.concat([read('leaf.pem'), read('inter.pem')]);
  const port = await listenLocal(track(tls.createServer({ key: read('leaf.key'), cert: chain }, (socket) => socket.end())) as never);
  const failure = (socket: tls.TLSSocket): Promise<NodeJS.ErrnoException> =>
    new Promise((resolve) => socket.once('error', resolve));
  const options = { servername: 'localhost', ca: read('root.pem') };
  const theirs = await failure(track(tls.connect({ host: '127.0.0.1', port, ...options })));
  const ours = await failure(track(connect({ host: '127.0.0.1', port, tls: options })) as unknown as tls.TLSSocket);
  expect(theirs.code).toBe('INVALID_CA');
  expect([ours.code, ours.message]).toEqual([theirs.code, theirs.message]);
}, 20_000);
