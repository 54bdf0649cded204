// A server's 'OCSPRequest', as node:tls's: a client that asks for a staple
// (requestOCSP) makes the server emit (certificate, issuer, callback) once
// the certificate is chosen, and the handshake waits for the callback: a
// response is stapled, null staples nothing, an error fails the handshake.
// Each case runs against node's tls.Server given the same options, with
// node's tls.connect as the client, and both must be seen alike.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import * as tls from 'node:tls';

import { createSecureContext, createSecureServer, SecureServer, SecureServerOptions, SecureSocket } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { issueIntermediateChain, issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
let alpha: { key: Buffer; cert: Buffer };  // a.example
beforeAll(() => {
  pki = makeTestPki();
  alpha = issueServerCertificate(pki, ['a.example']);
});
afterAll(() => pki.remove());

type AnyServer = SecureServer | tls.Server;
type Make = (options: SecureServerOptions) => AnyServer;
const servers: [string, Make][] = [
  ['epoll-reactor', (options) => createSecureServer(options)],
  ['node:tls', (options) => tls.createServer(options as tls.TlsOptions)],
];

type OcspCallback = (error: Error | null, response?: unknown) => void;
type OcspListener = (certificate: Buffer | null, issuer: Buffer | null, callback: OcspCallback) => void;

/** An echo server with the test's identity and `options`, answering 'OCSPRequest' with `listener`. */
async function start(make: Make, listener: OcspListener | undefined,
  options: SecureServerOptions = {}): Promise<{ server: AnyServer; port: number }> {
  const server = track(make({ key: pki.serverKey, cert: pki.serverCert, ...options }));
  server.on('secureConnection', (socket: tls.TLSSocket | SecureSocket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  if (listener !== undefined) server.on('OCSPRequest', listener);
  return { server, port: await listenLocal(server as SecureServer) };
}

interface Seen {
  events: string[];
  commonName?: string;
  session?: Buffer;
}

/** A node:tls client (asking for a staple unless told not to); what it saw until its echo or its error. */
function visit(port: number, options: tls.ConnectionOptions & { requestOCSP?: boolean } = {}): Promise<Seen> {
  return new Promise((resolve) => {
    const events: string[] = [];
    let session: Buffer | undefined;
    const socket = track(tls.connect({
      host: '127.0.0.1', port, ca: pki.caCert, checkServerIdentity: () => undefined, requestOCSP: true, ...options,
    } as tls.ConnectionOptions));
    socket.on('session', (data: Buffer) => { session = data; });
    socket.on('OCSPResponse', (response: Buffer | null) => { events.push(`OCSPResponse ${String(response)}`); });
    socket.once('error', (error: Error & { code?: string }) => resolve({ events: [...events, `error ${error.code}`] }));
    // Closed without an error (after its handshake, before the echo).
    socket.once('close', () => resolve({ events: [...events, 'closed'] }));
    socket.once('secureConnect', () => {
      events.push('secureConnect');
      const commonName = socket.getPeerCertificate().subject?.CN as string | undefined;
      socket.write('ping');
      socket.once('data', () => {
        socket.destroy();
        resolve({ events, commonName, session });
      });
    });
  });
}

function hex(value: Buffer | null): string | null {
  return value === null ? null : value.toString('hex');
}

describe.each(servers)('%s', (_, make) => {
  test('the certificate and its issuer come with the request, and the response is stapled before secureConnect', async () => {
    const asked: Array<[string | null, string | null]> = [];
    const { port } = await start(make, (certificate, issuer, callback) => {
      asked.push([hex(certificate), hex(issuer)]);
      callback(null, Buffer.from('staple'));
    }, { ca: pki.caCert });
    expect((await visit(port)).events).toEqual(['OCSPResponse staple', 'secureConnect']);
    // The issuer comes from the server's trust store (its `ca`).
    expect(asked).toEqual([[new X509Certificate(pki.serverCert).raw.toString('hex'),
      new X509Certificate(pki.caCert).raw.toString('hex')]]);
  });

  test('the issuer is taken from the chain given with the certificate first, and is null when neither has it', async () => {
    const chain = issueIntermediateChain(pki);
    const issuers: Array<string | null> = [];
    const listener: OcspListener = (_certificate, issuer, callback) => { issuers.push(hex(issuer)); callback(null); };
    const chained = await start(make, listener, {
      key: chain.serverKey, cert: Buffer.concat([chain.serverCert, chain.intermediateCert]),
    });
    expect((await visit(chained.port)).events).toEqual(['OCSPResponse null', 'secureConnect']);
    const alone = await start(make, listener);
    expect((await visit(alone.port)).events).toEqual(['OCSPResponse null', 'secureConnect']);
    expect(issuers).toEqual([new X509Certificate(chain.intermediateCert).raw.toString('hex'), null]);
  });

  test('a client that asks for no staple is not asked about, and the listener can answer later', async () => {
    const asked: string[] = [];
    const { port } = await start(make, (_certificate, _issuer, callback) => {
      asked.push('asked');
      setTimeout(() => callback(null, Buffer.from('later')), 100);
    });
    expect((await visit(port, { requestOCSP: false })).events).toEqual(['secureConnect']);
    expect(asked).toEqual([]);
    const started = Date.now();
    expect((await visit(port)).events).toEqual(['OCSPResponse later', 'secureConnect']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(asked).toEqual(['asked']);
  });

  test('an error passed to the callback fails the handshake with it, as tlsClientError', async () => {
    const failure = new Error('no staple today');
    const { server, port } = await start(make, (_certificate, _issuer, callback) => callback(failure));
    const reported = once(server, 'tlsClientError');
    expect((await visit(port)).events).toEqual(['error ECONNRESET']);
    expect((await reported)[0]).toBe(failure);
  });

  test('a second call destroys the socket with ERR_MULTIPLE_CALLBACK', async () => {
    const { server, port } = await start(make, (_certificate, _issuer, callback) => {
      callback(null, Buffer.from('one'));
      callback(null, Buffer.from('two'));
    });
    const reported = once(server, 'tlsClientError');
    // The client may have finished its side first (it does on Node 24 and later).
    expect((await visit(port)).events.pop()).toMatch(/^(error |closed)/);
    expect((await reported)[0]).toMatchObject({ code: 'ERR_MULTIPLE_CALLBACK' });
  });

  test('a response that is not a buffer throws ERR_INVALID_ARG_TYPE from the callback', async () => {
    const thrown = new Promise<unknown>((resolve) => {
      void start(make, (_certificate, _issuer, callback) => {
        try {
          callback(null, 'not a buffer');
        } catch (error) {
          resolve(error);
        }
      }).then(({ port }) => {
        const socket = track(tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, requestOCSP: true } as tls.ConnectionOptions));
        socket.on('error', () => {});
      });
    });
    expect(await thrown).toMatchObject({
      name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: 'OCSP response must be a buffer',
    });
  });

  test('with an SNICallback: the chosen context is chosen first, and its certificate is the one asked about', async () => {
    const order: string[] = [];
    const alphaContext = createSecureContext(alpha);
    const { port } = await start(make, (certificate, _issuer, callback) => {
      order.push(`ocsp ${String(new X509Certificate(certificate!).subject.match(/CN=(.*)/)?.[1])}`);
      callback(null, Buffer.from('alpha staple'));
    }, {
      SNICallback: (name, callback) => { order.push(`sni ${name}`); callback(null, alphaContext); },
    });
    const seen = await visit(port, { servername: 'a.example' });
    expect(seen).toMatchObject({ events: ['OCSPResponse alpha staple', 'secureConnect'], commonName: 'a.example' });
    expect(order).toEqual(['sni a.example', 'ocsp a.example']);
  });

  test('a resumed session is not asked about again', async () => {
    let asked = 0;
    const { port } = await start(make, (_certificate, _issuer, callback) => { asked += 1; callback(null, Buffer.from('s')); });
    const first = await visit(port);
    expect(first.session).toBeInstanceOf(Buffer);
    const second = await visit(port, { session: first.session });
    expect(asked).toBe(1);
    expect(second.events[second.events.length - 1]).toBe('secureConnect');
  });

  test('a listener added while the server listens is asked from then on, and one removed no more', async () => {
    const { server, port } = await start(make, undefined);
    expect((await visit(port)).events).toEqual(['OCSPResponse null', 'secureConnect']);
    const listener = (_certificate: Buffer, _issuer: Buffer, callback: OcspCallback): void => callback(null, Buffer.from('now'));
    server.on('OCSPRequest', listener);
    expect((await visit(port)).events).toEqual(['OCSPResponse now', 'secureConnect']);
    server.off('OCSPRequest', listener);
    expect((await visit(port)).events).toEqual(['OCSPResponse null', 'secureConnect']);
  });
});
