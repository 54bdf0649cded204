// Where node:net's behaviour changed between the Node versions the package
// supports (engines in package.json), the package follows the Node it runs
// on. Each difference is one named constant here, so the places that depend
// on it say which behaviour they follow (docs/compatibility.md lists them).

import * as net from 'node:net';
import * as tls from 'node:tls';

const major = Number(process.versions.node.split('.')[0]);

/**
 * Node 20 treats `server.maxConnections = 0` as no limit; Node 22 and later
 * drop every connection (net.js tests `maxConnections != null`).
 */
export const maxConnectionsZeroDropsAll = major >= 22;

/**
 * A peer that wrote and reset before the socket read: libuv up to 1.49
 * (Node 20 and 22) takes a partial read with POLLHUP behind it for EOF, so
 * net gives the bytes, then 'end'; Node 24 and later read on to the reset
 * and give 'error' ECONNRESET.
 */
export const hangupEndsShortRead = major < 24;

/**
 * What destroy() gives the callback of a write the kernel has not finished
 * taking. Node 22 and later cancel it with `write ECANCELED` (and Writable
 * passes that error on to the writes queued behind it); Node 20 completes it
 * with no error although its bytes may be lost. The package cannot claim
 * those bytes were sent, so on Node 20 it reports ERR_STREAM_DESTROYED, as net
 * does for the queued ones (a documented difference).
 */
export const destroyCancelsWriteInProgress = major >= 22;

/**
 * Node 22 and later end a socket that never connected at once (net's _final
 * checks `connecting`, then the handle); Node 20 waits for a 'connect' that
 * never comes.
 */
export const endNeverConnectedAtOnce = major >= 22;

/**
 * Until Node 20, net.connect()/createConnection() published
 * 'net.client.socket' for the sockets they make; from Node 22 on,
 * Socket#connect() publishes it for every connect, `new net.Socket().connect()`
 * included.
 */
export const clientSocketFromSocketConnect = major >= 22;

/**
 * A host name with a NUL byte: Node 22 and later (seen on 22.23.5, 24.22.3
 * and 26.12.1) throw ERR_INVALID_ARG_VALUE for 'options.host' in connect(),
 * before any other check and before any lookup, custom ones too. Node 20
 * hands it to the lookup (dns.lookup resolves '127.0.0.1\0' as 127.0.0.1).
 */
export const hostWithNulThrows = major >= 22;

/**
 * listen({ path, readableAll, writableAll }): libuv's uv_pipe_chmod in Node
 * 20 (libuv 1.46) adds the read or write bits for everyone to the socket
 * file's mode (0755 becomes 0777 with writableAll); in Node 22, 24 and 26
 * (libuv 1.51, 1.52) the mode becomes exactly those bits (0444, 0222, 0666).
 */
export const pipeChmodSetsExactMode = major >= 22;

/**
 * A Unix socket path longer than sun_path: Node 24's libuv (1.52, with
 * UV_PIPE_NO_TRUNCATE) fails listen and connect with EINVAL; Node 20 and 22
 * (libuv 1.46, 1.51) silently bind and connect to the path cut short. The
 * package never cuts a path short (it would name another file): it fails
 * with EINVAL where net does, and with ENAMETOOLONG before that.
 */
export const overlongUnixPathIsEinval = major >= 24;

/**
 * The `blockList` option (a net.BlockList) of net.Socket/connect and of
 * net.Server, from Node 22: connecting to a blocked address fails with
 * ERR_IP_BLOCKED, and a server closes a connection from one unseen. Node 20
 * has no such option and ignores it.
 */
export const blockListOption = major >= 22;

/**
 * `socket.setTypeOfService()` / `getTypeOfService()` and the `typeOfService`
 * option of net.Socket: in Node 24.22 and 26 (seen on 24.22.3 and 26.12.1),
 * not in 22.23 or 20.20. Read from node's own net.Socket, since it came in a
 * minor release.
 */
export const typeOfServiceMethods = typeof (net.Socket.prototype as { setTypeOfService?: unknown }).setTypeOfService === 'function';

/**
 * `socket.setKeepAlive(enable, initialDelay, interval, count)` and its
 * `{ enable, initialDelay, interval, count }` form: in Node 24.22 and 26,
 * not in 22.23 or 20.20, which take the first two (all four use interval 1 s
 * and 10 probes unless told otherwise, libuv's defaults).
 */
export const keepAliveIntervalAndCount = net.Socket.prototype.setKeepAlive.length >= 4;

/**
 * `net.BoundSocket` (Node 24.22 and 26; not 22.23 or 20.20): a socket bound
 * synchronously, for `server.listen(bound)` (or `{ handle: bound }`) and
 * `new net.Socket({ handle: bound })` to adopt. Undefined where net has none.
 */
export const BoundSocketClass = (net as { BoundSocket?: new (...args: never[]) => object }).BoundSocket;

/**
 * node:tls's message for a server certificate that fails verification for
 * want of a trusted root (UNABLE_TO_GET_ISSUER_CERT, DEPTH_ZERO_SELF_SIGNED_CERT,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE) ends with a hint about --use-system-ca on
 * Node 24 and later, unless that flag is in effect. Seen on 24.22.3 and
 * 26.12.1, not on 22.23.5 or 20.20.2.
 */
