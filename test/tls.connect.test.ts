// Outbound TLS: connect({ ..., tls }) makes a TLS client whose handshake and
// records run on the reactor thread. It must verify exactly as tls.connect
// does (same verdicts, same error codes and messages), send SNI and ALPN,
// carry bytes intact both ways, and fail cleanly on servers that are not TLS.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer, forward, SecureSocket, Socket } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';
import { serverBytesFirstProxy, UNRECOGNIZED_NAME_WARNING } from './helpers/tls-proxy';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

function digest(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A node:tls echo server with the test PKI's localhost certificate. */
async function nodeEchoServer(options: tls.TlsOptions = {}): Promise<{ server: tls.Server; port: number }> {
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert, ...options }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  }));
  const port = await listenLocal(server);
  return { server, port };
}

interface Outcome {
  event: 'secureConnect' | 'error';
  code?: string;
  message?: string;
  authorized?: boolean;
  authorizationError?: unknown;
}

/** What a client socket ends in: its 'secureConnect' (and verdict) or its 'error'. */
function outcomeOf(socket: tls.TLSSocket | Socket): Promise<Outcome> {
  return new Promise((resolve) => {
    socket.once('secureConnect', () => {
      const secure = socket as unknown as { authorized: boolean; authorizationError: unknown };
      resolve({ event: 'secureConnect', authorized: secure.authorized, authorizationError: secure.authorizationError });
      socket.destroy();
    });
    socket.once('error', (error: Error & { code?: string }) => {
      resolve({ event: 'error', code: error.code, message: error.message });
    });
  });
}

/** The same connection made by tls.connect and by connect({ tls }): both outcomes. */
async function bothOutcomes(port: number, tlsOptions: tls.ConnectionOptions): Promise<[Outcome, Outcome]> {
  const theirs = outcomeOf(track(tls.connect({ host: '127.0.0.1', port, ...tlsOptions })));
  const ours = outcomeOf(track(connect({ host: '127.0.0.1', port, tls: tlsOptions as never })));
  return [await theirs, await ours];
}

test('connects, verifies against the given CA, sends SNI and carries 1 MiB intact both ways', async () => {
  let seenServername: string | undefined;
  const { server, port } = await nodeEchoServer();
  server.on('secureConnection', (socket: tls.TLSSocket) => { seenServername = (socket as unknown as { servername: string }).servername; });
  const events: string[] = [];
  const client = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } },
    () => events.push('listener'))) as SecureSocket;
  client.on('connect', () => events.push('connect'));
  client.on('secureConnect', () => events.push('secureConnect'));
  // Written before the handshake: it waits for it.
  const payload = randomBytes(1024 * 1024 + 7);
  client.write(payload);
  const parts: Buffer[] = [];
  let received = 0;
  client.on('data', (chunk: Buffer) => { parts.push(chunk); received += chunk.length; });
  await waitFor(() => received >= payload.length, 10000);
  expect(digest(Buffer.concat(parts))).toBe(digest(payload));
  expect(events).toEqual(['connect', 'listener', 'secureConnect']);
  expect(client.encrypted).toBe(true);
  expect(client.authorized).toBe(true);
  expect(client.authorizationError).toBeNull();
  expect(seenServername).toBe('localhost');
  expect(client.getProtocol()).toBe('TLSv1.3');
  const certificate = client.getPeerCertificate() as { subject: Record<string, string>; subjectaltname?: string };
  expect(certificate.subject.CN).toBe('localhost');
  expect(certificate.subjectaltname).toBe('DNS:localhost, IP Address:127.0.0.1');
  expect(client.getPeerX509Certificate()?.checkHost('localhost')).toBe('localhost');
  // Half-close: our end() is close_notify and FIN; the server ends back.
  client.end();
  await once(client, 'end');
});

test('offers ALPN protocols in order and reports the server\'s choice', async () => {
  const { port } = await nodeEchoServer({ ALPNProtocols: ['http/1.1', 'h2'] });
  const client = track(connect({ host: '127.0.0.1', port,
    tls: { ca: pki.caCert, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] } })) as SecureSocket;
  await once(client, 'secureConnect');
  // node's server picks by its own order among what the client offers.
  expect(client.alpnProtocol).toBe('http/1.1');
});

