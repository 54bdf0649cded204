// 'keylog' as node:tls emits it: each secret of a handshake as a line of the
// NSS key log (what Wireshark reads to decrypt a capture), on a server for
// its connections (line, socket) and on a client socket for its own, once
// something listens. The reactor thread makes the secrets; the lines must be
// the ones the peer, node:tls, logs for the same connection.
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal, mustNotCall, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

const TLS13_LABELS = ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'EXPORTER_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_TRAFFIC_SECRET_0'];

const labelsOf = (lines: string[]): string[] => lines.map((line) => line.split(' ')[0]).sort();

/** node's client against `port`, with its own key log; resolves once its handshake is done. */
async function nodeClient(port: number, options: tls.ConnectionOptions = {}): Promise<string[]> {
  const lines: string[] = [];
  const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...options }));
  socket.on('keylog', (line: Buffer) => lines.push(line.toString('latin1')));
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return lines;
}

describe('a reactor server', () => {
  test.each([
    ['TLS 1.3', {}, TLS13_LABELS],
    ['TLS 1.2', { maxVersion: 'TLSv1.2' as const }, ['CLIENT_RANDOM']],
  ])('%s: emits (line, socket) for each secret, the lines node\'s client logs, before \'secureConnection\'', async (_name, versions, labels) => {
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert, ...versions }));
    const lines: string[] = [];
    const loggedFor: SecureSocket[] = [];
    server.on('keylog', (line: Buffer, socket: SecureSocket) => {
      lines.push(line.toString('latin1'));
      loggedFor.push(socket);
    });
    const secured = new Promise<[SecureSocket, number]>((resolve) => server.once('secureConnection', (socket: SecureSocket) => resolve([socket, lines.length])));
    const port = await listenLocal(server);
    const clientLines = await nodeClient(port, versions);
    const [socket, linesBeforeSecure] = await secured;
    expect(labelsOf(lines)).toEqual(labels);
    expect(linesBeforeSecure).toBe(lines.length);
    expect(lines.every((line) => line.endsWith('\n'))).toBe(true);
    expect([...lines].sort()).toEqual([...clientLines].sort());
    expect(loggedFor.every((each) => each === socket)).toBe(true);
  });

  test('a listener added while it listens logs the connections that come after', async () => {
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert })) as SecureServer;
    const port = await listenLocal(server);
    await nodeClient(port);
    const lines: string[] = [];
    server.on('keylog', (line: Buffer) => lines.push(line.toString('latin1')));
    const clientLines = await nodeClient(port);
    // node's client is connected once it has sent its Finished; the server
    // logs CLIENT_TRAFFIC_SECRET_0 once it has read it, which under load
    // (CI's sanitizer pass) came more than 50 ms later.
    await waitFor(() => lines.length >= clientLines.length, 5000, 'the server to log every secret');
    expect([...lines].sort()).toEqual([...clientLines].sort());
  });

  test('without a listener its sockets emit none', async () => {
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }));
    const accepted = new Promise<SecureSocket>((resolve) => server.once('secureConnection', resolve));
    const port = await listenLocal(server);
    await nodeClient(port);
    (await accepted).on('keylog', mustNotCall('a key log line on a server\'s socket'));
  });
});

test('a reactor client with a \'keylog\' listener logs its own secrets, the lines node\'s server logs', async () => {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end()));
  const serverLines: string[] = [];
  server.on('keylog', (line: Buffer) => serverLines.push(line.toString('latin1')));
  const port = await listenLocal(server);
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  const lines: string[] = [];
  socket.on('keylog', (line: Buffer) => lines.push(line.toString('latin1')));
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  expect(labelsOf(lines)).toEqual(TLS13_LABELS);
  // The client is connected once it has sent its Finished; node's server logs
  // CLIENT_TRAFFIC_SECRET_0 only once it has read it, which may come later.
  await waitFor(() => serverLines.length >= TLS13_LABELS.length, 5000, 'node\'s server to log every secret');
  expect([...lines].sort()).toEqual([...serverLines].sort());
});

describe('a reactor client\'s \'keylog\' listener added in the tick of connect()', () => {
  // Both ends handshake on the reactor thread, so the handshake needs no JS
  // and may end before anything JS sends after the connect's start arrives.
  const lookupAtOnce = (_host: string, options: { all?: boolean }, callback: (...answer: unknown[]) => void): void => {
    if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  };
  test.each([
    ['an address', { host: '127.0.0.1' }],
    ['a name a custom lookup answers at once', { host: 'server.test', lookup: lookupAtOnce }],
  ])('to %s: every secret is logged, however soon the handshake ends, after \'connect\'', async (_to, target) => {
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }));
    const port = await listenLocal(server);
    for (let i = 0; i < 5; ++i) {
      const socket = track(connect({ ...target, port, tls: { ca: pki.caCert, servername: 'localhost' } } as never)) as SecureSocket;
      const lines: string[] = [];
      const order: string[] = [];
      socket.on('keylog', (line: Buffer) => {
        lines.push(line.toString('latin1'));
        order.push('keylog');
      });
      socket.on('connect', () => order.push('connect'));
      await new Promise((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      expect(labelsOf(lines)).toEqual(TLS13_LABELS);
      // In node's order: the TCP connect, then the handshake's secrets.
      expect(order).toEqual(['connect', ...TLS13_LABELS.map(() => 'keylog')]);
      socket.destroy();
    }
  });

  test('a handshake that fails in the batch of the connect: connect, its secret, then the error', async () => {
    // TLS 1.2: the client logs its secret with its last flight, then the
    // server refuses it for want of a certificate.
    const server = track(createSecureServer({
      key: pki.serverKey, cert: pki.serverCert, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2',
    }));
    server.on('tlsClientError', () => {});
    const port = await listenLocal(server);
    const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
    const order: string[] = [];
    socket.on('keylog', (line: Buffer) => order.push(line.toString('latin1').split(' ')[0]));
    socket.on('connect', () => order.push('connect'));
    socket.on('error', () => order.push('error'));
    // JS is busy while the reactor connects and handshakes: all of it comes in one batch.
    process.nextTick(() => process.nextTick(() => {
      const until = Date.now() + 300;
      while (Date.now() < until) { /* the reactor thread works meanwhile */ }
    }));
    await new Promise((resolve) => socket.once('close', resolve));
    expect(order).toEqual(['connect', 'CLIENT_RANDOM', 'error']);
  });
});
