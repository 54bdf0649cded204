// A throwaway self-signed certificate for localhost, made at test time with the
// openssl CLI (node:crypto cannot make an X.509 certificate) into a temporary
// directory that `remove()` deletes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestCertificate {
  key: Buffer;
  cert: Buffer;
  /** Deletes the temporary directory holding the key and certificate. */
  remove(): void;
}

const OPENSSL = '/usr/bin/openssl';

/** Makes a one-day RSA certificate for CN=localhost; fails clearly without openssl. */
export function makeTestCertificate(): TestCertificate {
  if (!fs.existsSync(OPENSSL)) {
    throw new Error(`${OPENSSL} is not installed: it is needed to make the test certificate`);
  }
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-cert-'));
  const keyPath = path.join(directory, 'key.pem');
  const certPath = path.join(directory, 'cert.pem');
  try {
    execFileSync(OPENSSL, [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyPath, '-out', certPath,
    ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
    return {
      key: fs.readFileSync(keyPath),
      cert: fs.readFileSync(certPath),
      remove: () => fs.rmSync(directory, { recursive: true, force: true }),
    };
  } catch (error) {
    fs.rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}