test('a reactor client and a reactor server talk TLS to each other', async () => {
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
  }));
  const port = await listenLocal(server);
  const client = track(connect({ port, host: '127.0.0.1', tls: { ca: pki.caCert, servername: 'localhost' } }));
  const payload = randomBytes(300000);
  client.end(payload);
  const parts: Buffer[] = [];
  client.on('data', (chunk: Buffer) => parts.push(chunk));
  await once(client, 'end');
  expect(digest(Buffer.concat(parts))).toBe(digest(payload));
});

test('without the CA, the connection fails as tls.connect\'s does', async () => {
  const { port } = await nodeEchoServer();
  const [theirs, ours] = await bothOutcomes(port, { servername: 'localhost' });
  // Node 24 and later add a hint about --use-system-ca to the message.
  expect(theirs).toEqual(expect.objectContaining({ event: 'error', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }));
  expect(theirs.message).toMatch(/^unable to verify the first certificate/);
  expect(ours).toEqual(theirs);
});

test.each([
  ['an untrusted certificate', { servername: 'localhost' }, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ['a certificate for another name', { ca: undefined as unknown, servername: 'example.com' }, 'ERR_TLS_CERT_ALTNAME_INVALID'],
])('nothing written before the verdict reaches a server with %s', async (_, options, code) => {
  let received = 0;
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => { received += chunk.length; });
  }));
  server.on('tlsClientError', () => {});
  const port = await listenLocal(server);
  const tlsOptions = { ...options, ...(options.servername === 'example.com' ? { ca: pki.caCert } : {}) } as never;
  const closed = new Promise<void>((resolve) => server.once('secureConnection', (socket: tls.TLSSocket) => {
    socket.once('close', () => resolve());
  }));
  const client = track(connect({ host: '127.0.0.1', port, tls: tlsOptions }));
  const failed = new Promise<Error & { code?: string }>((resolve) => client.once('error', resolve));
  // Written and ended at once, as an HTTP client sends its request with
  // credentials; the later writes wait in the Writable's own buffer, which a
  // destroy() hands to the reactor for a plain socket (issue 12 item 8).
  client.write('GET / HTTP/1.1\r\n');
  client.write('Authorization: Bearer secret\r\n');
  client.end('\r\n');
  expect((await failed).code).toBe(code);
  await closed;
  expect(received).toBe(0);
});

