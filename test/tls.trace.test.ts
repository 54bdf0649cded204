// enableTrace, as node:tls has it: OpenSSL's own trace of every record a
// connection sends and receives, written to stderr from the reactor thread
// (a debugging aid). A server's option traces its connections from the
// ClientHello they receive; a client's option, or enableTrace() called right
// after connect(), traces from the ClientHello it sends; and an https.Server
// made with enableTrace stays on reactor TLS under serveHttp, traced.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { connect, createSecureServer } from '../lib';
import { tlsAvailable } from '../lib/tls';
import { thrownCode } from './helpers';
import { makeTestPki, TestPki } from './helpers/tls-pki';

jest.setTimeout(30000);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/** Runs test/fixtures/tls-trace.js in `mode` (with node's `flags`) and returns its JSON line and its stderr; ends it by pid. */
async function traced(mode: string, flags: string[] = []): Promise<{ result: Record<string, unknown>; stderr: string }> {
  const child = spawn(process.execPath, [...flags, path.join(__dirname, 'fixtures', 'tls-trace.js'), mode], {
    env: { ...process.env, TRACE_KEY: pki.paths.serverKey, TRACE_CERT: pki.paths.serverCert, TRACE_CA: pki.paths.caCert },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const timer = setTimeout(() => process.kill(child.pid!, 'SIGKILL'), 20000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  expect({ code, stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/) });
  return { result: JSON.parse(stdout) as Record<string, unknown>, stderr };
}

/**
 * The direction and first handshake message of the first record in OpenSSL's
 * trace ("Sent Record" in OpenSSL 3.0, "Sent TLS Record" in 3.5).
 */
function firstRecord(trace: string): [string, string] | undefined {
  const match = /^(Sent|Received)(?: TLS)? Record\n[\s\S]*?^\s+(\w+), Length=/m.exec(trace);
  return match === null ? undefined : [match[1], match[2]];
}

const whenTls = tlsAvailable ? test : test.skip;

whenTls('a server made with enableTrace traces from the ClientHello it receives', async () => {
  const { result, stderr } = await traced('server');
  expect(result).toEqual({ echoed: 'x' });
  expect(firstRecord(stderr)).toEqual(['Received', 'ClientHello']);
  expect(stderr).toMatch(/^Sent(?: TLS)? Record\n[\s\S]*?ServerHello, Length=/m);
});

whenTls('a client with enableTrace traces from the ClientHello it sends', async () => {
  const { result, stderr } = await traced('client');
  expect(result).toEqual({ echoed: 'x' });
  expect(firstRecord(stderr)).toEqual(['Sent', 'ClientHello']);
  expect(stderr).toMatch(/^Received(?: TLS)? Record\n[\s\S]*?ServerHello, Length=/m);
});

whenTls('enableTrace() right after connect() traces the whole handshake', async () => {
  const { result, stderr } = await traced('method');
  expect(result).toEqual({ echoed: 'x' });
  expect(firstRecord(stderr)).toEqual(['Sent', 'ClientHello']);
});

whenTls('without enableTrace nothing is traced', async () => {
  const { result, stderr } = await traced('none');
  expect(result).toEqual({ echoed: 'x' });
  expect(stderr).not.toMatch(/Record/);
});

whenTls('node\'s --trace-tls traces every connection that does not say otherwise, with node\'s warning', async () => {
  const { result, stderr } = await traced('none', ['--trace-tls']);
  expect(result).toEqual({ echoed: 'x' });
  expect(stderr).toContain('Enabling --trace-tls can expose sensitive data in the resulting log.');
  // The client's ClientHello, sent and then received by the server.
  expect(stderr).toMatch(/^Sent(?: TLS)? Record\n[\s\S]*?ClientHello, Length=[\s\S]*?^Received(?: TLS)? Record\n/m);
});

whenTls('an https.Server made with enableTrace is served by reactor TLS, traced', async () => {
  const { result, stderr } = await traced('https');
  expect(result).toEqual({ status: 200, reactorTls: true });
  expect(firstRecord(stderr)).toEqual(['Received', 'ClientHello']);
});

test('enableTrace must be a boolean, as node:tls checks it', () => {
  expect(thrownCode(() => createSecureServer({ enableTrace: 'yes' as unknown as boolean }))).toBe('ERR_INVALID_ARG_TYPE');
  if (!tlsAvailable) return;
  expect(thrownCode(() => connect({ port: 1, host: '127.0.0.1', tls: { enableTrace: 1 as unknown as boolean } })))
    .toBe('ERR_INVALID_ARG_TYPE');
});
