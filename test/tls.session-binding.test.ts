// Whether reactor TLS servers bind sessions to the SNI name follows what the
// running node's own server does (lib/session-binding.ts): the release's
// guess, then node's answer to a probe, which no later guess undoes (a
// Worker's first TLS server guesses again, in a process whose main thread
// may have the answer). test/tls.sessions.test.ts compares the behaviour
// itself with node:tls's.
import * as tls from 'node:tls';

import { createSecureServer } from '../lib';
import { binding } from '../lib/binding';
import { boundByRelease, probeSessionBinding } from '../lib/session-binding';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

test.each<[string, boolean]>([
  ['20.20.2', false], ['22.22.0', false], ['22.23.4', false], ['22.23.5', true], ['22.24.0', true],
  ['24.21.9', false], ['24.22.3', true], ['24.23.1', true], ['26.12.1', false], ['25.9.0', false],
])('the release guess for Node %s: bound %s', (version, bound) => {
  expect(boundByRelease(version)).toBe(bound);
});

/** Whether a reactor server resumes, under another SNI name, a session it made under 'localhost' (TLS 1.2). */
async function resumesUnderAnotherName(): Promise<boolean> {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, maxVersion: 'TLSv1.2' }, (socket) => socket.resume()));
  const port = await listenLocal(server);
  const visit = (servername: string, session?: Buffer): Promise<{ reused: boolean; session: Buffer }> => new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, session, rejectUnauthorized: false });
    socket.once('error', reject);
    socket.once('secureConnect', () => { if (socket.isSessionReused()) { socket.end(); resolve({ reused: true, session: session! }); } });
    socket.once('session', (saved: Buffer) => { if (!socket.isSessionReused()) { socket.end(); resolve({ reused: false, session: saved }); } });
    socket.resume();
  });
  const first = await visit('localhost');
  // The bare DER, which node's client offers to any name without checking.
  const wrapped = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');
  const der = first.session.subarray(0, wrapped.length).equals(wrapped)
    ? first.session.subarray(wrapped.length + 2 + first.session.readUInt16BE(wrapped.length)) : first.session;
  return (await visit('other.test', der)).reused;
}

(binding.tlsBindSessionsToServername ? test : test.skip)("node's answer is followed, and a guess after it changes nothing", async () => {
  const bound = await probeSessionBinding();
  expect(typeof bound).toBe('boolean');
  expect(await resumesUnderAnotherName()).toBe(!bound);
  // An answer the release would not guess, standing in for a node whose
  // release the guess gets wrong; then a guess, as a Worker's first TLS
  // server makes (its own probe then answers again, alike).
  binding.tlsBindSessionsToServername!(!bound, true);
  try {
    expect(await resumesUnderAnotherName()).toBe(bound);
    binding.tlsBindSessionsToServername!(bound!, false);
    expect(await resumesUnderAnotherName()).toBe(bound);
  } finally {
    binding.tlsBindSessionsToServername!(bound!, true);
  }
  expect(await resumesUnderAnotherName()).toBe(!bound);
}, 30_000);