test('a reconnected client starts unverified: forward() refuses it until its new verdict', async () => {
  const { port } = await nodeEchoServer();
  const other = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  const client = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  await Promise.all([once(other, 'secureConnect'), once(client, 'secureConnect')]);
  expect(client.authorized).toBe(true);
  client.destroy();
  await once(client, 'close');
  client.connect({ host: '127.0.0.1', port });
  // Nothing of the old connection's verdict carries over.
  expect(client.authorized).toBe(false);
  expect(client.getProtocol()).toBeNull();
  expect(() => forward(other, client)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  await once(client, 'secureConnect');
  expect(client.authorized).toBe(true);
});

test('a self-signed server certificate fails as tls.connect\'s does', async () => {
  const server = track(tls.createServer({ key: pki.rogueKey, cert: pki.rogueCert }));
  server.on('tlsClientError', () => {});
  const port = await listenLocal(server);
  const [theirs, ours] = await bothOutcomes(port, {});
  expect(theirs.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  expect(ours).toEqual(theirs);
});

test('a certificate for another name fails as tls.connect\'s does (checkServerIdentity)', async () => {
  const { port } = await nodeEchoServer();
  const [theirs, ours] = await bothOutcomes(port, { ca: pki.caCert, servername: 'example.com' });
  expect(theirs.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  expect(ours).toEqual(theirs);
});

test('the host is the name checked when no servername is given, as tls.connect', async () => {
  const { port } = await nodeEchoServer();
  // 127.0.0.1 is in the certificate's IP addresses: authorized, with no SNI sent.
  const [theirs, ours] = await bothOutcomes(port, { ca: pki.caCert });
  expect(theirs).toEqual({ event: 'secureConnect', authorized: true, authorizationError: null });
  expect(ours).toEqual(theirs);
});

test('rejectUnauthorized: false connects and records why the server was not verified', async () => {
  const { port } = await nodeEchoServer();
  const [theirs, ours] = await bothOutcomes(port, { servername: 'localhost', rejectUnauthorized: false });
  expect(theirs).toEqual({ event: 'secureConnect', authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  expect(ours).toEqual(theirs);
});

test('a custom checkServerIdentity decides, as with tls.connect', async () => {
  const { port } = await nodeEchoServer();
  const refuse = (): Error => Object.assign(new Error('not this one'), { code: 'PINNED_KEY_MISMATCH' });
  const [theirs, ours] = await bothOutcomes(port, { ca: pki.caCert, servername: 'localhost', checkServerIdentity: refuse });
  expect(theirs).toEqual({ event: 'error', code: 'PINNED_KEY_MISMATCH', message: 'not this one' });
  expect(ours).toEqual(theirs);
});

test('a client certificate is sent to a server that asks for one', async () => {
  const { server, port } = await nodeEchoServer({ requestCert: true, rejectUnauthorized: true, ca: pki.caCert });
  const serverSaw = once(server, 'secureConnection');
  const client = track(connect({ host: '127.0.0.1', port,
    tls: { ca: pki.caCert, servername: 'localhost', key: pki.clientKey, cert: pki.clientCert } }));
  await once(client, 'secureConnect');
  const [accepted] = (await serverSaw) as [tls.TLSSocket];
  expect(accepted.authorized).toBe(true);
  expect(accepted.getPeerCertificate().subject.CN).toBe('test client');
});

test.each([
  ['closes (FIN)', (socket: net.Socket): void => { socket.end(); }],
  ['resets', (socket: net.Socket): void => { socket.resetAndDestroy(); }],
])('a server that reads the ClientHello and %s gives what tls.connect gives', async (_, close) => {
  // The ClientHello is read first, so that closing sends exactly a FIN or a
  // reset (closing with unread bytes would always reset).
  const server = track(net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => close(socket));
  }));
  const port = await listenLocal(server);
  const [theirs, ours] = await bothOutcomes(port, { ca: pki.caCert, servername: 'localhost' });
  expect(theirs.code).toBe('ECONNRESET');
  expect(ours).toEqual(theirs);
});

test('a server that answers in plaintext fails with OpenSSL\'s error, as tls.connect', async () => {
  const server = track(net.createServer((socket) => {
    socket.on('error', () => {});
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  }));
  const port = await listenLocal(server);
  const [theirs, ours] = await bothOutcomes(port, { ca: pki.caCert, servername: 'localhost' });
  expect(theirs.event).toBe('error');
  expect(theirs.code).toMatch(/^ERR_SSL_/);
  expect(ours.event).toBe('error');
  expect(ours.code).toBe(theirs.code);
});

test('a refused connection is an ordinary connect error', async () => {
  const server = track(net.createServer());
  const port = await listenLocal(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const [theirs, ours] = await bothOutcomes(port, { ca: pki.caCert });
  expect(theirs.code).toBe('ECONNREFUSED');
  expect(ours).toEqual(theirs);
});

test('bad tls options throw before anything is created, with node\'s codes', () => {
  const port = 9; // never connected to: each call throws first
  expect(() => connect({ port, tls: 5 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => connect({ port, tls: { checkServerIdentity: 5 as never } }))
    .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => connect({ port, tls: { ca: 'not a certificate', servername: 5 as never } }))
    .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => connect({ port, tls: { minVersion: 'TLSv9' as never } }))
    .toThrow(expect.objectContaining({ code: 'ERR_TLS_INVALID_PROTOCOL_VERSION' }));
  expect(() => connect({ port, tls: { minDHSize: 2048 } as never }))
    .toThrow(expect.objectContaining({ code: 'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED' }));
});

test.each(['h2', 123, {}])('ALPNProtocols %p, neither a list nor bytes, throws the TypeError tls.connect throws', (protocols) => {
  const options = { port: 9, host: '127.0.0.1', ca: pki.caCert, ALPNProtocols: protocols as never };
  const thrown = (call: () => unknown): unknown => { try { call(); } catch (error) { return error; } return 'no throw'; };
  const fromNode = thrown(() => tls.connect(options).destroy());
  // Node's own TypeError comes from another realm than jest's: compare names.
  expect((fromNode as Error).name).toBe('TypeError');
  const ours = thrown(() => connect({ port: 9, host: '127.0.0.1', tls: { ca: pki.caCert, ALPNProtocols: protocols as never } }).destroy());
  expect((ours as Error).name).toBe('TypeError');
  expect((ours as Error).message).toBe((fromNode as Error).message);
  expect((ours as NodeJS.ErrnoException).code).toBe((fromNode as NodeJS.ErrnoException).code);
});

test('the server address a client reports is the TCP peer', async () => {
  const { port } = await nodeEchoServer();
  const client = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } }));
  await once(client, 'secureConnect');
  expect((client.address() as AddressInfo).address).toBe('127.0.0.1');
  expect(client.remotePort).toBe(port);
});

