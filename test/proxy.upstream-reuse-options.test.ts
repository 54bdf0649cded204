// The proxy's --no-upstream-session-reuse (and its config-file and
// programmatic forms): by default each upstream connection offers the
// upstream's newest TLS session; the flag turns that off, needs
// --upstream-tls, and a bad programmatic value is a usage error.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { parseProxyArgs, ProxyOptions, UsageError, withDefaults } from '../lib/proxy/options';

const base = ['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9'];

function parsed(argv: string[]): ProxyOptions {
  const result = parseProxyArgs(argv);
  if (result.help) throw new Error('help');
  return result.options;
}

test('sessions are reused unless the flag, or its config key, says not to', () => {
  expect(parsed([...base, '--upstream-tls']).upstreamTls?.reuseSessions).toBeUndefined();
  expect(parsed([...base, '--upstream-tls', '--no-upstream-session-reuse']).upstreamTls?.reuseSessions).toBe(false);
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-proxy-config-'));
  try {
    const file = path.join(directory, 'proxy.json');
    fs.writeFileSync(file, JSON.stringify({ 'upstream-tls': true, 'no-upstream-session-reuse': true }));
    expect(parsed([...base, '--config', file]).upstreamTls?.reuseSessions).toBe(false);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test('the flag needs --upstream-tls; reuseSessions must be a boolean', () => {
  expect(() => parsed([...base, '--no-upstream-session-reuse'])).toThrow(UsageError);
  const config = { listen: { host: '127.0.0.1', port: 0 }, upstreams: [{ host: '127.0.0.1', port: 9 }] };
  expect(withDefaults({ ...config, upstreamTls: { reuseSessions: false } }).upstreamTls?.reuseSessions).toBe(false);
  expect(withDefaults({ ...config, upstreamTls: {} }).upstreamTls?.reuseSessions).toBeUndefined();
  expect(() => withDefaults({ ...config, upstreamTls: { reuseSessions: 'no' as never } })).toThrow(UsageError);
});
