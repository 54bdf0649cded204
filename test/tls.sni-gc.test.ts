// Native contexts built for SNI choices go once what they were built from is
// garbage: here an SNICallback making a context with node's
// tls.createSecureContext per handshake (test/fixtures/sni-node-contexts-gc.js).
import { execFile } from 'node:child_process';
import * as path from 'node:path';

import { issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

test("an SNICallback making node's contexts per handshake leaves no native context behind once they are collected", async () => {
  const alpha = issueServerCertificate(pki, ['a.example']);
  const fixture = path.join(__dirname, 'fixtures', 'sni-node-contexts-gc.js');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', fixture], {
      timeout: 60000, encoding: 'utf8', env: { ...process.env, SNI_KEY: alpha.keyPath, SNI_CERT: alpha.certPath },
    }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
  });
  const { before, afterHandshakes, afterGc } = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
  // Some were built (one per handshake, unless collected already), and all of them went.
  expect(afterHandshakes).toBeGreaterThan(before);
  expect(afterGc).toBe(before);
}, 90000);
