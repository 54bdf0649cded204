// Throwaway keys and certificates for the TLS tests, made at test time with the
// openssl CLI into a temporary directory that `remove()` deletes: a CA, a
// server certificate for localhost signed by it, a client certificate signed
// by it, and a self-signed client certificate no one trusts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { track } from './cleanup';

export interface TestPki {
  directory: string;
  caCert: Buffer;
  serverKey: Buffer;
  serverCert: Buffer;
  clientKey: Buffer;
  clientCert: Buffer;
  rogueKey: Buffer;
  rogueCert: Buffer;
  /** Paths of the files above, for CLI clients. */
  paths: Record<'caCert' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert', string>;
  remove(): void;
}

const OPENSSL = '/usr/bin/openssl';

function run(args: string[], directory: string): void {
  execFileSync(OPENSSL, args, { cwd: directory, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 });
}

/** Makes the set with EC P-256 keys (fast to make and to use); fails clearly without openssl. */
export function makeTestPki(): TestPki {
  if (!fs.existsSync(OPENSSL)) throw new Error(`${OPENSSL} is not installed: the TLS tests need it`);
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    run(['req', '-x509', ...ec, '-subj', '/CN=epoll-reactor test CA', '-days', '2', '-keyout', 'ca.key', '-out', 'ca.pem',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], directory);
    run(['req', ...ec, '-subj', '/CN=localhost/O=epoll-reactor', '-keyout', 'server.key', '-out', 'server.csr'], directory);
    fs.writeFileSync(path.join(directory, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-extfile', 'server.ext', '-out', 'server.pem'], directory);
    run(['req', ...ec, '-subj', '/CN=test client/O=epoll-reactor', '-keyout', 'client.key', '-out', 'client.csr'], directory);
    run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-out', 'client.pem'], directory);
    run(['req', '-x509', ...ec, '-subj', '/CN=rogue client', '-days', '2', '-keyout', 'rogue.key', '-out', 'rogue.pem'], directory);
    const file = (name: string): string => path.join(directory, name);
    const read = (name: string): Buffer => fs.readFileSync(file(name));
    return {
      directory,
      caCert: read('ca.pem'),
      serverKey: read('server.key'),
      serverCert: read('server.pem'),
      clientKey: read('client.key'),
      clientCert: read('client.pem'),
      rogueKey: read('rogue.key'),
      rogueCert: read('rogue.pem'),
      paths: {
        caCert: file('ca.pem'), serverKey: file('server.key'), serverCert: file('server.pem'),
        clientKey: file('client.key'), clientCert: file('client.pem'),
      },
      remove: () => fs.rmSync(directory, { recursive: true, force: true }),
    };
  } catch (error) {
    fs.rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Connects node's tls client to 127.0.0.1:`port`, trusting `pki`'s CA and
 * checking the name localhost; resolves once the handshake is done. Tracked
 * for release after the test (helpers/cleanup).
 */
export function connectTls(pki: TestPki, port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...options },
      () => resolve(socket)));
    socket.once('error', reject);
  });
}

/**
 * A key and a certificate for `names` (DNS names; the first is the CN),
 * signed by `pki`'s CA: another server identity, for SNI.
 */
export function issueServerCertificate(pki: TestPki, names: string[]):
  { key: Buffer; cert: Buffer; keyPath: string; certPath: string } {
  const base = `named-${names[0].replace(/[^a-z0-9]/gi, '_')}-${Math.random().toString(36).slice(2)}`;
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', ...ec, '-subj', `/CN=${names[0]}/O=epoll-reactor`, '-keyout', `${base}.key`, '-out', `${base}.csr`],
    pki.directory);
  fs.writeFileSync(path.join(pki.directory, `${base}.ext`), `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}\n`);
  run(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', `${base}.ext`, '-out', `${base}.pem`], pki.directory);
  const keyPath = path.join(pki.directory, `${base}.key`);
  const certPath = path.join(pki.directory, `${base}.pem`);
  return { key: fs.readFileSync(keyPath), cert: fs.readFileSync(certPath), keyPath, certPath };
}

/**
 * An intermediate CA signed by `pki`'s CA, with a server certificate for
 * localhost and a client certificate that it signed: chains of three, for
 * what getPeerCertificate(true) links.
 */
export function issueIntermediateChain(pki: TestPki):
  { intermediateCert: Buffer; serverKey: Buffer; serverCert: Buffer; clientKey: Buffer; clientCert: Buffer } {
  const base = `chain-${Math.random().toString(36).slice(2)}`;
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const file = (name: string): string => path.join(pki.directory, `${base}-${name}`);
  fs.writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run(['req', ...ec, '-subj', '/CN=epoll-reactor test intermediate', '-keyout', file('ca.key'), '-out', file('ca.csr')], pki.directory);
  run(['x509', '-req', '-in', file('ca.csr'), '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', file('ca.ext'), '-out', file('ca.pem')], pki.directory);
  for (const [name, subject, extensions] of [['server', '/CN=localhost/O=chained', ['-extfile', file('server.ext')]],
    ['client', '/CN=chained client/O=epoll-reactor', []]] as const) {
    run(['req', ...ec, '-subj', subject, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`)], pki.directory);
    run(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
      '-days', '2', ...extensions, '-out', file(`${name}.pem`)], pki.directory);
  }
  const read = (name: string): Buffer => fs.readFileSync(file(name));
  return {
    intermediateCert: read('ca.pem'), serverKey: read('server.key'), serverCert: read('server.pem'),
    clientKey: read('client.key'), clientCert: read('client.pem'),
  };
}

/**
 * Two CAs that certify each other (a bridge), trusted only as those cross
 * certificates, and a server certificate for localhost under the first: a
 * trust store in which issuers lead round and round.
 */
export function issueCrossCertifiedCas(pki: TestPki): { crossCerts: Buffer[]; serverKey: Buffer; serverCert: Buffer } {
  const base = `bridge-${Math.random().toString(36).slice(2)}`;
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const file = (name: string): string => path.join(pki.directory, `${base}-${name}`);
  fs.writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const name of ['a', 'b']) {
    run(['req', '-x509', ...ec, '-subj', `/CN=bridge ${name}`, '-days', '2', '-keyout', file(`${name}.key`), '-out', file(`${name}-self.pem`),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], pki.directory);
    run(['req', '-new', '-key', file(`${name}.key`), '-subj', `/CN=bridge ${name}`, '-out', file(`${name}.csr`)], pki.directory);
  }
  // a's key certified by b, and b's by a.
  for (const [subject, issuer] of [['a', 'b'], ['b', 'a']]) {
    run(['x509', '-req', '-in', file(`${subject}.csr`), '-CA', file(`${issuer}-self.pem`), '-CAkey', file(`${issuer}.key`),
      '-CAcreateserial', '-days', '2', '-extfile', file('ca.ext'), '-out', file(`${subject}-by-${issuer}.pem`)], pki.directory);
  }
  run(['req', ...ec, '-subj', '/CN=localhost/O=bridged', '-keyout', file('server.key'), '-out', file('server.csr')], pki.directory);
  run(['x509', '-req', '-in', file('server.csr'), '-CA', file('a-self.pem'), '-CAkey', file('a.key'), '-CAcreateserial',
    '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem')], pki.directory);
  const read = (name: string): Buffer => fs.readFileSync(file(name));
  return { crossCerts: [read('a-by-b.pem'), read('b-by-a.pem')], serverKey: read('server.key'), serverCert: read('server.pem') };
}
