/**
 * epoll-reactor: Node.js sockets served by a dedicated edge-triggered epoll
 * reactor thread, with the API of `node:net`.
 *
 * @example
 * ```ts
 * import { createServer } from 'epoll-reactor';
 * createServer((socket) => socket.pipe(socket)).listen(7000, '127.0.0.1');
 * ```
 * @packageDocumentation
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

import { binding } from './binding';
import { ConnectOptions, normalizeConnectArgs } from './connect';
import { clientSocketChannel } from './diagnostics';
import { clientSocketFromSocketConnect } from './net-version';
import { Server as ServerClass, ServerOptions } from './server';
import { Socket as SocketClass, SocketOptions } from './socket';
import {
  ConnectTlsOptions, createTlsClientSocket, prepareTlsClient, SecureServer as SecureServerClass, tlsAvailable,
} from './tls';

/**
 * A class that, as node:net's constructors, may also be called without `new`
 * (`net.Server()`, `net.Socket()`): the call constructs. `instanceof` and
 * `extends` see the class itself.
 */
function callableConstructor<C extends new (...args: never[]) => object>(klass: C):
  C & ((...args: ConstructorParameters<C>) => InstanceType<C>) {
  const callable = new Proxy(klass, {
    apply(target, _thisArgument, args: ConstructorParameters<C>): InstanceType<C> {
      return new target(...args) as InstanceType<C>;
    },
    // `new Socket()` constructs the class itself, not with the proxy as
    // new.target: V8 caches an instance map per constructor function, and a
    // proxy new.target got a fresh map (and missed every inline cache after
    // it) on each construction. A subclass stays its own new.target.
    construct(target, args: unknown[], newTarget: Function): object {
      return Reflect.construct(target, args, newTarget === callable ? target : newTarget);
    },
  }) as C & ((...args: ConstructorParameters<C>) => InstanceType<C>);
  return callable;
}

/** {@inheritDoc ServerClass} */
export const Server = callableConstructor(ServerClass);
/** A server served by the epoll reactor (see {@link ServerClass}). */
export type Server = ServerClass;
/** {@inheritDoc SocketClass} */
export const Socket = callableConstructor(SocketClass);
/** A socket served by the epoll reactor (see {@link SocketClass}). */
export type Socket = SocketClass;
// The classes themselves, for their documentation: Server and Socket above
// are these, callable without `new` as net's are.
export type { SecureServerClass, ServerClass, SocketClass };
export type { OnReadOptions } from './onread';
export { adopt, adoptServer } from './adopt';
export { serveHttp } from './http';
export { createSecureContext, createSecureServer, SecureSocket, tlsAvailable } from './tls';
/** {@inheritDoc SecureServerClass} */
export const SecureServer = callableConstructor(SecureServerClass);
/** A TLS server whose handshakes and records run on the reactor thread (see {@link SecureServerClass}). */
export type SecureServer = SecureServerClass;
export type { ConnectTlsOptions, PeerCertificate, SecureServerOptions } from './tls';
export { forward } from './forward';
export { configure } from './configure';
export type { ReactorOptions } from './configure';
export type { ForwardOptions, ForwardResult, ForwardTarget } from './forward';
export { serveOnWorkers, ServerPool } from './server-pool';
export type {
  ServerPoolHandler, ServerPoolMode, ServerPoolOptions, ServerPoolStats, ServerPoolWorker, ServerPoolWorkerExit,
  WorkerCounters,
} from './server-pool';
export type { ServeHttpOptions } from './http';
export type { ConnectOptions } from './connect';
export type { ConnectionListener, ListenCallback, ListenOptions, ServerOptions } from './server';
export type { KeepAliveOptions, SocketOptions } from './socket';
export type { NodeStyleError, SystemError } from './errors';

/**
 * Which implementation serves sockets: `'epoll'` where the native reactor is
 * available (Linux), `'node:net'` elsewhere, where {@link createServer}
 * returns node:net's own server.
 *
 * @example
 * ```ts
 * import { backend } from 'epoll-reactor';
 * console.log(`serving with ${backend}`);
 * ```
 */
export const backend: 'epoll' | 'node:net' = binding.available ? 'epoll' : 'node:net';

/**
 * True where the native epoll reactor is in use; false where the package falls
 * back to node:net.
 *
 * @example
 * ```ts
 * import { isNative } from 'epoll-reactor';
 * if (!isNative) console.warn('epoll-reactor: using node:net');
 * ```
 */
export const isNative: boolean = binding.available;

