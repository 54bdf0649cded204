// `dhparam` works as node:tls's: a server given Diffie-Hellman parameters (or
// 'auto') offers the DHE ciphers, one given none, or parameters that do not
// parse, does not, and parameters node refuses are refused with its error.
// Each outcome is compared with node:tls's against the same client, and
// serveHttp keeps reactor TLS for an https.Server given dhparam.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket, serveHttp } from '../lib';
import { checkMustCalls, listenLocal, mustBeInstanceOf, thrownCode } from './helpers';
import { makeTestCertificate, TestCertificate } from './helpers/cert';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

// DHE needs an RSA key: there are no DHE ciphers for ECDSA.
let identity: TestCertificate;
let directory: string;
let parameters: { ffdhe2048: Buffer; small: Buffer; medium: Buffer; ec: Buffer; dsa: Buffer; x942: Buffer };

/** Parameters made by the openssl CLI into a temporary folder. */
function openssl(args: string[], file: string): Buffer {
  const out = path.join(directory, file);
  execFileSync('/usr/bin/openssl', [...args, '-out', out], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
  return fs.readFileSync(out);
}

beforeAll(() => {
  identity = makeTestCertificate();
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-dh-'));
  parameters = {
    // RFC 7919's group: made at once, and what 'auto' picks for a 2048-bit key.
    ffdhe2048: openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048'], 'ffdhe2048.pem'),
    small: openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'dh_paramgen_prime_len:512'], 'dh512.pem'),
    // 1024 bits: node takes them with a SecurityWarning (a safe prime: a second or two).
    medium: openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'dh_paramgen_prime_len:1024'], 'dh1024.pem'),
    ec: openssl(['ecparam', '-name', 'prime256v1'], 'ec.pem'),
    dsa: openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:1024'], 'dsa.pem'),
    x942: openssl(['genpkey', '-genparam', '-algorithm', 'DHX', '-pkeyopt', 'group:dh_2048_256'], 'x942.pem'),
  };
}, 30_000);
afterAll(() => {
  identity.remove();
  fs.rmSync(directory, { recursive: true, force: true });
});

// A TLSv1.2 client that offers nothing but a DHE cipher.
const dheOnly = { ciphers: 'DHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' as const };

/** What a node client offering only DHE gets from a server: "<cipher> <key type> <bits>", or "failed". */
function dheClientOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const client = track(tls.connect({ host: '127.0.0.1', port, ca: identity.cert, servername: 'localhost', ...dheOnly }, () => {
      const key = client.getEphemeralKeyInfo() as { type?: string; size?: number };
      resolve(`${client.getCipher().name} ${key.type} ${key.size}`);
      client.destroy();
    }));
    client.on('error', () => resolve('failed'));
  });
}

async function serverPort(make: typeof tls.createServer | typeof createSecureServer, dhparam: unknown): Promise<number> {
  const options = { key: identity.key, cert: identity.cert, ...(dhparam === undefined ? {} : { dhparam }) };
  const server = track((make as typeof tls.createServer)(options as tls.TlsOptions, (socket) => socket.end()));
  server.on('tlsClientError', () => {});
  return listenLocal(server as never);
}

const DHE = 'DHE-RSA-AES128-GCM-SHA256 DH 2048';

test.each<[string, () => unknown, string]>([
  ['no dhparam', () => undefined, 'failed'],
  ['RFC 7919 parameters as a Buffer', () => parameters.ffdhe2048, DHE],
  ['the same parameters as a string', () => parameters.ffdhe2048.toString(), DHE],
  ["'auto'", () => 'auto', DHE],
  ['text that is no PEM (dropped, as node drops it)', () => 'no parameters here', 'failed'],
  ['EC parameters (not DH: dropped)', () => parameters.ec, 'failed'],
])('a reactor TLS server with %s offers DHE exactly when node:tls does', async (_name, dhparam, expected) => {
  const ours = await dheClientOutcome(await serverPort(createSecureServer, dhparam()));
  const theirs = await dheClientOutcome(await serverPort(tls.createServer, dhparam()));
  expect(ours).toBe(theirs);
  expect(ours).toBe(expected);
}, 20_000);