/**
 * A node:tls server on a thread of its own that writes `greeting` as soon as
 * a client's handshake is done, so that it answers while this thread stalls.
 */
async function greetingServerOnWorker(greeting: string): Promise<{ port: number; stop: () => Promise<number> }> {
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(`
    const tls = require('node:tls');
    const { parentPort, workerData } = require('node:worker_threads');
    const server = tls.createServer({ key: workerData.key, cert: workerData.cert }, (socket) => {
      socket.on('error', () => {});
      socket.write(workerData.greeting);
    });
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
  `, { eval: true, workerData: { key: pki.serverKey, cert: pki.serverCert, greeting } });
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  return { port, stop: () => worker.terminate() };
}

/** Keeps this thread busy, as a slow handler or a long GC would. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* busy */ }
}

test.each([
  ['fails verification', false],
  ['is verified', true],
])('a server that speaks first and %s: none of its bytes reach \'data\' before its verdict', async (_, trusted) => {
  const greeting = 'hello before you asked';
  const { port, stop } = await greetingServerOnWorker(greeting);
  try {
    const events: string[] = [];
    const client = track(connect({
      host: '127.0.0.1', port, tls: trusted ? { ca: pki.caCert, servername: 'localhost' } : { servername: 'localhost' },
    }));
    client.on('connect', () => events.push('connect'));
    client.on('secureConnect', () => events.push('secureConnect'));
    client.on('data', (chunk: Buffer) => events.push(`data:${chunk.toString()}`));
    client.on('error', (error: Error & { code?: string }) => events.push(`error:${error.code}`));
    const closed = new Promise((resolve) => client.once('close', resolve));
    // The connect goes out when this turn ends; then stall, so that the
    // connect, the handshake's end and the greeting reach JS in one batch.
    await new Promise((resolve) => setImmediate(resolve));
    stall(300);
    if (trusted) {
      await waitFor(() => events.includes(`data:${greeting}`), 5000, `the greeting (${events.join(', ')})`);
      expect(events).toEqual(['connect', 'secureConnect', `data:${greeting}`]);
      client.destroy();
      await closed;
    } else {
      await closed;
      expect(events).toEqual(['connect', 'error:UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
    }
  } finally {
    await stop();
  }
});

test('a verdict that arrives after the socket reconnected is not taken for the new connection\'s', async () => {
  // A Unix path connects at once; the stall makes the connect and the
  // handshake's end arrive in one batch, so the verdict is deferred to the
  // tick after 'connect', where the socket reconnects. That verdict was
  // about the first connection; the second must be judged on its own.
  const { Worker } = await import('node:worker_threads');
  const path = `${require('node:os').tmpdir()}/epoll-reactor-tls-${process.pid}-${Date.now()}.sock`;
  const worker = new Worker(`
    const tls = require('node:tls');
    const { parentPort, workerData } = require('node:worker_threads');
    const server = tls.createServer({ key: workerData.key, cert: workerData.cert }, (socket) => socket.on('error', () => {}));
    server.listen(workerData.path, () => parentPort.postMessage('listening'));
  `, { eval: true, workerData: { key: pki.serverKey, cert: pki.serverCert, path } });
  try {
    await new Promise((resolve) => worker.once('message', resolve));
    const tlsOptions = { ca: pki.caCert, servername: 'localhost' };
    const events: string[] = [];
    const client = track(connect({ path, tls: tlsOptions })) as SecureSocket;
    client.on('error', (error: Error & { code?: string }) => events.push(`error:${error.code}`));
    client.on('secureConnect', () => events.push('secureConnect'));
    client.on('connect', () => {
      events.push('connect');
      if (events.filter((event) => event === 'connect').length === 1) {
        client.destroy();
        client.connect({ path });
      }
    });
    await new Promise((resolve) => setImmediate(resolve));
    stall(300);
    await waitFor(() => events.includes('secureConnect'), 5000, `a verdict (${events.join(', ')})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual(['connect', 'connect', 'secureConnect']);
    client.destroy();
  } finally {
    await worker.terminate();
    require('node:fs').rmSync(path, { force: true });
  }
});

describe('setServername()', () => {
  /** The SNI name a node:tls server saw from each client made by `make`, after `setServername(name)` in the connect's tick. */
  async function seenAfter(name: string, make: (port: number) => tls.TLSSocket | SecureSocket): Promise<string | false> {
    const { server, port } = await nodeEchoServer();
    const seen = new Promise<string | false>((resolve) => server.once('secureConnection', (socket: tls.TLSSocket) => {
      resolve((socket as unknown as { servername: string | false }).servername);
    }));
    const client = track(make(port));
    client.on('error', () => {});
    (client as unknown as { setServername(name: string): void }).setServername(name);
    return seen;
  }

  test('in the tick of the connect it replaces the SNI name, and the certificate is still checked against the option\'s', async () => {
    const options = (port: number): tls.ConnectionOptions => ({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' });
    for (const name of ['other.example', '', 'cut\0here', 'x'.repeat(256)]) {
      const theirs = await seenAfter(name, (port) => tls.connect(options(port)));
      const ours = await seenAfter(name, (port) => connect({ host: '127.0.0.1', port, tls: options(port) as never }) as SecureSocket);
      expect({ name, ours }).toEqual({ name, ours: theirs });
    }
    expect(await seenAfter('other.example', (port) => connect({ host: '127.0.0.1', port, tls: options(port) as never }) as SecureSocket))
      .toBe('other.example');
  });

  test('a name that is not a string, or a server\'s socket, throws what TLSSocket\'s throws', async () => {
    const { port } = await nodeEchoServer();
    const theirs = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    const ours = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } }) as SecureSocket);
    theirs.on('error', () => {});
    ours.on('error', () => {});
    const failure = (call: () => void): string => {
      try {
        call();
        return 'ok';
      } catch (error) {
        return `${(error as Error).name} ${(error as NodeJS.ErrnoException).code} ${(error as Error).message}`;
      }
    };
    for (const value of [5, undefined, null, {}]) {
      const expected = failure(() => (theirs as unknown as { setServername(name: unknown): void }).setServername(value));
      expect({ value, ours: failure(() => ours.setServername(value as never)) }).toEqual({ value, ours: expected });
    }
    let accepted: SecureSocket | undefined;
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => { accepted = socket; }));
    const serverPort = await listenLocal(server);
    track(tls.connect({ host: '127.0.0.1', port: serverPort, ca: pki.caCert, servername: 'localhost' })).on('error', () => {});
    await waitFor(() => accepted !== undefined);
    expect(failure(() => accepted!.setServername('a.example')))
      .toBe('Error ERR_TLS_SNI_FROM_SERVER Cannot issue SNI from a TLS server-side socket');
  });
});

test('a warning alert before the ServerHello, then the server\'s close_notify: a clean end, as tls.connect\'s', async () => {
  // OpenSSL 3.2 and later report that close_notify as SSL_ERROR_SYSCALL
  // (its last warning is the alert, not close_notify); node reads the
  // shutdown state first. TLS 1.3, and TLS 1.2 for the same path.
  // The server answers and ends: its close_notify is what the client reads last.
  const server = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => socket.end(chunk));
  }));
  const serverPort = await listenLocal(server);
  const proxy = track(serverBytesFirstProxy(serverPort, UNRECOGNIZED_NAME_WARNING));
  const port = await listenLocal(proxy);
  const endOf = (socket: tls.TLSSocket | Socket) => new Promise<string[]>((resolve) => {
    const events: string[] = [];
    socket.on('secureConnect', () => {
      events.push('secureConnect');
      socket.write('ping');
    });
    socket.on('data', (chunk: Buffer) => events.push(`data ${chunk.toString()}`));
    socket.on('end', () => events.push('end'));
    socket.on('error', (error: Error & { code?: string }) => events.push(`error ${error.code ?? error.message}`));
    socket.on('close', () => resolve(events));
  });
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const options = { ca: pki.caCert, servername: 'localhost', maxVersion };
    const theirs = await endOf(track(tls.connect({ host: '127.0.0.1', port, ...options })));
    const ours = await endOf(track(connect({ host: '127.0.0.1', port, tls: options })));
    expect(theirs).toEqual(['secureConnect', 'data ping', 'end']);
    expect(ours).toEqual(theirs);
  }
});
