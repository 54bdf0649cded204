// TLS-PSK on a server, as node:tls's pskCallback: the callback is given the
// socket and the identity a client offers (in TLS 1.3's ClientHello, or in
// TLS 1.2's ClientKeyExchange for a PSK cipher) and returns the key, or none.
// On the reactor the handshake stops before OpenSSL reads the identity, JS
// answers, and OpenSSL's lookup then finds the key. Every case runs against
// node's tls.Server given the same options first, and what the client and
// the server see must be the same.
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { constants as cryptoConstants } from 'node:crypto';

import { createSecureServer, SecureServer, SecureServerOptions, SecureSocket } from '../lib';
import { pskHintErrorCode } from '../lib/net-version';
import { environmentWithoutPreload, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

// As Node's own test-tls-psk-circuit: TLS 1.2's PSK suites, and the TLS 1.3
// suite OpenSSL's PSK lookup makes its sessions with.
const CIPHERS = 'PSK+HIGH:TLS_AES_128_GCM_SHA256';
const KEYS: Record<string, Buffer> = {
  alice: Buffer.from('82072606b502b0f4025e90eb75fe137d', 'hex'),
  bob: Buffer.alloc(64, 7),
};

type AnyServer = SecureServer | tls.Server;
type Make = (options: SecureServerOptions) => AnyServer;
const makeNode: Make = (options) => tls.createServer(options as tls.TlsOptions);
const makeReactor: Make = (options) => createSecureServer(options);

interface Outcome {
  asked: string[];            // the identities the server's callback was given
  socketWasThis?: boolean;    // the callback's first argument was its `this`, the server's socket
  clientHint?: string | null; // what a client's own pskCallback was given
  reply?: string;
  protocol?: string | null;
  serverError?: { code?: string; message?: string };
  clientError?: string;
}

/**
 * An echo server made by `make` with the cipher list above, `options`, and
 * a pskCallback that records the identity and answers with `answer`; one
 * client with `client` options writes 'ping'. What both sides saw.
 */
async function run(make: Make, answer: (identity: string) => unknown, client: tls.ConnectionOptions,
  options: SecureServerOptions = {}, via?: Delivery): Promise<Outcome> {
  const outcome: Outcome = { asked: [] };
  const server = track(make({
    ciphers: CIPHERS,
    pskCallback(this: unknown, socket: SecureSocket, identity: string) {
      outcome.asked.push(identity);
      outcome.socketWasThis = this === socket;
      return answer(identity) as Buffer;
    },
    ...options,
  }));
  server.on('secureConnection', (socket: SecureSocket | tls.TLSSocket) => socket.on('data', (chunk: Buffer) => socket.end(chunk)));
  server.on('tlsClientError', (error: Error & { code?: string }) => {
    // OpenSSL's errors by code: node's message carries the source line of its OpenSSL build.
    outcome.serverError = error.code?.startsWith('ERR_SSL_') ? { code: error.code } : { code: error.code, message: error.message };
  });
  const serverPort = await listenLocal(server as SecureServer);
  const port = via === undefined ? serverPort : await listenLocal(track(deliveringProxy(serverPort, via)));
  await new Promise<void>((resolve) => {
    const socket = track(tls.connect({
      host: '127.0.0.1', port, ciphers: CIPHERS, checkServerIdentity: () => undefined,
      pskCallback: (hint: string | null) => {
        outcome.clientHint = hint;
        return { psk: KEYS.alice, identity: 'alice' };
      },
      ...client,
    }));
    socket.once('secureConnect', () => {
      outcome.protocol = socket.getProtocol();
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

/** Runs the case on node:tls, then on the reactor; both outcomes, node's first. */
async function both(answer: (identity: string) => unknown, client: tls.ConnectionOptions,
  options?: SecureServerOptions, via?: Delivery): Promise<[Outcome, Outcome]> {
  const theirs = await run(makeNode, answer, client, options, via);
  const ours = await run(makeReactor, answer, client, options, via);
  return [theirs, ours];
}

/** How a proxy hands the server the client's TLS 1.2 flight that starts with its ClientKeyExchange. */
interface Delivery {
  splitAt?: number;  // the first bytes, then the rest `pauseMs` later
  pauseMs?: number;
  thenFin?: boolean; // the client's FIN right behind its flight
  instead?: Buffer;  // these bytes in its place, and the connection kept open
}

/** A TCP proxy to 127.0.0.1:`target` that delivers the client's key exchange flight as `delivery` says. */
function deliveringProxy(target: number, delivery: Delivery): net.Server {
  return net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    down.setNoDelay(true);
    up.setNoDelay(true);
    let sending = Promise.resolve();
    let seen = false;
    down.on('data', (chunk: Buffer) => {
      sending = sending.then(async () => {
        // A handshake record (22) holding a ClientKeyExchange (16).
        if (seen || chunk[0] !== 22 || chunk[5] !== 16) {
          if (!up.writableEnded) up.write(chunk);
          return;
        }
        seen = true;
        if (delivery.instead !== undefined) {
          up.write(delivery.instead);
          return;
        }
        const at = delivery.splitAt ?? chunk.length;
        up.write(chunk.subarray(0, at));
        await new Promise((resolve) => setTimeout(resolve, delivery.pauseMs ?? 0));
        up.write(chunk.subarray(at));
        if (delivery.thenFin) up.end();
      });
    });
    up.on('data', (chunk: Buffer) => down.write(chunk));
    up.on('error', () => down.destroy());
    down.on('error', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('end', () => sending.then(() => { if (!up.writableEnded) up.end(); }));
  });
}

test.each(['TLSv1.2', 'TLSv1.3'] as const)('a %s client with a known identity and key echoes, as with node:tls', async (version) => {
  const [theirs, ours] = await both((identity) => KEYS[identity], { minVersion: version, maxVersion: version });
  expect(theirs).toMatchObject({ asked: ['alice'], socketWasThis: true, reply: 'ping', protocol: version });
  expect(ours).toEqual(theirs);
});

test.each(['TLSv1.2', 'TLSv1.3'] as const)('over %s, an identity the callback has no key for fails both sides as node:tls', async (version) => {
  const client = { maxVersion: version, pskCallback: () => ({ psk: KEYS.bob, identity: 'carol' }) };
  const [theirs, ours] = await both((identity) => KEYS[identity], client);
  expect(theirs.asked).toEqual(['carol']);
  expect(theirs.serverError?.code).toMatch(/^ERR_SSL_/);
  expect(theirs.clientError).toMatch(/^ERR_SSL_/);
  expect(ours).toEqual(theirs);
});

test.each(['TLSv1.2', 'TLSv1.3'] as const)('over %s, a key that does not match the client\'s fails both sides as node:tls', async (version) => {
  const client = { maxVersion: version, pskCallback: () => ({ psk: KEYS.bob, identity: 'alice' }) };
  const [theirs, ours] = await both((identity) => KEYS[identity], client);
  expect(theirs.reply).toBeUndefined();
  expect(theirs.serverError?.code).toMatch(/^ERR_SSL_/);
  expect(ours).toEqual(theirs);
});

test.each<[string, string, string]>([
  ['with a NUL byte', 'TLSv1.2', 'ab\0cd'],
  ['with a NUL byte', 'TLSv1.3', 'ab\0cd'],
  ['of 256 bytes, the longest OpenSSL looks up', 'TLSv1.2', 'é'.repeat(128)],
  ['of 256 bytes, the longest OpenSSL looks up', 'TLSv1.3', 'é'.repeat(128)],
  ["of 257 bytes, which node's client refuses to send", 'TLSv1.2', 'x'.repeat(257)],
])('an identity %s (%s) reaches the callback as node:tls gives it', async (_name, version, identity) => {
  const client = { maxVersion: version as tls.SecureVersion, pskCallback: () => ({ psk: KEYS.alice, identity }) };
  const [theirs, ours] = await both(() => KEYS.alice, client);
  expect(ours).toEqual(theirs);
});

test.each<[string, (identity: string) => unknown]>([
  ['a Uint8Array', (identity) => new Uint8Array(KEYS[identity])],
  ['a DataView', (identity) => new DataView(KEYS[identity].buffer, KEYS[identity].byteOffset, KEYS[identity].byteLength)],
  ['{ psk }', (identity) => ({ psk: KEYS[identity] })],
])('the key may be given as %s', async (_name, answer) => {
  const [theirs, ours] = await both(answer, { maxVersion: 'TLSv1.2' });
  expect(theirs).toMatchObject({ reply: 'ping' });
  expect(ours).toEqual(theirs);
});

test.each<[string, string, (identity: string) => unknown]>([
  ['a string', 'ERR_INVALID_ARG_TYPE', () => 'not a key'],
  ['{ psk } that is not bytes', 'ERR_INVALID_ARG_TYPE', () => ({ psk: 42 })],
  ['a key longer than OpenSSL takes (513 bytes)', 'ERR_INVALID_ARG_VALUE', () => Buffer.alloc(513)],
])('a callback that returns %s fails the handshake with %s', async (_name, code, answer) => {
  const [theirs, ours] = await both(answer, { maxVersion: 'TLSv1.2' });
  expect(theirs.serverError?.code).toBe(code);
  expect(ours).toEqual(theirs);
});

test('a callback that throws fails the handshake with what it threw, and the client is reset', async () => {
  const [theirs, ours] = await both(() => { throw new Error('no key here'); }, {});
  expect(theirs).toMatchObject({ serverError: { message: 'no key here' }, clientError: 'ECONNRESET' });
  expect(ours).toEqual(theirs);
});

test('a TLS 1.2 server offers its pskIdentityHint, which reaches the client\'s pskCallback', async () => {
  const [theirs, ours] = await both((identity) => KEYS[identity], { maxVersion: 'TLSv1.2' }, { pskIdentityHint: 'which key?' });
  expect(theirs).toMatchObject({ clientHint: 'which key?', reply: 'ping' });
  expect(ours).toEqual(theirs);
});

test('a hint OpenSSL refuses (over 256 bytes) fails each connection with node\'s code', async () => {
  const [theirs, ours] = await both((identity) => KEYS[identity], {}, { pskIdentityHint: 'h'.repeat(257) });
  expect(theirs).toMatchObject({
    asked: [], serverError: { code: pskHintErrorCode, message: 'Failed to set PSK identity hint' }, clientError: 'ECONNRESET',
  });
  expect(ours).toEqual(theirs);
});

test('a pskCallback that is not a function, or a hint that is not a string, throws as tls.createServer does', () => {
  for (const options of [{ pskCallback: 'yes' }, { pskCallback: () => null, pskIdentityHint: 5 }]) {
    let expected: unknown;
    try {
      tls.createServer(options as never);
    } catch (error) {
      expected = error;
    }
    expect(expected).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(() => createSecureServer(options as never)).toThrow(expected as Error);
  }
});

test('setSecureContext() replaces the pskCallback for the connections that follow, as node\'s', async () => {
  const server = track(createSecureServer({ ciphers: CIPHERS, pskCallback: () => null }, (socket) => socket.end('hi')));
  const port = await listenLocal(server);
  server.setSecureContext({ ciphers: CIPHERS, pskCallback: (_socket: SecureSocket, identity: string) => KEYS[identity] } as SecureServerOptions);
  const socket = track(tls.connect({
    host: '127.0.0.1', port, ciphers: CIPHERS, checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: KEYS.alice, identity: 'alice' }),
  }));
  const [chunk] = await new Promise<Buffer[]>((resolve, reject) => {
    socket.once('data', (data: Buffer) => resolve([data]));
    socket.once('error', reject);
  });
  expect(chunk.toString()).toBe('hi');
});

test('a client that hangs up while its identity waits for the callback fails that handshake and nothing else', async () => {
  const server = track(createSecureServer({ ciphers: CIPHERS, pskCallback: (_socket, identity) => {
    // The client leaves now; the reactor thread sees it while JS still works.
    client.destroy();
    const until = Date.now() + 100;
    while (Date.now() < until) { /* the handshake waits on the answer meanwhile */ }
    return KEYS[identity];
  } }, () => { throw new Error('no secureConnection'); }));
  const failed = new Promise<Error>((resolve) => server.once('tlsClientError', resolve));
  const port = await listenLocal(server);
  const client = track(tls.connect({
    host: '127.0.0.1', port, ciphers: CIPHERS, checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: KEYS.alice, identity: 'alice' }),
  }));
  client.on('error', () => undefined);
  expect(await failed).toBeInstanceOf(Error);
  // The server goes on: the next client gets its echo.
  expect(await run(makeReactor, (identity) => KEYS[identity], {})).toMatchObject({ reply: 'ping' });
});

test.each<[string, Delivery]>([
  ['3 bytes, then the rest 100 ms later', { splitAt: 3, pauseMs: 100 }],
  ['its headers and part of the identity, then the rest', { splitAt: 12, pauseMs: 100 }],
  ['whole, with the client\'s FIN right behind it', { thenFin: true }],
])('a TLS 1.2 key exchange delivered %s finishes the handshake as with node:tls', async (_name, via) => {
  const [theirs, ours] = await both((identity) => KEYS[identity], { maxVersion: 'TLSv1.2' }, {}, via);
  expect(theirs).toMatchObject({ asked: ['alice'], protocol: 'TLSv1.2' });
  expect(ours).toEqual(theirs);
});

test.each<[string, Buffer]>([
  ['a fatal alert', Buffer.from([21, 3, 3, 0, 2, 2, 40])],
  ['a ChangeCipherSpec', Buffer.from([20, 3, 3, 0, 1, 1])],
])('%s where the TLS 1.2 key exchange should be fails the handshake at once, as with node:tls', async (_name, instead) => {
  const [theirs, ours] = await both((identity) => KEYS[identity], { maxVersion: 'TLSv1.2' }, { handshakeTimeout: 3000 },
    { instead });
  expect(theirs.serverError?.code).toMatch(/^ERR_SSL_/);
  expect(ours).toEqual(theirs);
});

test('a server that will not speak TLS 1.3 (secureOptions) asks about the TLS 1.2 identity only, once', async () => {
  const [theirs, ours] = await both((identity) => KEYS[identity], {}, { secureOptions: cryptoConstants.SSL_OP_NO_TLSv1_3 });
  expect(theirs).toMatchObject({ asked: ['alice'], protocol: 'TLSv1.2', reply: 'ping' });
  expect(ours).toEqual(theirs);
});

test('a setSecureContext() with a hint OpenSSL refuses, made while a handshake waits, leaves that handshake as node does', async () => {
  const outcomes: Outcome[] = [];
  for (const make of [makeNode, makeReactor]) {
    let server: AnyServer | undefined;
    const slowMake: Make = (options) => {
      server = make({ ...options, handshakeTimeout: 3000 });
      return server;
    };
    const running = run(slowMake, (identity) => KEYS[identity], { maxVersion: 'TLSv1.2' }, {}, { splitAt: 3, pauseMs: 300 });
    // Both servers settle a connection's context when they accept it, before
    // 'connection' reaches this listener; the key exchange is held back 300 ms.
    await new Promise((resolve) => server!.once('connection', resolve));
    server!.setSecureContext({ ciphers: CIPHERS, pskIdentityHint: 'h'.repeat(300) } as SecureServerOptions);
    outcomes.push(await running);
  }
  expect(outcomes[0]).toMatchObject({ asked: ['alice'], reply: 'ping' });
  expect(outcomes[1]).toEqual(outcomes[0]);
});

/**
 * `openssl s_client` as a TLS 1.2 PSK client whose identity is "a" and the
 * byte 0xff (not UTF-8; through bash, as node's argv would be UTF-8); what it
 * printed, or undefined without openssl.
 */
function opensslClientNotUtf8(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `command -v openssl >/dev/null || exit 127; printf ping | timeout 4 openssl s_client ` +
      `-connect 127.0.0.1:${port} -tls1_2 -cipher PSK-AES128-GCM-SHA256 -psk_identity $'a\\xff' ` +
      `-psk ${KEYS.alice.toString('hex')} -quiet 2>&1`], { env: environmentWithoutPreload() }, (error, stdout) => {
      resolve(error?.code === 127 ? undefined : stdout);
    });
  });
}

test('an identity that is not UTF-8 is given no key without asking the callback, as node:tls', async () => {
  for (const make of [makeNode, makeReactor]) {
    const asked: string[] = [];
    const server = track(make({ ciphers: CIPHERS, pskCallback: (_socket, identity) => { asked.push(identity); return KEYS.alice; } }));
    server.on('tlsClientError', () => undefined);
    const printed = await opensslClientNotUtf8(await listenLocal(server as SecureServer));
    if (printed === undefined) return;  // no openssl on this machine
    expect(printed).toContain('unknown psk identity');
    expect(asked).toEqual([]);
  }
}, 15_000);
