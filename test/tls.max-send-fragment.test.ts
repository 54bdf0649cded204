// setMaxSendFragment() works as TLSSocket's: from the call on, the records
// this end sends carry at most that much plaintext (seen on the wire by a
// relay that reads the TLS record headers), sizes outside 512 to 16384 are
// refused with false, and a size that is no int32 throws node's error.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { connect, createSecureServer, SecureSocket } from '../lib';
import { checkMustCalls, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

const PAYLOAD = Buffer.alloc(64 * 1024, 'x');

/** A relay to `port` that keeps the lengths of the application-data records the server sends. */
async function recordRelay(port: number): Promise<{ port: number; lengths: number[] }> {
  const lengths: number[] = [];
  const relay = track(net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
        // TLS 1.3 sends everything after the ServerHello as type 23.
        if (pending[0] === 23) lengths.push(pending.readUInt16BE(3));
        pending = pending.subarray(5 + pending.readUInt16BE(3));
      }
    });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  }));
  return { port: await listenLocal(relay), lengths };
}

/** The largest record a server made by `make` sends 64 KiB in, after setMaxSendFragment(size) once secure. */
async function largestRecord(make: 'node' | 'reactor', size: number | number[] | undefined,
  chunks = 1): Promise<{ largest: number; set: boolean | undefined }> {
  let set: boolean | undefined;
  const onSecure = (socket: tls.TLSSocket | SecureSocket): void => {
    // Several sizes are set in turn.
    if (size !== undefined) for (const each of [size].flat()) set = socket.setMaxSendFragment(each);
    // In `chunks` writes of one tick: small ones are coalesced into records.
    const part = PAYLOAD.length / chunks;
    for (let i = 0; i < chunks - 1; i++) socket.write(PAYLOAD.subarray(i * part, (i + 1) * part));
    socket.end(PAYLOAD.subarray((chunks - 1) * part));
  };
  const options = { key: pki.serverKey, cert: pki.serverCert };
  const server = make === 'node' ? tls.createServer(options, onSecure) : createSecureServer(options, onSecure);
  const relay = await recordRelay(await listenLocal(track(server as tls.Server)));
  await new Promise<void>((resolve, reject) => {
    let received = 0;
    const client = track(tls.connect({ host: '127.0.0.1', port: relay.port, ca: pki.caCert, servername: 'localhost' }));
    client.on('data', (chunk: Buffer) => { received += chunk.length; });
    client.on('end', () => (received === PAYLOAD.length ? resolve() : reject(new Error(`received ${received}`))));
    client.on('error', reject);
  });
  return { largest: Math.max(...relay.lengths), set };
}

test.each([512, 4096])('a reactor TLS server sends records of at most %i bytes of plaintext once asked, as node:tls does', async (size) => {
  const ours = await largestRecord('reactor', size);
  const theirs = await largestRecord('node', size);
  expect(ours).toEqual(theirs);
  expect(ours.set).toBe(true);
  // The record's plaintext, its content type byte and AES-GCM's 16-byte tag.
  expect(ours.largest).toBe(size + 17);
}, 20_000);

test('a larger size after a smaller one keeps records at the smaller, as OpenSSL splits them for node:tls too', async () => {
  const ours = await largestRecord('reactor', [512, 16384], 16);
  expect(ours).toEqual(await largestRecord('node', [512, 16384], 16));
  expect(ours).toEqual({ largest: 512 + 17, set: true });
}, 20_000);

test('small writes coalesced into records keep to the size too', async () => {
  const ours = await largestRecord('reactor', 512, 128);
  expect(ours).toEqual({ largest: 512 + 17, set: true });
}, 20_000);

test('without it records are up to 16 KiB, as node:tls\'s', async () => {
  const ours = await largestRecord('reactor', undefined);
  expect(ours).toEqual(await largestRecord('node', undefined));
  expect(ours.largest).toBe(16384 + 17);
}, 20_000);

test('sizes outside 512 to 16384 give false and change nothing; a size that is no int32 throws node\'s error', async () => {
  const ours = await largestRecord('reactor', 511);
  expect(ours).toEqual(await largestRecord('node', 511));
  expect(ours).toEqual({ largest: 16384 + 17, set: false });
  const socket = track(connect({ host: '127.0.0.1', port: 9, tls: {} })).on('error', () => {}) as SecureSocket;
  const theirs = new tls.TLSSocket(new net.Socket());
  for (const bad of [1.5, '600', 2 ** 31]) {
    let code: string | undefined;
    try {
      theirs.setMaxSendFragment(bad as number);
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).toMatch(/^ERR_/);
    expect(() => socket.setMaxSendFragment(bad as number)).toThrow(expect.objectContaining({ code }));
  }
  expect(socket.setMaxSendFragment(16385)).toBe(false);
  theirs.destroy();
}, 20_000);

test('a client\'s size set in the tick of connect() applies from its ClientHello, as TLSSocket\'s', async () => {
  /** The lengths of the records a client sends before the server answers: its ClientHello's. */
  const firstRecords = async (client: 'tls.connect' | 'reactor'): Promise<number[]> => {
    const lengths: number[] = [];
    let total = 0;
    const server = track(net.createServer((socket) => {
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
          lengths.push(pending.readUInt16BE(3));
          total += pending.readUInt16BE(3);
          pending = pending.subarray(5 + pending.readUInt16BE(3));
        }
      });
      socket.on('error', () => {});
    }));
    const port = await listenLocal(server as never);
    // Enough ALPN names for a ClientHello of over 1 KiB on every OpenSSL.
    const ALPNProtocols = Array.from({ length: 60 }, (_, i) => `protocol-name-${i}`);
    const socket = track(client === 'tls.connect'
      ? tls.connect({ host: '127.0.0.1', port, ALPNProtocols })
      : connect({ host: '127.0.0.1', port, tls: { ALPNProtocols } }) as SecureSocket);
    socket.on('error', () => {});
    expect(socket.setMaxSendFragment(512)).toBe(true);
    const until = Date.now() + 2000;
    while (total < 1024 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
    return lengths;
  };
  for (const client of ['tls.connect', 'reactor'] as const) {
    const lengths = await firstRecords(client);
    expect({ client, over512: lengths.filter((length) => length > 512) }).toEqual({ client, over512: [] });
    expect(lengths.length).toBeGreaterThan(1);
  }
});
