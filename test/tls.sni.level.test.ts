// A TLS handshake waiting for its SNICallback's answer, with the reactor in
// level-triggered mode: the bytes a client sends meanwhile must not be
// reported every turn (the reactor thread spun at a full core until the
// answer, found by a cold review). The reactor thread's own CPU time is
// measured (/proc/self/task), not the process's, which counts V8's and the
// sanitizers' threads too.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { configure, createSecureServer } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';
import { cpuShareOver, reactorThreadStat } from './reliability/fault-child';

// On a thread of its own whatever EPOLL_REACTOR_THREAD says, to be measured.
configure({ trigger: 'level', thread: 'own' });
afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

test('while the SNICallback decides, bytes the client sends do not spin the reactor thread; the answer is still heard', async () => {
  let answer: ((error: Error | null) => void) | undefined;
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert,
    SNICallback: (_name, callback) => { answer = callback; } }));
  const failures: Error[] = [];
  server.on('tlsClientError', (error: Error) => failures.push(error));
  const port = await listenLocal(server);
  const raw = track(net.connect(port, '127.0.0.1'));
  const client = track(tls.connect({ socket: raw, servername: 'a.example', rejectUnauthorized: false }));
  client.on('error', () => undefined);
  await waitFor(() => answer !== undefined, 5000, 'the SNICallback to be asked');
  // Bytes after the ClientHello, waiting in the server's socket.
  raw.write(Buffer.alloc(64, 0x17));
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Spinning, it spends about a whole core.
  expect(await cpuShareOver(reactorThreadStat(), 500)).toBeLessThan(0.2);
  // The answer resumes the handshake, which then meets the junk and fails.
  answer!(null);
  await waitFor(() => failures.length > 0, 5000, 'the handshake to end');
});
