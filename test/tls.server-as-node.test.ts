// tls.Server's behaviours that Node's own tls tests (test-tls-*, run with
// `node scripts/node-suite.js --suite tls`) found missing or different here.
// Each body runs against node:tls and epoll-reactor alike.
import { EventEmitter, once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { createSecureServer, SecureServer } from '../lib';
import { listenerWriteSendsFinished } from '../lib/net-version';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
jest.setTimeout(20000);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type CreateServer = typeof tls.createServer;
const implementations: Array<[string, CreateServer, typeof tls.Server]> = [
  ['node:tls', tls.createServer, tls.Server],
  ['epoll-reactor', createSecureServer as unknown as CreateServer, SecureServer as unknown as typeof tls.Server],
];

/** A client that trusts the test CA, connected and past its handshake (or failed). */
function client(port: number, options: tls.ConnectionOptions = {}): tls.TLSSocket {
  const socket = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', ...options }));
  socket.on('error', () => undefined);
  return socket;
}

describe.each(implementations)('%s', (_name, createServer, Server) => {
  test('Server() works without new, and takes a listener in place of its options', () => {
    const listener = (): void => undefined;
    const server = (Server as unknown as (listener: () => void) => tls.Server)(listener);
    expect(server).toBeInstanceOf(Server);
    expect(server.listeners('secureConnection')).toEqual([listener]);
    expect(createServer(listener).listeners('secureConnection')).toEqual([listener]);
  });

  test("a record the server cannot read after the handshake: the socket's 'error' without destroying, then the client's end is 'end', and 'close' without error", async () => {
    const events: string[] = [];
    let closed!: (hadError: boolean) => void;
    const hadErrorAtClose = new Promise<boolean>((resolve) => { closed = resolve; });
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
      socket.on('error', (error: NodeJS.ErrnoException) => events.push(`error ${error.code} (destroyed: ${socket.destroyed})`));
      socket.on('end', () => events.push('end'));
      socket.on('close', closed);
      socket.resume();
    }));
    const port = await listenLocal(server);
    const tcp = track(net.connect(port, '127.0.0.1'));
    const secure = client(port, { socket: tcp, maxVersion: 'TLSv1.2' });
    await once(secure, 'secureConnect');
    // An application-data record with bytes no key made, sent under the TLS layer.
    tcp.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(0x40, 7)]));
    await new Promise((resolve) => secure.once('error', resolve));  // the server's alert, read by the client
    tcp.end();
    expect(await hadErrorAtClose).toBe(false);
    expect(events).toEqual(['error ERR_SSL_CIPHER_OPERATION_FAILED (destroyed: false)', 'end']);
  });

  test("writes pending when an unreadable record comes still complete (the peer drops them), then 'end' and 'close' without error", async () => {
    // A proxy between client and server stops reading the server's records,
    // so the server's writes wait; then it sends the server a bad record.
    const events: string[] = [];
    let closed!: (hadError: boolean) => void;
    const hadErrorAtClose = new Promise<boolean>((resolve) => { closed = resolve; });
    let lastWriteDone = Date.now();
    let broken = false;
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert, maxVersion: 'TLSv1.2' }, (socket) => {
      const writeMore = (): void => {
        socket.write(Buffer.alloc(16384, 1), (error) => {
          lastWriteDone = Date.now();
          if (error) events.push(`write callback ${(error as NodeJS.ErrnoException).code}`);
          else if (broken) events.push('pending write completed');
          else writeMore();
        });
      };
      writeMore();
      socket.on('error', (error: NodeJS.ErrnoException) => { broken = true; events.push(`error ${error.code}`); });
      socket.on('end', () => events.push('end'));
      socket.on('close', closed);
      socket.resume();
    }));
    const port = await listenLocal(server);
    let toServer!: net.Socket;
    const proxy = track(net.createServer((fromClient) => {
      toServer = track(net.connect(port, '127.0.0.1'));
      fromClient.pipe(toServer);
      toServer.pipe(fromClient);
      fromClient.on('error', () => undefined);
      toServer.on('error', () => undefined);
    }));
    const secure = client(await listenLocal(proxy));
    await once(secure, 'secureConnect');
    toServer.unpipe();
    toServer.pause();
    for (let i = 0; i < 50 && Date.now() - lastWriteDone < 300; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    toServer.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(0x40, 7)]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    toServer.on('data', () => undefined);
    toServer.resume();
    await waitFor(() => events.length >= 2, 5000, "the pending write's callback");
    toServer.end();
    expect(await hadErrorAtClose).toBe(false);
    expect(events).toEqual(['error ERR_SSL_CIPHER_OPERATION_FAILED', 'pending write completed', 'end']);
  });

  // Shedding load in 'connection' (node's listener gets the TCP socket under
  // the TLS one): the handshake never finishes, the app never sees the client.
  test.each(['end', 'destroy'] as const)("%s() in the 'connection' listener: no 'secureConnection', a 'tlsClientError' of ECONNRESET 'socket hang up', and the client fails before its 'secureConnect'", async (how) => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert },
      () => { throw new Error("no 'secureConnection' for a client shed in 'connection'"); }));
    let shed!: () => void;
    const listenerRan = new Promise<void>((resolve) => { shed = resolve; });
    server.on('connection', (socket: net.Socket) => {
      socket[how]();
      shed();
    });
    let serverError: NodeJS.ErrnoException | undefined;
    server.on('tlsClientError', (error: NodeJS.ErrnoException) => { serverError = error; });
    const port = await listenLocal(server);
    // The ClientHello only once the listener ran: the reactor answers a
    // hello as it comes, before JS has seen the connection (docs/tls.md).
    const tcp = track(net.connect(port, '127.0.0.1'));
    await listenerRan;
    const secure = track(tls.connect({ socket: tcp, ca: pki.caCert, servername: 'localhost' }));
    secure.on('secureConnect', () => { throw new Error("no 'secureConnect' for a client shed in 'connection'"); });
    let clientError: NodeJS.ErrnoException | undefined;
    secure.on('error', (error: NodeJS.ErrnoException) => { clientError = error; });
    await waitFor(() => clientError !== undefined && serverError !== undefined, 5000, "the client's 'error' and the 'tlsClientError'");
    // Its message is node's "Client network socket disconnected before
    // secure TLS connection was established" when the server's FIN comes
    // before the hello, 'read ECONNRESET' when the hello reaches a socket
    // closed meanwhile (the reactor closes a turn after destroy()).
    expect(clientError!.code).toBe('ECONNRESET');
    expect([serverError!.code, serverError!.message]).toEqual(['ECONNRESET', 'socket hang up']);
  });

  test('a falsy key or cert is none, and an empty or null ciphers is the default list', async () => {
    expect(() => createServer({ key: false as never, cert: false as never })).not.toThrow();
    for (const ciphers of ['', null]) {
      const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert, ciphers: ciphers as string },
        (socket) => socket.end('hello')));
      const port = await listenLocal(server);
      const socket = client(port);
      await once(socket, 'secureConnect');
      const [greeting] = await once(socket, 'data') as [Buffer];
      expect(greeting.toString()).toBe('hello');
      socket.destroy();
    }
  });

  test("an SNICallback's error is the 'tlsClientError', with the client's name already on the socket", async () => {
    const server = track(createServer({
      key: pki.serverKey, cert: pki.serverCert,
      SNICallback: (_name, callback) => callback(new Error('no such name'), undefined as never),
    }));
    const port = await listenLocal(server);
    const reported = once(server, 'tlsClientError') as Promise<[Error, tls.TLSSocket]>;
    client(port, { servername: 'unknown.example' });
    const [error, socket] = await reported;
    expect(error.message).toBe('no such name');
    expect(socket.servername).toBe('unknown.example');
  });

  test("an unauthorized client is dropped with a 'tlsClientError' of ECONNRESET 'socket hang up'", async () => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true },
      () => { throw new Error("no 'secureConnection' for an unauthorized client"); }));
    const port = await listenLocal(server);
    const reported = once(server, 'tlsClientError') as Promise<[NodeJS.ErrnoException, tls.TLSSocket]>;
    client(port, { key: pki.rogueKey, cert: pki.rogueCert });
    const [error, socket] = await reported;
    expect(error).toMatchObject({ code: 'ECONNRESET', message: 'socket hang up' });
    expect(socket.authorized).toBe(false);
    expect(socket.authorizationError).toEqual(expect.any(String));
    expect(socket.destroyed).toBe(true);
  });

  /** What a TLS 1.2 client saw of a server that judged it: 'secureConnect' or not, its bytes, and how it ended. */
  async function tls12ClientOutcome(port: number, options: tls.ConnectionOptions = {}): Promise<string[]> {
    const seen: string[] = [];
    const socket = client(port, { maxVersion: 'TLSv1.2', ...options });
    socket.on('secureConnect', () => seen.push('secureConnect'));
    socket.on('data', (chunk: Buffer) => seen.push(`data ${chunk.toString()}`));
    socket.on('end', () => seen.push('end'));
    socket.on('error', (error: NodeJS.ErrnoException) => seen.push(`error ${error.code}`));
    await new Promise((resolve) => socket.on('close', resolve));
    return seen;
  }

  test("TLS 1.2: a client rejected for its certificate never gets 'secureConnect' (the server's Finished waits for the verdict)", async () => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert, requestCert: true },
      () => { throw new Error("no 'secureConnection' for an unauthorized client"); }));
    server.on('tlsClientError', () => undefined);
    const port = await listenLocal(server);
    expect(await tls12ClientOutcome(port, { key: pki.rogueKey, cert: pki.rogueCert })).toEqual(['end', 'error ECONNRESET']);
  });

  test("TLS 1.2: destroy() in the 'secureConnection' listener: the client never gets 'secureConnect'", async () => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.destroy()));
    const port = await listenLocal(server);
    expect(await tls12ClientOutcome(port)).toEqual(['end', 'error ECONNRESET']);
  });

  test.each([
    ['write(x); destroy()', (socket: tls.TLSSocket) => { socket.write('x'); socket.destroy(); }, ['secureConnect', 'data x', 'end']],
    ['end(x); destroy()', (socket: tls.TLSSocket) => { socket.end('x'); socket.destroy(); }, ['secureConnect', 'data x', 'end']],
    ['end(); destroy()', (socket: tls.TLSSocket) => { socket.end(); socket.destroy(); }, ['secureConnect', 'end']],
  ])("TLS 1.2: %s in the listener: on Node 20 and 22 the handshake's end and the bytes go first; from Node 24 on, nothing", async (_how, listener, sent) => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, listener));
    const port = await listenLocal(server);
    expect(await tls12ClientOutcome(port)).toEqual(listenerWriteSendsFinished ? sent : ['end', 'error ECONNRESET']);
  });

  test.each([
    ['process.nextTick', (destroy: () => void) => process.nextTick(destroy), ['end', 'error ECONNRESET']],
    ['queueMicrotask', (destroy: () => void) => queueMicrotask(destroy), ['end', 'error ECONNRESET']],
    ['setImmediate', (destroy: () => void) => setImmediate(destroy), ['secureConnect', 'end']],
    ['setTimeout', (destroy: () => void) => setTimeout(destroy, 20), ['secureConnect', 'end']],
  ])("TLS 1.2: a destroy() the listener defers with %s: node writes the handshake's end once the ticks and microtasks it queued ran", async (_how, defer, expected) => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => defer(() => socket.destroy())));
    const port = await listenLocal(server);
    expect(await tls12ClientOutcome(port)).toEqual(expected);
  });

  test("TLS 1.2: cork(); write(x); destroy() in the listener: the client never gets 'secureConnect'", async () => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
      socket.cork();
      socket.write('x');
      socket.destroy();
    }));
    const port = await listenLocal(server);
    expect(await tls12ClientOutcome(port)).toEqual(['end', 'error ECONNRESET']);
  });

  test.each([
    ['end(x)', (socket: tls.TLSSocket) => socket.end('x'), ['secureConnect', 'data x', 'end']],
    ['end()', (socket: tls.TLSSocket) => socket.end(), ['secureConnect', 'end']],
    ['a write on a later tick', (socket: tls.TLSSocket) => setImmediate(() => socket.end('x')), ['secureConnect', 'data x', 'end']],
  ])("TLS 1.2: %s in the listener sends the handshake's end, then the bytes", async (_how, listener, expected) => {
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, listener));
    const port = await listenLocal(server);
    expect(await tls12ClientOutcome(port)).toEqual(expected);
  });

  test("with captureRejections, a rejected async 'secureConnection' listener destroys that socket with its error", async () => {
    const before = EventEmitter.captureRejections;
    EventEmitter.captureRejections = true;
    let server: tls.Server;
    try {
      server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }));
    } finally {
      EventEmitter.captureRejections = before;
    }
    const failure = new Error('kaboom');
    const seen = new Promise<Error>((resolve) => server.on('secureConnection', async (socket: tls.TLSSocket) => {
      socket.on('error', resolve);
      throw failure;
    }));
    const port = await listenLocal(server);
    const socket = client(port);
    expect(await seen).toBe(failure);
    await once(socket, 'close');
  });

  test("a stream handed in with emit('connection') gets TLS, and its connections' events are the server's", async () => {
    // As a front that picks one of several TLS servers for each connection
    // (node's test-tls-ticket): a plain net server hands its sockets over.
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
      expect(socket.encrypted).toBe(true);
      socket.end('over a handed stream');
    }));
    const front = track(net.createServer({ pauseOnConnect: true }, (raw) => server.emit('connection', raw)));
    const port = await listenLocal(front);
    const socket = client(port);
    const [greeting] = await once(socket, 'data') as [Buffer];
    expect(greeting.toString()).toBe('over a handed stream');
    const reported = once(server, 'tlsClientError') as Promise<[NodeJS.ErrnoException]>;
    const plain = track(net.connect(port, '127.0.0.1', () => plain.write('GET / HTTP/1.1\r\n\r\n')));
    plain.on('error', () => undefined);
    const [error] = await reported;
    expect(error.code).toMatch(/^ERR_SSL_/);
  });

  test("a client that sends 32 KiB of junk: 'tlsClientError', then a clean end at the client, not a reset", async () => {
    // node's libuv had read it all (64 KiB a read) when its TLS failed, so its
    // close is a FIN; OpenSSL stops at the first bad record, and what it left
    // unread would make the close a reset.
    const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert }));
    const port = await listenLocal(server);
    const reported = once(server, 'tlsClientError') as Promise<[NodeJS.ErrnoException]>;
    const junk = track(net.connect(port, '127.0.0.1', () => junk.write(Buffer.alloc(32 * 1024, 'blah\n'))));
    const outcome = new Promise<string>((resolve) => {
      junk.on('data', () => undefined);
      junk.on('end', () => resolve('end'));
      junk.on('error', (error: NodeJS.ErrnoException) => resolve(`error:${error.code}`));
    });
    const [error] = await reported;
    expect(error.code).toMatch(/^ERR_SSL_/);
    expect(await outcome).toBe('end');
  });

  test("pauseOnConnect: the socket starts paused, and its TLS layer still reads, so the client's end is seen", async () => {
    const pausedAt: boolean[] = [];
    const ended = new Promise<void>((resolve) => {
      const server = track(createServer({ key: pki.serverKey, cert: pki.serverCert, pauseOnConnect: true }, (socket) => {
        pausedAt.push(socket.isPaused());
        socket.on('end', () => {
          pausedAt.push(socket.isPaused());
          resolve();
        });
      }));
      void listenLocal(server).then((port) => {
        const socket = client(port);
        socket.on('secureConnect', () => socket.end());
      });
    });
    await ended;
    expect(pausedAt).toEqual([true, true]);
  });
});

