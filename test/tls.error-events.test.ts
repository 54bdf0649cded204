// A server-side TLS socket never takes the process down with an unhandled
// 'error', as node:tls's don't: node's server TLSSocket carries an 'error'
// listener of its own for its whole life (before the handshake it routes the
// error to 'tlsClientError', after it the error only closes the socket).
// https.Server's own 'tlsClientError' listener calls conn.destroy(err) when
// nobody listens for 'clientError', which is what a client that connects and
// leaves mid-handshake (wrk's first probe, a port scanner) causes.
import { once } from 'node:events';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureSocket, serveHttp } from '../lib';
import { getReactor } from '../lib/reactor';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
jest.setTimeout(20000);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/** Connects, sends the first bytes of a TLS record and leaves: the handshake is cut short. */
async function leaveMidHandshake(port: number): Promise<void> {
  const client = track(net.connect(port, '127.0.0.1'));
  client.on('error', () => undefined);
  await once(client, 'connect');
  client.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]));
  await new Promise((resolve) => setTimeout(resolve, 50));
  client.destroy();
}

function uncaughtErrors(): { errors: Error[]; stop(): void } {
  const errors: Error[] = [];
  const record = (error: Error): void => { errors.push(error); };
  // Jest reports an uncaught exception as the test's failure; recording it
  // as well makes the assertion say what was thrown.
  process.on('uncaughtException', record);
  return { errors, stop: () => process.off('uncaughtException', record) };
}

test('serveHttp(https.Server) with no clientError listener: a client that leaves mid-handshake is dropped and the server keeps serving', async () => {
  const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert }, (_req, res) => res.end('still here'));
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const uncaught = uncaughtErrors();
  try {
    const reported = once(httpsServer, 'tlsClientError') as Promise<[Error & { code?: string }, SecureSocket]>;
    await leaveMidHandshake(port);
    const [error, socket] = await reported;
    expect(error.code).toBe('ECONNRESET');
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.destroyed).toBe(true);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', agent: false }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => { text += chunk; });
        response.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toBe('still here');
    expect(uncaught.errors).toEqual([]);
  } finally {
    uncaught.stop();
  }
});

test("a 'tlsClientError' listener that destroys the socket with the error, as https.Server's does, throws nothing", async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }));
  server.on('tlsClientError', (error: Error, socket: SecureSocket) => socket.destroy(error));
  const port = await listenLocal(server);
  const uncaught = uncaughtErrors();
  try {
    const reported = once(server, 'tlsClientError');
    await leaveMidHandshake(port);
    await reported;
    await waitFor(() => getReactor().native.stats().connections === 0, 10_000, 'the connection to close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(uncaught.errors).toEqual([]);
  } finally {
    uncaught.stop();
  }
});

test("a secure socket with no 'error' listener that the client resets mid-write closes quietly, as node:tls's does", async () => {
  const closed: Promise<unknown>[] = [];
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    closed.push(new Promise((resolve) => socket.on('close', resolve)));
    const chunk = Buffer.alloc(1 << 20);
    const more = (): void => {
      if (socket.destroyed) return;
      socket.write(chunk);
      setTimeout(more, 10);
    };
    more();
  }));
  const port = await listenLocal(server);
  const uncaught = uncaughtErrors();
  try {
    const raw = track(net.connect(port, '127.0.0.1'));
    raw.on('error', () => undefined);
    const client = tls.connect({ socket: raw, ca: pki.caCert, servername: 'localhost' });
    client.on('error', () => undefined);
    await once(client, 'secureConnect');
    await waitFor(() => closed.length === 1, 5000, 'the server side to be secure');
    raw.resetAndDestroy();
    await closed[0];
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(uncaught.errors).toEqual([]);
  } finally {
    uncaught.stop();
  }
});
