// The `secureContext` option, as node:tls treats it. A server ignores it
// (tls.Server builds its context from key, cert and the rest), so the same
// options serve the same certificate, and a server given only a context fails
// its handshakes alike. A client uses it instead of building a context from
// its options, as tls.connect does: the context's CA and client certificate
// apply and the options' are not read, whether the package's
// createSecureContext or node's made it (test/tls.node-client-context.test.ts
// compares the ClientHellos).
import { once } from 'node:events';
import * as tls from 'node:tls';

import { connect, createSecureContext, createSecureServer, SecureServerOptions } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { issueServerCertificate, makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
let alpha: { key: Buffer; cert: Buffer };  // a.example
beforeAll(() => {
  pki = makeTestPki();
  alpha = issueServerCertificate(pki, ['a.example']);
});
afterAll(() => pki.remove());

type Make = (options: tls.TlsOptions) => tls.Server;
const servers: [string, Make][] = [
  ['node:tls', (options) => tls.createServer(options)],
  ['epoll-reactor', (options) => createSecureServer(options as SecureServerOptions) as unknown as tls.Server],
];

/** What a tls.connect client sees of `server`: the certificate's CN, or the server's tlsClientError code. */
async function served(server: tls.Server): Promise<string> {
  track(server);
  server.on('secureConnection', (socket: tls.TLSSocket) => socket.end());
  const clientError = once(server, 'tlsClientError').then(([error]) => `tlsClientError ${(error as { code?: string }).code}`);
  const port = await listenLocal(server);
  const client = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, checkServerIdentity: () => undefined }));
  const seen = new Promise<string>((resolve) => {
    client.once('secureConnect', () => resolve(String(client.getPeerCertificate().subject.CN)));
    client.once('error', () => resolve(clientError));
  });
  return seen;
}

test.each(servers)('%s: a server ignores secureContext: key and cert are served, and without them handshakes fail', async (_name, make) => {
  const context = tls.createSecureContext(alpha);
  expect(await served(make({ key: pki.serverKey, cert: pki.serverCert, secureContext: context }))).toBe('localhost');
  expect(await served(make({ secureContext: context }))).toMatch(/^tlsClientError ERR_SSL_/);
});

test('both servers fail a context-only handshake with the same code', async () => {
  const context = createSecureContext(alpha);
  const outcomes = [];
  for (const [, make] of servers) outcomes.push(await served(make({ secureContext: context })));
  expect(outcomes[1]).toBe(outcomes[0]);
});

interface Outcome { event: string; code?: string; authorized?: boolean; serverSawClient?: string }

/** A client's outcome against a server that asks for (and does not require) a client certificate. */
async function clientOutcome(makeClient: (port: number) => tls.TLSSocket): Promise<Outcome> {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true,
    rejectUnauthorized: false }));
  let serverSawClient: string | undefined;
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    serverSawClient = socket.authorized ? String(socket.getPeerCertificate().subject.CN) : 'none';
  });
  const port = await listenLocal(server);
  const client = track(makeClient(port));
  return new Promise((resolve) => {
    client.once('secureConnect', () => {
      // The server's verdict comes with its 'secureConnection': after ours under TLS 1.3.
      const settle = (): void => resolve({ event: 'secureConnect', authorized: client.authorized, serverSawClient });
      if (serverSawClient !== undefined) settle();
      else server.once('secureConnection', () => setImmediate(settle));
    });
    client.once('error', (error: Error & { code?: string }) => resolve({ event: 'error', code: error.code }));
  });
}

describe('a client given secureContext, beside tls.connect', () => {
  // tls.connect, then ours with the package's context and with node's.
  const both = async (tlsOptions: tls.ConnectionOptions, theirContext: tls.SecureContext, ourContext: tls.SecureContext): Promise<Outcome[]> => {
    const ours = (secureContext: tls.SecureContext) => clientOutcome((port) =>
      connect({ host: '127.0.0.1', port, tls: { ...tlsOptions, secureContext } as never }) as unknown as tls.TLSSocket);
    const outcomes = [
      await clientOutcome((port) => tls.connect({ host: '127.0.0.1', port, ...tlsOptions, secureContext: theirContext })),
      await ours(ourContext),
      await ours(theirContext),
    ];
    expect(outcomes[2]).toEqual(outcomes[0]);
    return outcomes;
  };

  test("the context's CA verifies the server, and the options' ca is not read", async () => {
    const withCa = { ca: pki.caCert };
    const [theirs, ours] = await both({ servername: 'localhost', ca: pki.rogueCert }, tls.createSecureContext(withCa), createSecureContext(withCa));
    expect(theirs).toMatchObject({ event: 'secureConnect', authorized: true });
    expect(ours).toEqual(theirs);
  });

  test("a context without a CA means node's roots, which do not know the test CA, whatever the options' ca", async () => {
    const [theirs, ours] = await both({ servername: 'localhost', ca: pki.caCert }, tls.createSecureContext({}), createSecureContext({}));
    expect(theirs.event).toBe('error');
    expect(ours).toEqual(theirs);
  });

  test("the context's client certificate is sent", async () => {
    const options = { ca: pki.caCert, key: pki.clientKey, cert: pki.clientCert };
    const [theirs, ours] = await both({ servername: 'localhost' }, tls.createSecureContext(options), createSecureContext(options));
    expect(theirs).toMatchObject({ event: 'secureConnect', serverSawClient: 'test client' });
    expect(ours).toEqual(theirs);
  });

  test('something that is no SecureContext throws before any socket exists', () => {
    for (const secureContext of [{}, 5]) {
      expect(() => connect({ port: 9, tls: { secureContext } as never }))
        .toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_TLS_INVALID_CONTEXT' }));
    }
  });
});

test('createSecureContext checks its options as tls.createSecureContext: an object, or nothing (null too)', () => {
  for (const options of ['x', 1, true, []]) {
    let nodeError: unknown;
    try {
      tls.createSecureContext(options as tls.SecureContextOptions);
    } catch (error) {
      nodeError = error;
    }
    expect(nodeError).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(() => createSecureContext(options as tls.SecureContextOptions)).toThrow((nodeError as Error).message);
  }
  for (const options of [null, undefined]) {
    expect(createSecureContext(options as unknown as tls.SecureContextOptions))
      .toBeInstanceOf(tls.createSecureContext().constructor);
  }
});
