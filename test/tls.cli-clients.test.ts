// Real TLS clients other than node's against the reactor's TLS server:
// `curl --cacert` (an HTTP/1.1 request, ALPN http/1.1) and `openssl s_client`
// (a line echoed back over TLSv1.2 and TLSv1.3). Each child is ended by pid.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';

import { createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal, mustCall, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const CURL = '/usr/bin/curl';
const OPENSSL = '/usr/bin/openssl';

// The CLI clients run without the sanitizer runtime scripts/sanitize.sh
// preloads for node: it is our addon under test, and curl under a preloaded
// ASan exits before connecting.
const { LD_PRELOAD: _preload, ...clientEnv } = process.env;

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

(fs.existsSync(CURL) ? test : test.skip)('curl --cacert gets an HTTP answer over reactor TLS', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ALPNProtocols: ['http/1.1'] },
    mustCall((socket: SecureSocket) => {
      expect(socket.alpnProtocol).toBe('http/1.1');
      let request = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        request += chunk;
        if (request.includes('\r\n\r\n')) {
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello, curl\n');
        }
      });
    })));
  const port = await listenLocal(server);
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile(CURL, ['--silent', '--show-error', '--max-time', '20', '--http1.1', '--cacert', pki.paths.caCert,
      '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/`], { timeout: 30_000, env: clientEnv },
    (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
    track(child);
  });
  expect(output).toBe('hello, curl\n');
});

test.each(['-tls1_2', '-tls1_3'])('openssl s_client %s: a line goes out and comes back', async (version) => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  }));
  const port = await listenLocal(server);
  const child = track(spawn(OPENSSL, ['s_client', '-quiet', version, '-connect', `127.0.0.1:${port}`,
    '-servername', 'localhost', '-CAfile', pki.paths.caCert, '-verify_return_error'], { stdio: ['pipe', 'pipe', 'pipe'], env: clientEnv }));
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => { output += chunk; });
  child.stdin.write('ping over s_client\n');
  await waitFor(() => output.includes('ping over s_client\n'), 20_000, 's_client to print the echo');
  child.stdin.end();
  child.kill();
  await once(child, 'exit');
});

test.each(['-tls1_2', '-tls1_3'])('openssl s_client -maxfraglen 512 %s: 64 KiB of small writes arrive intact', async (version) => {
  // OpenSSL's server grants the client's max_fragment_length by itself; the
  // session then hands it at most 512 bytes a record (TlsSession's recordBytes_).
  const body = Buffer.alloc(64 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = 0x61 + (i % 26);
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.once('data', () => {
      for (let at = 0; at < body.length; at += 1000) socket.write(body.subarray(at, at + 1000));
    });
  }));
  const port = await listenLocal(server);
  const child = track(spawn(OPENSSL, ['s_client', '-quiet', version, '-maxfraglen', '512', '-connect', `127.0.0.1:${port}`,
    '-servername', 'localhost', '-CAfile', pki.paths.caCert, '-verify_return_error'], { stdio: ['pipe', 'pipe', 'pipe'], env: clientEnv }));
  const received: Buffer[] = [];
  let length = 0;
  child.stdout.on('data', (chunk: Buffer) => { received.push(chunk); length += chunk.length; });
  child.stdin.write('go\n');
  await waitFor(() => length >= body.length, 20_000, 's_client to print 64 KiB');
  expect(Buffer.concat(received).equals(body)).toBe(true);
  child.stdin.end();
  child.kill();
  await once(child, 'exit');
});