/**
 * Creates a server, as `net.createServer` does, whose connections are served
 * by the epoll reactor thread. Where there is no reactor (not Linux), returns
 * `net.createServer(options, connectionListener)` instead.
 *
 * @param connectionListener - Added as a 'connection' listener.
 *
 * @example
 * ```ts
 * import { createServer } from 'epoll-reactor';
 *
 * const server = createServer((socket) => {
 *   socket.on('data', (chunk) => socket.write(chunk)); // echo
 * });
 * server.listen(7000, '127.0.0.1', () => console.log('echo on', server.address()));
 * ```
 */
export function createServer(connectionListener?: (socket: Socket) => void): Server;
/**
 * Creates a server, as `net.createServer` does, whose connections are served
 * by the epoll reactor thread. Where there is no reactor (not Linux), returns
 * `net.createServer(options, connectionListener)` instead.
 *
 * @param options - `allowHalfOpen` and `highWaterMark`, as for net.
 * @param connectionListener - Added as a 'connection' listener.
 *
 * @example
 * ```ts
 * import { createServer } from 'epoll-reactor';
 *
 * const server = createServer((socket) => {
 *   socket.on('data', (chunk) => socket.write(chunk)); // echo
 * });
 * server.listen(7000, '127.0.0.1', () => console.log('echo on', server.address()));
 * ```
 */
export function createServer(options?: ServerOptions, connectionListener?: (socket: Socket) => void): Server;
export function createServer(
  options?: ServerOptions | ((socket: Socket) => void),
  connectionListener?: (socket: Socket) => void,
): Server {
  if (!binding.available) {
    return net.createServer(options as net.ServerOpts, connectionListener as unknown as (socket: net.Socket) => void) as unknown as Server;
  }
  return new ServerClass(options as ServerOptions, connectionListener);
}

/**
 * Opens an outbound connection served by the reactor, as `net.connect` does:
 * `connect(options[, listener])`, `connect(path[, listener])` or
 * `connect(port[, host][, listener])`. Host names are resolved with
 * dns.lookup (or `options.lookup`), and every address is tried in turn.
 * Writes made before 'connect' are queued. Where there is no reactor (not
 * Linux), returns `net.connect(...)` instead.
 *
 * @example
 * ```ts
 * import { connect } from 'epoll-reactor';
 * const socket = connect({ port: 7000, host: '127.0.0.1' }, () => socket.end('ping'));
 * socket.on('data', (reply) => console.log(reply.toString()));
 * ```
 */
export function connect(options: ConnectOptions, connectListener?: () => void): Socket;
/** Connects to a Unix socket path. */
export function connect(path: string, connectListener?: () => void): Socket;
/** Connects to `host` (default `'localhost'`) on `port`. */
export function connect(port: number | string, host?: string, connectListener?: () => void): Socket;
export function connect(...args: unknown[]): Socket {
  const first = args[0];
  const options = first !== null && typeof first === 'object' ? (first as ConnectOptions) : {};
  if (options.tls !== undefined && options.tls !== null) return connectTls(options, args);
  if (!binding.available) return (net.connect as (...a: unknown[]) => net.Socket)(...args) as unknown as Socket;
  // As net: the options also construct the socket (allowHalfOpen, high-water marks; objectMode refused).
  const socket = new SocketClass(options as SocketOptions);
  if (!clientSocketFromSocketConnect && clientSocketChannel.hasSubscribers) clientSocketChannel.publish({ socket });
  // As net.connect (not socket.connect): a truthy timeout is set first.
  if (options.timeout) socket.setTimeout(options.timeout);
  return (socket.connect as (...a: unknown[]) => Socket)(...args);
}

/**
 * connect({ ..., tls }): a TLS client whose handshake and records run on the
 * reactor thread, verifying the server as tls.connect does. The listener is
 * a 'secureConnect' listener, as tls.connect's. Where reactor TLS is not
 * available, tls.connect with the same options.
 */
function connectTls(options: ConnectOptions, args: unknown[]): Socket {
  const listener = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const { tls: tlsOptions, ...netOptions } = options;
  if (!tlsAvailable) {
    const merged = { ...netOptions, ...(tlsOptions as object) } as tls.ConnectionOptions;
    return tls.connect(merged, listener) as unknown as Socket;
  }
  const [normalized] = normalizeConnectArgs([netOptions]);
  const client = prepareTlsClient(normalized, tlsOptions as ConnectTlsOptions);
  const socket = createTlsClientSocket(netOptions as SocketOptions, client);
  if (!clientSocketFromSocketConnect && clientSocketChannel.hasSubscribers) clientSocketChannel.publish({ socket });
  if (listener !== undefined) socket.once('secureConnect', listener);
  if (netOptions.timeout) socket.setTimeout(netOptions.timeout);
  return socket.connect(netOptions);
}

/** The same as {@link connect}, under net's other name. */
export const createConnection: typeof connect = connect;
