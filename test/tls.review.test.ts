// What the cold review of reactor TLS found (issue 16): a secure server must
// never serve plain TCP, whatever way it listens; the server keeps no session
// cache that node's does not; bad input to the native context builder throws
// instead of aborting the process.
import { once } from 'node:events';
import * as tls from 'node:tls';
import { constants } from 'node:crypto';

import { createSecureServer, SecureSocket } from '../lib';
import { getReactor } from '../lib/reactor';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());
afterEach(releaseTracked);

function secureEchoServer() {
  return track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket: SecureSocket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  }));
}

test('the native listenFd reads its TLS context from its own argument, and refuses one that names no context', () => {
  // Before the fix listenFd read the context id from the `duplicate`
  // argument: createSecureServer().listen({ fd }) listened without TLS and
  // served a plain client's bytes as data. The context is checked before
  // the fd is touched, so an fd of -1 shows which check ran.
  const native = getReactor().native as unknown as { listenFd(...args: unknown[]): [number, string] | unknown[] };
  const result = native.listenFd(-1, 511, 0, 0, false, 987654);
  expect(result).toEqual([-22, 'listen']);  // EINVAL from the context, not EBADF from the fd
});

test('the native listen refuses a TLS context id that names no context, before it creates a socket', () => {
  const native = getReactor().native as unknown as {
    listen(...args: unknown[]): [number, string] | [number, string, number];
    stats(): { connections: number };
  };
  const result = native.listen(4, '127.0.0.1', 0, 511, 0, 0, 0, 987654);
  expect(result).toHaveLength(2);
  expect(result[1]).toBe('listen');
});

test('no server-side session cache: a TLS 1.2 client without tickets is not resumed, as with node:tls', async () => {
  // OpenSSL's default server cache kept up to 20,480 sessions (each with the
  // client's certificate chain) where node's server keeps none.
  const reused = async (server: Parameters<typeof listenLocal>[0]): Promise<boolean> => {
    const port = await listenLocal(server);
    const options = { host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', maxVersion: 'TLSv1.2' as const,
      secureOptions: constants.SSL_OP_NO_TICKET };
    const first = track(tls.connect(options));
    await once(first, 'secureConnect');
    const session = first.getSession();
    first.destroy();
    const second = track(tls.connect({ ...options, session }));
    await once(second, 'secureConnect');
    const result = second.isSessionReused();
    second.destroy();
    return result;
  };
  const node = track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => socket.end()));
  expect(await reused(secureEchoServer())).toBe(await reused(node));
}, 30_000);

test('a createTlsContext option getter that throws reaches the caller as its error, the process lives on', () => {
  const native = getReactor().native as unknown as { createTlsContext(options: object): unknown };
  const options = { get keys(): never { throw new Error('getter threw'); } };
  expect(() => native.createTlsContext(options)).toThrow('getter threw');
  const proxy = new Proxy({}, { get() { throw new Error('trap threw'); } });
  expect(() => native.createTlsContext(proxy)).toThrow('trap threw');
});
