// connect({ tls }) remembers what it made of a client's options (node's
// createSecureContext checks cost about 300 µs a connect) and the
// subjectAltName of server certificates it has parsed. Neither may change an
// outcome: options that differ, in any value or byte, are checked and used
// anew; bad options throw on every connect; a certificate's names are the
// same whether parsed or remembered.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

async function serverPort(): Promise<number> {
  return listenLocal(track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end())));
}

/** 'ok' with the certificate's subjectaltname, or the error's code. */
async function outcome(port: number, options: Record<string, unknown>): Promise<string> {
  const socket = track(connect({ host: '127.0.0.1', port, tls: { servername: 'localhost', ...options } as never })) as SecureSocket;
  return new Promise((resolve) => {
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerCertificate() as { subjectaltname?: string };
      resolve(`ok ${certificate.subjectaltname}`);
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

test('each connect uses the trust it is given: values, array items and bytes changed in place all count', async () => {
  const port = await serverPort();
  const trusted = 'ok DNS:localhost, IP Address:127.0.0.1';
  expect(await outcome(port, { ca: pki.caCert })).toBe(trusted);
  expect(await outcome(port, { ca: pki.rogueCert })).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  expect(await outcome(port, { ca: pki.caCert })).toBe(trusted);
  const list = [pki.caCert];
  expect(await outcome(port, { ca: list })).toBe(trusted);
  list[0] = pki.rogueCert;
  expect(await outcome(port, { ca: list })).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  // One Buffer, its bytes replaced between two connects.
  const bytes = Buffer.from(pki.caCert);
  expect(await outcome(port, { ca: bytes })).toBe(trusted);
  bytes.fill(0x41);
  const theirs = await new Promise<string>((resolve) => {
    try {
      const socket = track(tls.connect({ host: '127.0.0.1', port, ca: bytes, servername: 'localhost' }));
      socket.once('secureConnect', () => resolve('ok'));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    } catch (error) {
      resolve(`throws ${(error as NodeJS.ErrnoException).code}`);
    }
  });
  let ours: string;
  try {
    ours = await outcome(port, { ca: bytes });
  } catch (error) {
    ours = `throws ${(error as NodeJS.ErrnoException).code}`;
  }
  expect(ours).toBe(theirs);
});

test('bad options throw on every connect, as tls.connect', async () => {
  const port = await serverPort();
  for (let i = 0; i < 3; i++) {
    expect(() => connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, minVersion: 'TLSv9' as never } }))
      .toThrow(expect.objectContaining({ code: 'ERR_TLS_INVALID_PROTOCOL_VERSION' }));
  }
});

test('a certificate whose names were parsed before is judged the same: its names, and a name it lacks', async () => {
  const port = await serverPort();
  for (let i = 0; i < 3; i++) {
    expect(await outcome(port, { ca: pki.caCert })).toBe('ok DNS:localhost, IP Address:127.0.0.1');
    expect(await outcome(port, { ca: pki.caCert, servername: 'elsewhere.test' })).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  }
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  await once(socket, 'secureConnect');
  expect(tls.checkServerIdentity('localhost', socket.getPeerCertificate() as tls.PeerCertificate)).toBeUndefined();
});

test('a ca given empty trusts nothing and a falsy one means node\'s roots, as tls.connect (roots that trust the server)', async () => {
  const port = await serverPort();
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [path.join(__dirname, 'fixtures', 'ca-given-empty.js')], {
      env: { ...process.env, PORT: String(port), NODE_EXTRA_CA_CERTS: pki.paths.caCert }, timeout: 30_000,
    }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
    track(child);
  });
  const lines = output.trim().split('\n').map((line) => JSON.parse(line) as { ca: string; theirs: string; ours: string });
  expect(lines.map((line) => line.ca)).toEqual(['[]', "''", 'undefined']);
  for (const line of lines) expect(line.ours).toBe(line.theirs);
  // The roots trust the server: only the empty list fails.
  expect(lines.map((line) => line.ours)).toEqual(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'authorized', 'authorized']);
});

test('options are remembered only while node\'s defaults stay as they were', async () => {
  const port = await serverPort();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const defaults = require('node:tls') as { DEFAULT_MAX_VERSION: string };
  const saved = defaults.DEFAULT_MAX_VERSION;
  try {
    const protocol = async (): Promise<string | null> => {
      const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
      await once(socket, 'secureConnect');
      const version = socket.getProtocol();
      socket.destroy();
      return version;
    };
    expect(await protocol()).toBe('TLSv1.3');
    defaults.DEFAULT_MAX_VERSION = 'TLSv1.2';
    expect(await protocol()).toBe('TLSv1.2');
  } finally {
    defaults.DEFAULT_MAX_VERSION = saved;
  }
});

test('a ca list with a hole is read as node reads it (the hole skipped), on every connect', async () => {
  const port = await serverPort();
  for (let i = 0; i < 2; i++) {
    // eslint-disable-next-line no-sparse-arrays
    expect(await outcome(port, { ca: [, pki.caCert] as unknown as Buffer[] })).toMatch(/^ok/);
  }
});