export const systemCaHintOnVerifyErrors = major >= 24 &&
  !process.execArgv.includes('--use-system-ca') && !/(^|\s)--use-system-ca(\s|$)/.test(process.env.NODE_OPTIONS ?? '');

/**
 * Sessions carry the server identity they were verified for. Node 22.23,
 * 24.22 and 26.12 (not 20.20) wrap the bytes of 'session' and getSession()
 * as `\0nodejs:tls:session:1\0`, a 16-bit length, the identity (servername,
 * host or 'localhost') and the DER; a later tls.connect resumes a wrapped
 * session only for the same identity, ignores a raw Buffer when it verifies
 * the server, and takes a string as latin1. Node 20 hands out raw DER,
 * offers whatever it is given, and refuses a string ('Session must be a
 * buffer'). Read from node's own TLSSocket#getSession, since the change came
 * in patch releases.
 */
export const tlsSessionsCarryServerIdentity =
  tls.TLSSocket.prototype.getSession.toString().includes('wrapSessionState');

/**
 * Names given to a TLS server's addContext() match a client's SNI name
 * regardless of letter case on Node 22 and later (node's pattern has the
 * RegExp `i` flag); Node 20 matches them case for case. Read from node's own
 * addContext, run on a stand-in for the server (it only pushes onto
 * `_contexts`), when first asked: the context it needs costs a millisecond.
 */
export function addContextIgnoresCase(): boolean {
  if (addContextFlags === undefined) {
    try {
      const standIn = { _contexts: [] as [RegExp, unknown][] };
      (tls.Server.prototype.addContext as (this: unknown, name: string, context: unknown) => void)
        .call(standIn, 'probe', tls.createSecureContext());
      addContextFlags = standIn._contexts[0][0].flags;
    } catch {
      addContextFlags = major >= 22 ? 'i' : '';
    }
  }
  return addContextFlags.includes('i');
}
let addContextFlags: string | undefined;

/**
 * A TLS client's getEphemeralKeyInfo() for a group whose key is neither DH
 * nor EC, such as the hybrid X25519MLKEM768 that OpenSSL 3.5 peers agree on
 * by default: `{ type: 'TLSGroup', name, size: undefined }` on Node 24 and
 * later, `{}` before; and on 24 a DH key's object has `name`, undefined.
 * Seen with node:tls on 24.22.3 and 26.12.1, not on 22.23.5 or 20.20.2.
 */
export const ephemeralKeyInfoNamesGroups = major >= 24;

/**
 * A context without a certificate, given to tlsSocket.setKeyCert() or by an
 * SNICallback: Node 22 and later check for one (setKeyCert throws a bare
 * `Error('SetKeyCert')`; the SNI choice keeps the server's own, and a
 * server with none fails with OpenSSL's 'no suitable signature algorithm').
 * Node 20 hands the missing certificate to OpenSSL, whose 'passed a null
 * parameter' setKeyCert throws and the SNI choice leaves queued, so that it
 * is what the failed handshake's 'tlsClientError' reports. Seen on 20.20.2,
 * 22.23.5, 24.22.3 and 26.12.1.
 */
export const contextsCheckedForCertificate = major >= 22;

/**
 * The code of the 'tlsClientError' a server gives each connection when
 * OpenSSL refuses its pskIdentityHint (over 256 bytes): Node 24 spells it
 * ERR_TLS_PSK_SET_IDENTITY_HINT_FAILED, 22 and 20 ERR_TLS_PSK_SET_IDENTIY_HINT_FAILED.
 * Seen with node:tls on 20.20.2, 22.23.5, 24.22.3 and 26.12.1.
 */
export const pskHintErrorCode = major >= 24 ? 'ERR_TLS_PSK_SET_IDENTITY_HINT_FAILED' : 'ERR_TLS_PSK_SET_IDENTIY_HINT_FAILED';

/**
 * A server's verdict on a client that sent no certificate: Node 20 and 22
 * judge it as a client judges a server (none is needed with a PSK cipher or
 * in a resumed TLS 1.3 session, so `authorized` is true with requestCert);
 * Node 24 and later say UNABLE_TO_GET_ISSUER_CERT for every such client, a
 * PSK one and a resumed one too. Clients keep the PSK rule on every
 * version. Seen with node:tls on 20.20.2, 22.23.5, 24.22.3 and 26.12.1.
 */
export const serversNeedClientCertificates = major >= 24;

/**
 * A write or end() in a TLS 1.2 server's 'secureConnection' listener: Node
 * 20 and 22 encrypt and send it at once, behind the handshake's last flight
 * (its Finished), so a destroy() right after loses neither; Node 24 and
 * later send them only after the listeners return, so a destroy() there
 * drops them and the client fails with ECONNRESET. Seen with node:tls on 20.20.2,
 * 22.23.5, 24.22.3 and 26.12.1.
 */
export const listenerWriteSendsFinished = major < 24;

/**
 * An address as a TLS client's servername: Node 20 to 24 warn (DEP0123,
 * once per process); since the deprecation's end of life (Node 25),
 * tls.connect throws ERR_INVALID_ARG_VALUE (checked on Node 26).
 */
export const ipServernameThrows = major >= 25;
