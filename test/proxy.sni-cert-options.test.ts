// The proxy's --sni-cert NAME=CERTFILE,KEYFILE (and its config-file and
// programmatic forms): read and checked before anything listens, each
// mistake a usage error naming --sni-cert.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { parseProxyArgs, ProxyOptions, UsageError, withDefaults } from '../lib/proxy/options';
import { issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

let pki: TestPki;
let api: ReturnType<typeof issueServerCertificate>;
beforeAll(() => {
  pki = makeTestPki();
  api = issueServerCertificate(pki, ['api.example.test']);
});
afterAll(() => pki.remove());

const base = (): string[] => ['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9'];
const tlsFlags = (): string[] => ['--tls-cert', pki.paths.serverCert, '--tls-key', pki.paths.serverKey];

function parsed(argv: string[]): ProxyOptions {
  const result = parseProxyArgs(argv);
  if (result.help) throw new Error('help');
  return result.options;
}

function usageError(run: () => unknown): UsageError {
  try {
    run();
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error('no usage error');
}

test('a name (lower-cased) with its certificate and key, from the flag and from a config file', () => {
  const fromFlag = parsed([...base(), ...tlsFlags(), '--sni-cert', `API.Example.Test=${api.certPath},${api.keyPath}`]);
  expect(fromFlag.sniCerts).toEqual([{ servername: 'api.example.test', cert: api.cert.toString(), key: api.key.toString() }]);
  const config = path.join(pki.directory, 'proxy.json');
  fs.writeFileSync(config, JSON.stringify({ 'sni-cert': [`*.example.test=${api.certPath},${api.keyPath}`] }));
  expect(parsed([...base(), ...tlsFlags(), '--config', config]).sniCerts?.map((entry) => entry.servername))
    .toEqual(['*.example.test']);
});

test.each([
  ['without --tls-cert', () => [...base(), '--sni-cert', `a.test=${api.certPath},${api.keyPath}`], 'needs --tls-cert'],
  ['a name given twice', () => [...base(), ...tlsFlags(), '--sni-cert', `a.test=${api.certPath},${api.keyPath}`,
    '--sni-cert', `A.test=${api.certPath},${api.keyPath}`], 'twice'],
  ['an address as the name', () => [...base(), ...tlsFlags(), '--sni-cert', `10.0.0.1=${api.certPath},${api.keyPath}`], 'host name'],
  ['three files', () => [...base(), ...tlsFlags(), '--sni-cert', `a.test=${api.certPath},${api.keyPath},x`], 'NAME=CERTFILE,KEYFILE'],
  ['a key that is not the certificate\'s', () => [...base(), ...tlsFlags(), '--sni-cert',
    `a.test=${api.certPath},${pki.paths.serverKey}`], 'rejects the key'],
])('%s: a usage error naming --sni-cert', (_, argv, text) => {
  const error = usageError(() => parsed(argv()));
  expect(error.flag).toBe('--sni-cert');
  expect(error.message).toContain(text);
});

test('programmatic sniCerts are checked as the flag is, and need tls', () => {
  const config = {
    listen: { host: '127.0.0.1', port: 0 }, upstreams: [{ host: '127.0.0.1', port: 9 }],
    sniCerts: [{ servername: 'API.example.test', cert: api.cert.toString(), key: api.key.toString() }],
  };
  expect(usageError(() => withDefaults(config)).flag).toBe('--sni-cert');
  const tls = { cert: pki.serverCert.toString(), key: pki.serverKey.toString() };
  expect(withDefaults({ ...config, tls }).sniCerts?.[0].servername).toBe('api.example.test');
  expect(usageError(() => withDefaults({ ...config, tls, sniCerts: [...config.sniCerts, ...config.sniCerts] })).message)
    .toContain('twice');
  expect(usageError(() => withDefaults({ ...config, tls, sniCerts: [{ ...config.sniCerts[0], key: tls.key }] })).message)
    .toContain('rejects the key');
});
