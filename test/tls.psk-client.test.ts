// TLS-PSK on a client, as tls.connect's pskCallback: called with the socket
// as `this` and the server's identity hint (null in TLS 1.3, asked while the
// ClientHello is written; the hint in TLS 1.2, asked for the
// ClientKeyExchange), it returns { psk, identity } or none. OpenSSL's
// callback cannot wait for JS, so the reactor asks before the ClientHello,
// and reads a TLS 1.2 server's flight up to its ServerHelloDone before
// OpenSSL does. Every case runs tls.connect and connect({ tls }) against the
// same server, and what each client (and the server) saw must be the same.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureServerOptions } from '../lib';
import { listenLocal } from './helpers';
import { makeTestCertificate } from './helpers/cert';
import { serverBytesFirstProxy, UNRECOGNIZED_NAME_WARNING } from './helpers/tls-proxy';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

// As Node's own test-tls-psk-circuit: TLS 1.2's PSK suites, and the TLS 1.3
// suite OpenSSL makes a PSK callback's sessions with.
const CIPHERS = 'PSK+HIGH:TLS_AES_128_GCM_SHA256';
const KEY = Buffer.from('82072606b502b0f4025e90eb75fe137d', 'hex');
const TLS12 = { ciphers: CIPHERS, maxVersion: 'TLSv1.2' as const };

type ClientOptions = Omit<tls.ConnectionOptions, 'pskCallback'> & { pskCallback?: unknown };
type Connect = (port: number, options: ClientOptions) => tls.TLSSocket;
const nodeClient: Connect = (port, options) => tls.connect({ host: '127.0.0.1', port, ...options } as tls.ConnectionOptions);
const reactorClient: Connect = (port, options) =>
  connect({ host: '127.0.0.1', port, tls: options as never }) as unknown as tls.TLSSocket;

interface Outcome {
  hints: (string | null)[];     // what the client's pskCallback was given, in order
  thisWasSocket?: boolean;      // its `this` was the socket connect returned
  protocol?: string | null;
  cipher?: string;
  authorized?: boolean;
  authorizationError?: string | null;
  reply?: string;
  clientError?: string;
  serverError?: string;
}

type ServerKind = 'node' | 'reactor';

/**
 * A server of `kind` that knows 'alice' by KEY and echoes; one client made
 * by `make` with `client` options whose pskCallback records each hint and
 * answers with `answer` (KEY as 'alice' by default) and writes 'ping'.
 * Through `reframe` when given. What both sides saw.
 */
async function run(make: Connect, client: ClientOptions, server: SecureServerOptions = {},
  answer: (hint: string | null) => unknown = () => ({ psk: KEY, identity: 'alice' }),
  kind: ServerKind = 'node', reframe?: Reframe): Promise<Outcome> {
  const outcome: Outcome = { hints: [] };
  const serverOptions = {
    ciphers: CIPHERS,
    pskCallback: (_socket: unknown, identity: string) => (identity === 'alice' ? KEY : null),
    ...server,
  };
  const listener = track(kind === 'node' ? tls.createServer(serverOptions as tls.TlsOptions) : createSecureServer(serverOptions));
  listener.on('secureConnection', (socket: net.Socket) => socket.on('data', (chunk: Buffer) => socket.end(chunk)));
  listener.on('tlsClientError', (error: Error & { code?: string }) => { outcome.serverError = error.code ?? error.message; });
  const serverPort = await listenLocal(listener as never);
  const port = reframe === undefined ? serverPort : await listenLocal(track(reframingProxy(serverPort, reframe)));
  await new Promise<void>((resolve) => {
    const socket: tls.TLSSocket = track(make(port, {
      ...client,
      pskCallback(this: unknown, hint: string | null) {
        outcome.hints.push(hint);
        outcome.thisWasSocket = this === socket;
        return answer(hint);
      },
    } as ClientOptions));
    socket.once('secureConnect', () => {
      outcome.protocol = socket.getProtocol();
      outcome.cipher = socket.getCipher()?.name;
      outcome.authorized = socket.authorized;
      outcome.authorizationError = socket.authorizationError === null ? null : String(socket.authorizationError);
      socket.write('ping');
    });
    let reply = '';
    socket.on('data', (chunk: Buffer) => { reply += chunk.toString(); });
    socket.once('error', (error: Error & { code?: string }) => { outcome.clientError = error.code ?? error.message; });
    socket.once('close', () => {
      if (reply !== '') outcome.reply = reply;
      resolve();
    });
  });
  // tlsClientError comes with the server's side of the close, which may follow the client's.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return outcome;
}