// Which block node takes from a text of several differs: Node 20 and 22 the
// first DH block (a broken one means none), Node 24 and later the first
// parameters that decode (EC or DSA ones first mean none, X9.42 is refused).
test.each<[string, () => string]>([
  ['EC parameters, then DH parameters', () => `${parameters.ec}${parameters.ffdhe2048}`],
  ['DSA parameters, then DH parameters', () => `${parameters.dsa}${parameters.ffdhe2048}`],
  ['a broken DH block, then a good one', () => `-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n${parameters.ffdhe2048}`],
  ['a certificate and a key, then DH parameters', () => `${identity.cert}${identity.key}${parameters.ffdhe2048}`],
  ['DH parameters, then EC parameters', () => `${parameters.ffdhe2048}${parameters.ec}`],
  ['X9.42 DH parameters', () => parameters.x942.toString()],
])('a reactor TLS server given %s takes the block node takes', async (_name, dhparam) => {
  const ours = await dheClientOutcome(await serverPort(createSecureServer, dhparam()));
  const theirs = await dheClientOutcome(await serverPort(tls.createServer, dhparam()));
  expect(ours).toBe(theirs);
}, 20_000);

test('dhparam node refuses is refused with its error, before a server or client exists', () => {
  for (const dhparam of [parameters.small, 5]) {
    const theirs = thrownCode(() => tls.createServer({ key: identity.key, cert: identity.cert, dhparam: dhparam as never }));
    expect(theirs).toMatch(/^ERR_INVALID_ARG_(VALUE|TYPE)$/);
    expect(thrownCode(() => createSecureServer({ key: identity.key, cert: identity.cert, dhparam: dhparam as never }))).toBe(theirs);
    // Port 9 is never reached: the call throws first.
    expect(thrownCode(() => connect({ host: '127.0.0.1', port: 9, tls: { dhparam: dhparam as never } }))).toBe(theirs);
  }
});

test('a reactor TLS client takes dhparam, as tls.connect does, and negotiates DHE with a server that has it', async () => {
  const port = await serverPort(tls.createServer, parameters.ffdhe2048);
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: identity.cert, servername: 'localhost', dhparam: 'auto', ...dheOnly } }));
  await once(socket, 'secureConnect');
  expect((socket as SecureSocket).getCipher()?.name).toBe('DHE-RSA-AES128-GCM-SHA256');
  socket.destroy();
});

test('serveHttp keeps reactor TLS for an https.Server with dhparam, and serves DHE from it', async () => {
  const httpsServer = https.createServer({ key: identity.key, cert: identity.cert, dhparam: parameters.ffdhe2048 }, (req, res) => {
    res.end((req.socket as tls.TLSSocket).getCipher().name);
  });
  // Reactor TLS: no raw 'connection' for node:tls to wrap.
  httpsServer.prependListener('connection', mustBeInstanceOf(SecureSocket, 'a raw connection for node:tls'));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, ca: identity.cert, servername: 'localhost', agent: false, ...dheOnly }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  expect(body).toBe('DHE-RSA-AES128-GCM-SHA256');
  httpsServer.close();
  httpsServer.closeAllConnections();
}, 20_000);

test('serveHttp adds no second SecurityWarning for an https.Server\'s small dhparam: node warned once already', async () => {
  // In a process of its own: jest's `process` does not hear node's warnings.
  // Node 24 and later refuse 1024-bit parameters outright (OpenSSL's
  // security level), so there is nothing to compare there.
  const script = `
    const fs = require('node:fs'); const https = require('node:https');
    const { serveHttp } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
    const warnings = [];
    process.on('warning', (warning) => warnings.push(warning.name + ': ' + warning.message));
    const [key, cert, dhparam] = process.argv.slice(1).map((file) => fs.readFileSync(file));
    let httpsServer;
    try {
      httpsServer = https.createServer({ key, cert, dhparam });
    } catch (error) {
      console.log(JSON.stringify({ refused: error.code }));
    }
    if (httpsServer) setImmediate(() => {
      const created = [...warnings];
      const server = serveHttp(httpsServer, { port: 0, host: '127.0.0.1' });
      server.on('listening', () => setImmediate(() => {
        console.log(JSON.stringify({ created, served: warnings.slice(created.length) }));
        httpsServer.close();
      }));
    });`;
  const files = (['key', 'cert'] as const).map((name) => {
    fs.writeFileSync(path.join(directory, `identity-${name}.pem`), identity[name]);
    return path.join(directory, `identity-${name}.pem`);
  });
  const output = execFileSync(process.execPath, ['-e', script, ...files, path.join(directory, 'dh1024.pem')],
    { encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'ignore'] });
  const result = JSON.parse(output) as { refused?: string; created?: string[]; served?: string[] };
  if (result.refused !== undefined) {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    return;
  }
  expect(result.created).toEqual(['SecurityWarning: DH parameter is less than 2048 bits']);
  expect(result.served).toEqual([]);
});
