// The addon calls node's own OpenSSL and links no libssl: every OpenSSL
// function it references is in src-native/tls_symbols.h (weak, and checked at
// load), and the running node exports each of them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { binding } from '../lib/binding';
import { environmentWithoutPreload } from './helpers';

const root = path.join(__dirname, '..');
// The addon this process loads, found as lib/binding.ts finds it: the work
// tree's build, or the one EPOLL_REACTOR_PREBUILD names (the sanitizer
// builds, other Nodes' builds, a prebuild). nm reads its dynamic symbols
// (-D), which a stripped prebuild keeps.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon = (require('node-gyp-build') as { path(dir: string): string }).path(root);
const NM = '/usr/bin/nm';
const haveTools = fs.existsSync(NM) && fs.existsSync(addon);

/** Every function tls_symbols.h lists; `required`: only those TlsAvailable() checks, not the optional trace ones. */
function listedSymbols(which: 'all' | 'required' = 'all'): string[] {
  let text = fs.readFileSync(path.join(root, 'src-native', 'tls_symbols.h'), 'utf8');
  if (which === 'required') text = text.slice(0, text.indexOf('REACTOR_TLS_OPTIONAL_SYMBOLS'));
  return [...text.matchAll(/X\((\w+)\)/g)].map((match) => match[1]).sort();
}

(haveTools ? test : test.skip)('every OpenSSL function the addon references is listed in tls_symbols.h', () => {
  const undefinedSymbols = execFileSync(NM, ['-D', '-u', addon], { encoding: 'utf8' })
    .split('\n').map((line) => line.trim().split(/\s+/).pop() ?? '')
    .filter((name) => /^(ASN1|BIO|BN|CRYPTO|ERR|EVP|OBJ|OpenSSL|OPENSSL|OSSL|PEM|PKCS12|RAND|SSL|TLS|X509|i2d|d2i)_/.test(name) ||
      /^(i2d|d2i)_/.test(name))
    .sort();
  expect(undefinedSymbols).toEqual(listedSymbols());
});

(haveTools ? test : test.skip)('every OpenSSL reference is weak, so the addon loads on a node that exports none', () => {
  const listed = new Set(listedSymbols());
  const strong = execFileSync(NM, ['-D', '-u', addon], { encoding: 'utf8' })
    .split('\n').map((line) => line.trim().split(/\s+/))
    .filter(([kind, name]) => listed.has(name) && kind !== 'w')
    .map(([, name]) => name);
  expect(strong).toEqual([]);
});

(haveTools ? test : test.skip)('the addon links no libssl or libcrypto of its own', () => {
  const needed = execFileSync('/usr/bin/ldd', [addon], { encoding: 'utf8', env: environmentWithoutPreload() });
  expect(needed).not.toMatch(/libssl|libcrypto/);
});

(fs.existsSync(NM) ? test : test.skip)('the running node exports every listed function, and the addon says TLS is available', () => {
  const exported = new Set(execFileSync(NM, ['-D', '--defined-only', process.execPath], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n').map((line) => line.trim().split(/\s+/).pop()));
  const missing = listedSymbols('required').filter((name) => !exported.has(name));
  expect(missing).toEqual([]);
  expect(binding.tlsAvailable).toBe(true);
  // The OpenSSL the addon calls is the one node reports (process.versions.openssl, e.g. 3.0.19 or 3.5.9+quic).
  expect(binding.tlsVersion).toContain(`OpenSSL ${process.versions.openssl.replace(/\+.*/, '')} `);
});
