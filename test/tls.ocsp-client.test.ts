// A client's requestOCSP, as tls.connect's: it asks the server to staple an
// OCSP response, and 'OCSPResponse' comes before 'secureConnect' with the
// bytes stapled, or with null when none were. Each case runs with
// tls.connect and with connect({ tls }) against the same node:tls server,
// and both clients must see the same.
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/** What a client saw, in order: each event with its argument, until its 'secureConnect' or 'error'. */
type Seen = Array<string>;

function watch(socket: tls.TLSSocket | SecureSocket): Promise<{ seen: Seen; session?: Buffer }> {
  return new Promise((resolve) => {
    const seen: Seen = [];
    let session: Buffer | undefined;
    socket.on('session', (data: Buffer) => { session = data; });
    socket.on('OCSPResponse', (response: Buffer | null) => {
      seen.push(`OCSPResponse ${response === null ? 'null' : response.toString('latin1')}`);
    });
    socket.once('error', (error: Error & { code?: string }) => resolve({ seen: [...seen, `error ${error.code}`] }));
    socket.once('secureConnect', () => {
      seen.push(`secureConnect reused=${String(socket.isSessionReused())}`);
      // The TLS 1.3 ticket comes after the handshake: wait for the echo.
      socket.write('ping');
      socket.once('data', () => {
        socket.destroy();
        resolve({ seen, session });
      });
    });
  });
}

/** The options these cases vary (node's types leave requestOCSP to TLSSocket's options). */
interface ClientOptions { requestOCSP?: boolean; maxVersion?: tls.SecureVersion; session?: Buffer }

const clients: Array<[string, (port: number, options: ClientOptions) => tls.TLSSocket | SecureSocket]> = [
  ['tls.connect', (port, options) => tls.connect({
    host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...options,
  } as tls.ConnectionOptions)],
  ['connect({ tls })', (port, options) => connect({
    host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost', ...options },
  }) as SecureSocket],
];

/** A node:tls echo server that staples `staple` (none when null) to clients that ask. */
async function staplingServer(staple: Buffer | null, asked: string[] = []): Promise<number> {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  }));
  server.on('OCSPRequest', (certificate: Buffer, _issuer: Buffer | null, callback: (error: Error | null, response?: Buffer | null) => void) => {
    asked.push(`certificate ${certificate.length > 0}`);
    callback(null, staple);
  });
  return listenLocal(server);
}

describe.each(clients)('%s', (_, open) => {
  test.each(['TLSv1.2', 'TLSv1.3'] as const)("requestOCSP over %s: 'OCSPResponse' with the stapled bytes, before 'secureConnect'", async (version) => {
    const asked: string[] = [];
    const port = await staplingServer(Buffer.from('staple \u00e9\u00ff', 'latin1'), asked);
    const { seen } = await watch(track(open(port, { requestOCSP: true, maxVersion: version })));
    expect(seen).toEqual(['OCSPResponse staple \u00e9\u00ff', 'secureConnect reused=false']);
    expect(asked).toEqual(['certificate true']);
  });

  test("requestOCSP to a server that staples nothing: 'OCSPResponse' with null", async () => {
    const port = await staplingServer(null);
    expect((await watch(track(open(port, { requestOCSP: true })))).seen)
      .toEqual(['OCSPResponse null', 'secureConnect reused=false']);
  });

  test("without requestOCSP the server is not asked and there is no 'OCSPResponse'", async () => {
    const asked: string[] = [];
    const port = await staplingServer(Buffer.from('staple'), asked);
    expect((await watch(track(open(port, {})))).seen).toEqual(['secureConnect reused=false']);
    expect(asked).toEqual([]);
  });
});

test('a resumed session: the server is not asked again, and both clients hear the same', async () => {
  const heard: Seen[] = [];
  for (const [, open] of clients) {
    const asked: string[] = [];
    const port = await staplingServer(Buffer.from('staple'), asked);
    const first = await watch(track(open(port, { requestOCSP: true })));
    expect(first.session).toBeInstanceOf(Buffer);
    const second = await watch(track(open(port, { requestOCSP: true, session: first.session })));
    expect(asked).toEqual(['certificate true']);
    expect(second.seen[second.seen.length - 1]).toBe('secureConnect reused=true');
    heard.push(second.seen);
  }
  expect(heard[1]).toEqual(heard[0]);
});

test("a reactor TLS server asked for a staple answers without one: 'OCSPResponse' null on both clients", async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  }));
  const port = await listenLocal(server);
  for (const [, open] of clients) {
    expect((await watch(track(open(port, { requestOCSP: true })))).seen)
      .toEqual(['OCSPResponse null', 'secureConnect reused=false']);
  }
});
