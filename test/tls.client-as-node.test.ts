// What a TLS client shows that helper-126's comparison of tls.connect and
// connect({ tls }) found different. Each case runs both clients against the
// same node:tls server and compares.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { connect } from '../lib';
import { ipServernameThrows } from '../lib/net-version';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
jest.setTimeout(20000);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type Connect = (port: number, options: tls.ConnectionOptions) => tls.TLSSocket;
const clients: Array<[string, Connect]> = [
  ['tls.connect', (port, options) => tls.connect({ host: '127.0.0.1', port, ...options })],
  ['connect({ tls })', (port, options) => connect({ host: '127.0.0.1', port, tls: options as never }) as unknown as tls.TLSSocket],
];

/** A node:tls server that greets and ends each connection; its port. */
async function greetingServer(options: tls.TlsOptions = {}): Promise<number> {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => {
    socket.on('error', () => undefined);
    socket.end('hello');
  }));
  return listenLocal(server);
}

/**
 * A node:tls server that requires a client certificate: over TLS 1.3 a
 * client without one completes its handshake, then gets the server's alert.
 * Its port.
 */
async function certificateRequiringServer(): Promise<number> {
  const server = track(tls.createServer({
    key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true, rejectUnauthorized: true,
  }));
  server.on('tlsClientError', () => undefined);
  return listenLocal(server);
}

describe.each(clients)('%s', (_name, connectTo) => {
  test('once closed, getProtocol(), getCipher() and isSessionReused() answer null, as a handle-less TLSSocket', async () => {
    const port = await greetingServer();
    const socket = track(connectTo(port, { ca: pki.caCert, servername: 'localhost' }));
    await once(socket, 'secureConnect');
    expect(socket.getProtocol()).toBe('TLSv1.3');
    socket.resume();
    await once(socket, 'close');
    expect([socket.getProtocol(), socket.getCipher(), socket.isSessionReused(), socket.getFinished()])
      .toEqual([null, null, null, null]);
  });

  test("a host name the certificate does not carry: the error's cert is the detailed one, with its issuer", async () => {
    const port = await greetingServer();
    const socket = track(connectTo(port, { ca: pki.caCert, servername: 'elsewhere.test' }));
    const [error] = await once(socket, 'error') as [Error & { code: string; cert: tls.DetailedPeerCertificate }];
    expect(error.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error.cert.subject.CN).toBe('localhost');
    expect(error.cert.issuerCertificate?.subject.CN).toBe('epoll-reactor test CA');
  });

  test("a server that ends during the handshake: 'end', then the \"disconnected before secure\" ECONNRESET, then 'close'", async () => {
    const server = track(net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end());
    }));
    const port = await listenLocal(server);
    const socket = track(connectTo(port, { ca: pki.caCert, servername: 'localhost' }));
    const events: string[] = [];
    for (const event of ['connect', 'secureConnect', 'end']) socket.on(event, () => events.push(event));
    socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error ${error.code}: ${error.message}`));
    await new Promise((resolve) => socket.on('close', resolve));
    expect(events).toEqual(['connect', 'end',
      'error ECONNRESET: Client network socket disconnected before secure TLS connection was established']);
  });

  test("a TLS 1.3 server's alert after 'secureConnect' (no client certificate): 'error' without destroying, then 'end' and close without error", async () => {
    const port = await certificateRequiringServer();
    const socket = track(connectTo(port, { ca: pki.caCert, servername: 'localhost' }));
    const events: string[] = [];
    for (const event of ['secureConnect', 'end', 'finish']) socket.on(event, () => events.push(event));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      events.push(`error ${error.code} (destroyed: ${socket.destroyed})`);
    });
    socket.resume();
    const hadError = await new Promise<boolean>((resolve) => socket.on('close', resolve));  // once() would reject at 'error'
    expect({ events, hadError }).toEqual({
      events: ['secureConnect', 'error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED (destroyed: false)', 'end', 'finish'],
      hadError: false,
    });
  });

  // Without waiting for 'secureConnect', as a client commonly writes its
  // request: node had encrypted and sent it before the alert came.
  // The last: JS busy while the alert arrives, so the write reaches the
  // reactor after it, before JS has heard.
  test.each(['at connect()', "at 'secureConnect'", "at 'secureConnect', 50 ms late"])("writes made %s, before a TLS 1.3 server's alert, complete, as node's", async (when) => {
    const port = await certificateRequiringServer();
    const socket = track(connectTo(port, { ca: pki.caCert, servername: 'localhost' }));
    const events: string[] = [];
    const writes: string[] = [];
    // Three, as a request's head and body: those behind the first wait in the Writable.
    const write = (): void => {
      for (const part of ['POST / HTTP/1.1\r\n', 'Content-Length: 2\r\n\r\n', 'hi']) {
        socket.write(part, (error) => writes.push((error as NodeJS.ErrnoException | null | undefined)?.code ?? 'written'));
      }
    };
    if (when === 'at connect()') write();
    else {
      socket.on('secureConnect', () => {
        const until = Date.now() + (when.endsWith('late') ? 50 : 0);
        while (Date.now() < until);
        write();
      });
    }
    for (const event of ['secureConnect', 'end', 'finish']) socket.on(event, () => events.push(event));
    socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error ${error.code}`));
    socket.resume();
    await new Promise((resolve) => socket.on('close', resolve));  // once() would reject at 'error'
    // When the callback runs against the 'error' is timing: node's comes
    // first when the alert takes a round trip to arrive. What follows the
    // alert is timing too, for connect({ tls }): its verdict on the server
    // takes a round trip to JS, so a write held for it may reach a server
    // that has closed, which resets ('error' ECONNRESET, not 'end').
    expect({ writes, events: events.slice(0, 2), failedWrite: events.some((event) => event.includes('EPROTO')) }).toEqual({
      writes: ['written', 'written', 'written'],
      events: ['secureConnect', 'error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'],
      failedWrite: false,
    });
  });

  test.each(['TLSv1.2', 'TLSv1.3'] as const)('a resumed %s session has no peer certificate, as the chain a resumption does not send', async (version) => {
    const port = await greetingServer({ maxVersion: version });
    const options = { ca: pki.caCert, servername: 'localhost' };
    const first = track(connectTo(port, options));
    let session: Buffer | undefined;
    first.on('session', (bytes: Buffer) => { session = bytes; });
    first.resume();
    await once(first, 'close');
    const second = track(connectTo(port, { ...options, session }));
    await once(second, 'secureConnect');
    expect(second.isSessionReused()).toBe(true);
    expect([second.getPeerCertificate(), second.getPeerCertificate(true), second.getPeerX509Certificate()])
      .toEqual([{}, {}, undefined]);
    second.destroy();
  });
});