/** An alert's error code, as node names it: SSLV3_ALERT_ on OpenSSL 3.0, SSL/TLS_ALERT_ from 3.2. */
const alert = (name: string) => expect.stringMatching(new RegExp(`^ERR_SSL_(SSLV3|SSL/TLS)_ALERT_${name}$`));

/** The case with tls.connect, then with connect({ tls }): both outcomes, node's first. */
async function both(client: ClientOptions, server?: SecureServerOptions, answer?: (hint: string | null) => unknown,
  kind?: ServerKind, reframe?: Reframe): Promise<[Outcome, Outcome]> {
  const theirs = await run(nodeClient, client, server, answer, kind, reframe);
  const ours = await run(reactorClient, client, server, answer, kind, reframe);
  return [theirs, ours];
}

describe('a TLS client pskCallback, as tls.connect\'s', () => {
  test('TLS 1.3: asked once with no hint, `this` the socket; the handshake needs no certificate and is authorized', async () => {
    const [theirs, ours] = await both({ ciphers: CIPHERS });
    expect(theirs).toEqual({
      hints: [null], thisWasSocket: true, protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256',
      authorized: true, authorizationError: null, reply: 'ping',
    });
    expect(ours).toEqual(theirs);
  });

  test('TLS 1.2: asked for the ClientKeyExchange with the server\'s hint (UTF-8), or null when it sent none', async () => {
    const check = { checkServerIdentity: () => undefined };
    const [theirs, ours] = await both({ ...TLS12, ...check }, { pskIdentityHint: 'hint-é' });
    expect(theirs).toMatchObject({ hints: ['hint-é'], protocol: 'TLSv1.2', authorized: true, reply: 'ping' });
    expect(theirs.cipher).toMatch(/PSK/);
    expect(ours).toEqual(theirs);
    const [theirsNone, oursNone] = await both({ ...TLS12, ...check });
    expect(theirsNone).toMatchObject({ hints: [null], protocol: 'TLSv1.2', reply: 'ping' });
    expect(oursNone).toEqual(theirsNone);
  });

  test('TLS 1.2 with the default checkServerIdentity: no certificate has the name, as node says', async () => {
    const [theirs, ours] = await both(TLS12, { pskIdentityHint: 'h' });
    expect(theirs).toMatchObject({ hints: ['h'], clientError: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(ours).toEqual(theirs);
    const [lenient, oursLenient] = await both({ ...TLS12, rejectUnauthorized: false }, { pskIdentityHint: 'h' });
    expect(lenient).toMatchObject({ authorized: false, authorizationError: 'ERR_TLS_CERT_ALTNAME_INVALID', reply: 'ping' });
    expect(oursLenient).toEqual(lenient);
  });

  test('a client that may speak TLS 1.3 and a server that stops at 1.2: asked twice, before the ClientHello and with the hint', async () => {
    const [theirs, ours] = await both({ ciphers: CIPHERS, checkServerIdentity: () => undefined },
      { maxVersion: 'TLSv1.2', pskIdentityHint: 'second' });
    expect(theirs).toMatchObject({ hints: [null, 'second'], protocol: 'TLSv1.2', reply: 'ping' });
    expect(ours).toEqual(theirs);
  });

  test('a HelloRetryRequest (the server wants another group): asked again for the second ClientHello', async () => {
    const [theirs, ours] = await both({ ciphers: CIPHERS }, { ecdhCurve: 'P-384' });
    expect(theirs).toMatchObject({ hints: [null, null], protocol: 'TLSv1.3', reply: 'ping' });
    expect(ours).toEqual(theirs);
    // The second answer is the one used: a key only the second time fails the binder.
    let asked = 0;
    const secondWrong = () => ({ psk: asked++ % 2 === 0 ? KEY : Buffer.alloc(16, 9), identity: 'alice' });
    const [theirsWrong, oursWrong] = await both({ ciphers: CIPHERS }, { ecdhCurve: 'P-384' }, secondWrong);
    expect(theirsWrong).toMatchObject({ hints: [null, null], serverError: 'ERR_SSL_BINDER_DOES_NOT_VERIFY' });
    expect(oursWrong).toEqual(theirsWrong);
  });

  test('against the reactor\'s own server, both versions', async () => {
    const check = { checkServerIdentity: () => undefined };
    const [theirs, ours] = await both({ ciphers: CIPHERS }, {}, undefined, 'reactor');
    expect(theirs).toMatchObject({ hints: [null], protocol: 'TLSv1.3', authorized: true, reply: 'ping' });
    expect(ours).toEqual(theirs);
    const [theirs12, ours12] = await both({ ...TLS12, ...check }, { pskIdentityHint: 'ours' }, undefined, 'reactor');
    expect(theirs12).toMatchObject({ hints: ['ours'], protocol: 'TLSv1.2', reply: 'ping' });
    expect(ours12).toEqual(theirs12);
  });

  test('no key (null), or a key the server does not share: OpenSSL\'s errors on both sides', async () => {
    const none = () => null;
    const wrong = () => ({ psk: Buffer.alloc(16, 1), identity: 'alice' });
    const check = { checkServerIdentity: () => undefined };
    // TLS 1.3 without a PSK needs a certificate the server does not have.
    const cases: [ClientOptions, SecureServerOptions, (hint: string | null) => unknown, object][] = [
      [{ ciphers: CIPHERS }, {}, none, { clientError: alert('HANDSHAKE_FAILURE') }],
      // The client's alert for a binder that does not verify is OpenSSL's choice: illegal_parameter on 3.0, decrypt_error later.
      [{ ciphers: CIPHERS }, {}, wrong, { clientError: expect.stringMatching(/^ERR_SSL_.*ALERT/), serverError: 'ERR_SSL_BINDER_DOES_NOT_VERIFY' }],
      [{ ...TLS12, ...check }, {}, none, { clientError: 'ERR_SSL_PSK_IDENTITY_NOT_FOUND' }],
      [{ ...TLS12, ...check }, {}, wrong, { clientError: alert('BAD_RECORD_MAC') }],
    ];
    for (const [client, server, answer, expected] of cases) {
      const [theirs, ours] = await both(client, server, answer);
      expect(theirs).toMatchObject(expected);
      expect(theirs.reply).toBeUndefined();
      expect(ours).toEqual(theirs);
    }
  });

  test('a throw, or an answer of the wrong shape, destroys the socket with that error', async () => {
    const boom = new Error('boom');
    const answers: [(hint: string | null) => unknown, string][] = [
      [() => { throw boom; }, 'boom'],
      [() => 5, 'ERR_INVALID_ARG_TYPE'],
      [() => [KEY], 'ERR_INVALID_ARG_TYPE'],
      [() => ({ psk: 'key', identity: 'alice' }), 'ERR_INVALID_ARG_TYPE'],
      [() => ({ psk: KEY, identity: 5 }), 'ERR_INVALID_ARG_TYPE'],
      [() => ({ psk: Buffer.alloc(513), identity: 'alice' }), 'ERR_INVALID_ARG_VALUE'],
      [() => ({ psk: KEY, identity: 'x'.repeat(257) }), 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [answer, error] of answers) {
      const [theirs, ours] = await both({ ciphers: CIPHERS }, {}, answer);
      expect(theirs).toMatchObject({ hints: [null], clientError: error });
      expect(theirs.protocol).toBeUndefined();
      expect(ours).toEqual(theirs);
    }
    // The limits themselves pass: 256 bytes of identity and 512 of key are
    // OpenSSL's maxima (this server knows neither, and says so).
    const [theirs, ours] = await both({ ciphers: CIPHERS }, { pskCallback: () => null },
      () => ({ psk: Buffer.alloc(512, 2), identity: 'é'.repeat(128) }));
    expect(theirs.clientError).toEqual(alert('HANDSHAKE_FAILURE'));
    expect(ours).toEqual(theirs);
  });

  test('the key as a TypedArray or DataView, and an identity cut at a NUL, as node takes them', async () => {
    const words = new Uint32Array(KEY.buffer.slice(KEY.byteOffset, KEY.byteOffset + KEY.length));
    for (const psk of [words, new DataView(words.buffer)]) {
      const [theirs, ours] = await both({ ciphers: CIPHERS }, {}, () => ({ psk, identity: 'alice' }));
      expect(theirs).toMatchObject({ protocol: 'TLSv1.3', reply: 'ping' });
      expect(ours).toEqual(theirs);
    }
    const [theirs, ours] = await both({ ciphers: CIPHERS }, {}, () => ({ psk: KEY, identity: 'alice\0tail' }));
    expect(theirs).toMatchObject({ protocol: 'TLSv1.3', reply: 'ping' });
    expect(ours).toEqual(theirs);
  });

  test('a pskCallback that is not a function throws tls.connect\'s TypeError before anything starts; a falsy one is none', () => {
    const thrown = (make: () => unknown) => {
      try {
        make();
      } catch (error) {
        return { name: (error as Error).name, code: (error as { code?: string }).code, message: (error as Error).message };
      }
      return undefined;
    };
    const theirs = thrown(() => tls.connect({ port: 1, pskCallback: 'nope' } as never));
    expect(theirs).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => connect({ port: 1, tls: { pskCallback: 'nope' } as never }))).toEqual(theirs);
    const socket = track(connect({ host: '127.0.0.1', port: 1, tls: { pskCallback: 0 } as never }));
    socket.on('error', () => undefined);
  });

  test('a client destroyed by its own pskCallback closes, and nothing is answered', async () => {
    const destroyer = function (this: tls.TLSSocket) {
      this.destroy();
      return { psk: KEY, identity: 'alice' };
    };
    for (const make of [nodeClient, reactorClient]) {
      const server = track(tls.createServer({ ciphers: CIPHERS, pskCallback: () => KEY }));
      const port = await listenLocal(server as never);
      const socket = track(make(port, { ciphers: CIPHERS, pskCallback: destroyer }));
      let secure = false;
      socket.on('secureConnect', () => { secure = true; });
      await new Promise((resolve) => socket.once('close', resolve));
      expect(secure).toBe(false);
    }
  });
});

/**
 * How the proxy below re-frames a TLS 1.2 server's first flight, before it
 * reaches the client: 'packed', every message in one record, as BoringSSL
 * sends it; 'split', records of at most 7 bytes (messages spanning records)
 * written one at a time, so the client reads its records in pieces.
 */
type Reframe = 'packed' | 'split' | 'packed, hint longer than its message' | 'packed, a cipher not offered' |
  { alertFirst: Buffer };

/** The rewrites of the last two: each message of the flight, by type, changed in place. */
function rewriteFlight(handshake: Buffer, reframe: Reframe): void {
  for (let at = 0; at + 4 <= handshake.length; at += 4 + handshake.readUIntBE(at + 1, 3)) {
    const body = at + 4;
    // ServerKeyExchange: a psk_identity_hint of 200 bytes in a message of about 40.
    if (handshake[at] === 12 && reframe === 'packed, hint longer than its message') handshake.writeUInt16BE(200, body);
    // ServerHello: version, random, session id, then the cipher: PSK-AES256-GCM-SHA384.
    if (handshake[at] === 2 && reframe === 'packed, a cipher not offered') handshake.writeUInt16BE(0x00a9, body + 35 + handshake[body + 34]);
  }
}

/** A proxy to `target` that re-frames the server's handshake records up to ServerHelloDone. */
function reframingProxy(target: number, reframe: Reframe): net.Server {
  if (typeof reframe === 'object') return serverBytesFirstProxy(target, reframe.alertFirst);
  return net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    down.setNoDelay(true);
    let pending = Buffer.alloc(0);
    let handshake = Buffer.alloc(0);
    let version = Buffer.from([3, 3]);
    let flightDone = false;
    let sending = Promise.resolve();
    const send = (bytes: Buffer) => {
      sending = sending.then(() => { if (!down.destroyed) down.write(bytes); });
    };
    const record = (body: Buffer) => Buffer.concat([Buffer.from([22]), version, Buffer.from([body.length >> 8, body.length & 255]), body]);
    const flush = () => {
      rewriteFlight(handshake, reframe);
      if (reframe !== 'split') {
        send(record(handshake));
      } else {
        for (let at = 0; at < handshake.length; at += 7) {
          const piece = record(handshake.subarray(at, at + 7));
          sending = sending.then(async () => {
            if (!down.destroyed) down.write(piece);
            await new Promise((resolve) => setTimeout(resolve, 2));
          });
        }
      }
      handshake = Buffer.alloc(0);
    };
    up.on('data', (chunk: Buffer) => {
      if (flightDone) {
        send(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      while (!flightDone && pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
        const length = 5 + pending.readUInt16BE(3);
        const whole = pending.subarray(0, length);
        pending = pending.subarray(length);
        if (whole[0] !== 22) {
          flightDone = true;
          flush();
          send(whole);
          break;
        }
        version = Buffer.from(whole.subarray(1, 3));
        handshake = Buffer.concat([handshake, whole.subarray(5)]);
        // ServerHelloDone (14) ends the flight: look for it at each message's start.
        for (let at = 0; at + 4 <= handshake.length; at += 4 + handshake.readUIntBE(at + 1, 3)) {
          if (handshake[at] === 14) flightDone = true;
        }
        if (flightDone) flush();
      }
      if (flightDone && pending.length > 0) {
        send(pending);
        pending = Buffer.alloc(0);
      }
    });
    down.on('data', (chunk: Buffer) => { if (!up.destroyed) up.write(chunk); });
    up.on('end', () => {
      sending = sending.then(() => { down.end(); });
    });
    down.on('end', () => up.end());
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    down.on('close', () => up.destroy());
  });
}

describe('a TLS 1.2 server flight the client reads before OpenSSL', () => {
  test.each(['packed', 'split'] as const)('%s records: the hint is found and the handshake completes as with tls.connect', async (reframe) => {
    const client = { ...TLS12, checkServerIdentity: () => undefined };
    const [theirs, ours] = await both(client, { pskIdentityHint: 'hint in a reframed flight' }, undefined, 'node', reframe);
    expect(theirs).toMatchObject({ hints: ['hint in a reframed flight'], protocol: 'TLSv1.2', reply: 'ping' });
    expect(ours).toEqual(theirs);
  });

  test('a flight OpenSSL refuses before it asks (a hint longer than its message, a cipher not offered): not asked, as node', async () => {
    const client = { ciphers: 'PSK-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' as const, checkServerIdentity: () => undefined };
    for (const reframe of ['packed, hint longer than its message', 'packed, a cipher not offered'] as Reframe[]) {
      const [theirs, ours] = await both(client, { pskIdentityHint: 'h' }, undefined, 'node', reframe);
      expect(theirs.hints).toEqual([]);
      expect(theirs.clientError).toMatch(/^ERR_SSL_/);
      expect(ours).toEqual(theirs);
    }
  });

  test('a warning alert before the ServerHello: read past, and the hint still asked about', async () => {
    const check = { checkServerIdentity: () => undefined };
    const [theirs, ours] = await both({ ...TLS12, ...check }, { pskIdentityHint: 'h' }, undefined, 'node', { alertFirst: UNRECOGNIZED_NAME_WARNING });
    expect(theirs).toMatchObject({ hints: ['h'], protocol: 'TLSv1.2', reply: 'ping' });
    expect(ours).toEqual(theirs);
    // And before a HelloRetryRequest, which still asks again.
    const [theirsRetry, oursRetry] = await both({ ciphers: CIPHERS }, { ecdhCurve: 'P-384' }, undefined, 'node', { alertFirst: UNRECOGNIZED_NAME_WARNING });
    expect(theirsRetry).toMatchObject({ hints: [null, null], protocol: 'TLSv1.3', reply: 'ping' });
    expect(oursRetry).toEqual(theirsRetry);
  });

  test('the ClientKeyExchange question comes after \'connect\', even when both came in one batch', async () => {
    const server = track(createSecureServer({ ciphers: CIPHERS, pskIdentityHint: 'h', pskCallback: () => KEY }));
    server.on('secureConnection', (socket: net.Socket) => socket.end('x'));
    const port = await listenLocal(server);
    const seen: string[] = [];
    const socket = track(reactorClient(port, {
      ...TLS12, checkServerIdentity: () => undefined,
      pskCallback: (hint: string | null) => {
        seen.push(`pskCallback ${hint}`);
        return { psk: KEY, identity: 'alice' };
      },
    }));
    socket.on('connect', () => seen.push('connect'));
    socket.on('secureConnect', () => seen.push('secureConnect'));
    socket.on('data', () => undefined);
    // Once the connect is handed over (a tick), the JS thread is busy while
    // the reactor connects, sends the ClientHello and reads the server's
    // flight: one batch brings the connect and the question.
    setImmediate(() => {
      const until = Date.now() + 300;
      while (Date.now() < until) { /* busy */ }
    });
    await new Promise((resolve) => socket.once('close', resolve));
    expect(seen).toEqual(['connect', 'pskCallback h', 'secureConnect']);
  });

  test('with a certificate before the key exchange (RSA-PSK), spanning records', async () => {
    const rsa = makeTestCertificate();
    rsa.remove();  // read into memory already
    const server = { key: rsa.key, cert: rsa.cert, ciphers: 'RSA-PSK-AES128-GCM-SHA256', pskIdentityHint: 'rsa' };
    const client = { ciphers: 'RSA-PSK-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' as const, ca: rsa.cert, servername: 'localhost' };
    for (const reframe of [undefined, 'split'] as (Reframe | undefined)[]) {
      const [theirs, ours] = await both(client, server, undefined, 'node', reframe);
      expect(theirs).toMatchObject({ hints: ['rsa'], protocol: 'TLSv1.2', cipher: 'RSA-PSK-AES128-GCM-SHA256', authorized: true, reply: 'ping' });
      expect(ours).toEqual(theirs);
    }
  });
});