// Reactor only: node's client answers a write made in that 'error' listener
// differently from run to run (EPROTO as below, or nothing and no 'close'
// for good, here in most runs), as its TLSWrap meets the error.
test("connect({ tls }): a write after a server's alert fails with EPROTO, in its callback and as the socket's 'error', which then closes", async () => {
  const port = await certificateRequiringServer();
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } }));
  const events: string[] = [];
  socket.on('error', (error: NodeJS.ErrnoException) => {
    events.push(`error ${error.code}${error.syscall === undefined ? '' : ` ${error.syscall}`}`);
    if (events.length === 1) {
      socket.write('after the alert', (writeError) => events.push(`write callback ${(writeError as NodeJS.ErrnoException | null | undefined)?.code ?? 'without error'}`));
    }
  });
  socket.resume();
  const hadError = await new Promise<boolean>((resolve) => socket.on('close', resolve));
  expect({ events, hadError }).toEqual({
    events: ['error ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'write callback EPROTO', 'error EPROTO write'],
    hadError: true,
  });
});

// Node 20 to 24 warn once (DEP0123); since its end of life (Node 25) tls.connect throws.
const ipServername = ipServernameThrows
  ? ['throws ERR_INVALID_ARG_VALUE', ['throw ERR_INVALID_ARG_VALUE', 'throw ERR_INVALID_ARG_VALUE']]
  : ['gives DEP0123 once', ['DEP0123']];
test.each(['tls.connect', 'connect({ tls })'])(`%s: an address as servername ${ipServername[0] as string}, as tls.connect`, async (name) => {
  const dist = JSON.stringify(path.join(__dirname, '..', 'dist'));
  const script = `
    const tls = require('node:tls');
    const { connect } = require(${dist});
    const outcomes = [];
    process.on('warning', (warning) => outcomes.push(warning.code));
    const server = tls.createServer({ key: ${JSON.stringify(pki.serverKey.toString())}, cert: ${JSON.stringify(pki.serverCert.toString())} },
      (socket) => socket.end());
    server.listen(0, '127.0.0.1', async () => {
      for (let i = 0; i < 2; i++) {
        const options = { ca: ${JSON.stringify(pki.caCert.toString())}, servername: '127.0.0.1', checkServerIdentity: () => undefined };
        const port = server.address().port;
        let socket;
        try {
          socket = ${JSON.stringify(name)} === 'tls.connect' ? tls.connect({ host: '127.0.0.1', port, ...options })
            : connect({ host: '127.0.0.1', port, tls: options });
        } catch (error) {
          outcomes.push('throw ' + error.code);
          continue;
        }
        socket.on('error', () => {});
        socket.resume();
        await new Promise((resolve) => socket.on('close', resolve));
      }
      server.close();
      setImmediate(() => process.stdout.write(JSON.stringify(outcomes)));
    });`;
  const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] }));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  await once(child, 'close');
  expect(JSON.parse(output)).toEqual(ipServername[1]);
});
