// A listening server whose connections are served by the reactor, with
// net.Server's behaviour.
import * as dns from 'node:dns';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isIP } from 'node:net';
import type { AddressInfo, BlockList } from 'node:net';

import {
  invalidArgType,
  invalidArgValue,
  serverAlreadyListening,
  serverNotRunning,
  systemError,
} from './errors';
import { ConnectionFlag, ListenFlag } from './binding';
import { adoptBoundSocket, boundSocketIn } from './bound-socket';
import { trimAbstractPadding, unixPathErrno, unixSocketAddress } from './connect';
import { serverListenChannel, serverSocketChannel } from './diagnostics';
import { blockListOption, maxConnectionsZeroDropsAll, pipeChmodSetsExactMode } from './net-version';
import { getReactor, Reactor, releaseIfFailedAndIdle } from './reactor';
import { Socket, validateBlockList } from './socket';
import type { SocketOptions } from './socket';
import { validateFunction, validateInteger, validateNumber, validatePort } from './validate';

/** Options for {@link createServer}, as for `net.createServer`. */
export interface ServerOptions {
  /** Keep a socket's writable side open after its peer ends (default false). */
  allowHalfOpen?: boolean;
  /** Connections from these addresses are closed unseen (Node 22+, as net; ignored on 20, as net). */
  blockList?: BlockList;
  /** Readable and writable high-water marks of accepted sockets. */
  highWaterMark?: number;
  /** Accepted sockets start paused: nothing is read until `socket.resume()`. */
  pauseOnConnect?: boolean;
  /** Disable Nagle's algorithm on accepted sockets (TCP_NODELAY). Default false. */
  noDelay?: boolean;
  /** Enable TCP keep-alive on accepted sockets. Default false. */
  keepAlive?: boolean;
  /** Idle time in milliseconds before the first keep-alive probe. */
  keepAliveInitialDelay?: number;
}

/** Options for {@link Server.listen}, as for `net.Server#listen`. */
export interface ListenOptions {
  /** TCP port; 0 or omitted picks a free one. */
  port?: number | string;
  /** Address to bind; default `::` (dual-stack) or `0.0.0.0` without IPv6. */
  host?: string;
  /** Unix domain socket path. */
  path?: string;
  /** Length of the pending-connection queue (default 511). */
  backlog?: number;
  /** With host `::`, accept IPv6 only. */
  ipv6Only?: boolean;
  /** Accepted for compatibility; without cluster it changes nothing. */
  exclusive?: boolean;
  /**
   * Set SO_REUSEPORT, so that several servers (in several processes or
   * Workers) can listen on the same port and the kernel spreads connections
   * among them. An epoll-reactor extension.
   */
  reusePort?: boolean;
  /** Listen on an fd that is already bound (and perhaps listening), e.g. from a supervisor. */
  fd?: number;
  /** For a Unix socket path: make it readable by all users. */
  readableAll?: boolean;
  /** For a Unix socket path: make it writable by all users. */
  writableAll?: boolean;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

/** Called once the server is listening. */
export type ListenCallback = () => void;
/** Receives each accepted connection. */
export type ConnectionListener = (socket: Socket) => void;

const DEFAULT_BACKLOG = 511;

interface Bound {
  id: number;
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6' | 'unix';
}

function emitNT(server: Server, event: string, argument?: unknown): void {
  if (argument === undefined) server.emit(event);
  else server.emit(event, argument);
}

// As net's emitListeningNT: a close() in the same tick as listen() means no 'listening'.
function emitListeningNT(server: Server, id: number): void {
  if (server.listeningId === id) server.emit('listening');
}

// net's isPipeName: a string that Number() does not make a non-negative
// number names a path (so ' ' and '' are ports, and fail as ports).
function isPipeName(value: unknown): value is string {
  return typeof value === 'string' && !(Number(value) >= 0);
}

/**
 * A TCP or Unix-socket server served by the epoll reactor. It behaves like
 * `net.Server`: `listen()` in its forms, 'listening', 'connection', 'close'
 * and 'error' events, `address()`, `close()`.
 *
 * @example
 * ```ts
 * import { Server } from 'epoll-reactor';
 * const server = new Server((socket) => socket.end('hello\n'));
 * server.listen(0, '127.0.0.1', () => console.log(server.address()));
 * ```
 */
export class Server extends EventEmitter {
  /** Whether sockets keep their writable side after the peer ends. */
  readonly allowHalfOpen: boolean;
  /** Whether accepted sockets start paused. */
  readonly pauseOnConnect: boolean;
  /** The `blockList` option (Node 22+), as net keeps it. */
  readonly blockList: BlockList | undefined;
  /** Whether accepted sockets get TCP_NODELAY. */
  readonly noDelay: boolean;
  /** Whether accepted sockets get TCP keep-alive. */
  readonly keepAlive: boolean;
  /** Keep-alive idle time in seconds, as net stores it. */
  readonly keepAliveInitialDelay: number;
  private maxConnectionsValue: number | undefined = undefined;
  private readonly highWaterMark: number | undefined;
  private referenced = true;
  private reactor: Reactor | undefined;
  private bound: Bound | undefined;
  private unixPath: string | undefined;
  // As net's _pipeName: the path of the last listen(path), what address()
  // answers whenever nothing is bound, so after a failed listen or a close too.
  private pipeName: string | undefined;
  // What an adopted net.BoundSocket held (its libuv handle): closed once the
  // listener is, which closes node's copy of the fd and, for a path, removes
  // the socket file, as node's server does when it closes the handle.
  private boundHandle: { close(): void } | undefined;
  private connectionCount = 0;
  private listenPending = false;
  private listenGeneration = 0;
  private connectionKey: string | undefined;  // bumped by close(), so that a pending listen knows it was cancelled

  constructor(connectionListener?: ConnectionListener);
  constructor(options?: ServerOptions, connectionListener?: ConnectionListener);
  constructor(options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener) {
    super();
    if (typeof options === 'function') {
      connectionListener = options;
      options = {};
    } else if (options === undefined || options === null) {
      options = {};
    } else if (typeof options !== 'object') {
      throw invalidArgType('options', 'of type object', options);
    }
    // As net: a connectionListener that is not a function is ignored.
    if (typeof connectionListener !== 'function') connectionListener = undefined;
    const { keepAliveInitialDelay, highWaterMark } = options;
    if (keepAliveInitialDelay !== undefined) validateNumber(keepAliveInitialDelay, 'options.keepAliveInitialDelay');
    if (highWaterMark !== undefined) {
      validateNumber(highWaterMark, 'options.highWaterMark');
      // Below 0 is the default, as net; a fraction or NaN, which the
      // accepted sockets' streams would throw on, is thrown here instead.
      if (highWaterMark >= 0) validateInteger(highWaterMark, 'options.highWaterMark', 0, Number.MAX_SAFE_INTEGER);
    }
    const blockList = blockListOption && options.blockList ? validateBlockList(options.blockList) : undefined;
    // Every check above, every change below.
    this.blockList = blockList;
    if (connectionListener !== undefined) this.on('connection', connectionListener);
    // As net, which keeps any truthy value.
    this.allowHalfOpen = options.allowHalfOpen || false;
    this.pauseOnConnect = Boolean(options.pauseOnConnect);
    this.noDelay = Boolean(options.noDelay);
    this.keepAlive = Boolean(options.keepAlive);
    this.keepAliveInitialDelay = ~~(Math.max(0, keepAliveInitialDelay ?? 0) / 1000);
    this.highWaterMark = highWaterMark !== undefined && highWaterMark >= 0 ? highWaterMark : undefined;
  }

  /**
   * With `events.captureRejections`, a rejected async 'connection' listener
   * destroys that socket with the error, as net.Server does; other events'
   * rejections become 'error'.
   */
  override [EventEmitter.captureRejectionSymbol](error: Error, event: string, ...args: unknown[]): void {
    if (event === 'connection') (args[0] as Socket).destroy(error);
    else this.emit('error', error);
  }

  /** As net's `_connectionKey`: `family:address:port` as requested (`-1:path:-1` for a path). */
  get _connectionKey(): string | undefined {
    return this.connectionKey;
  }

  /** @internal The listener id, while listening. */
  get listeningId(): number | undefined {
    return this.bound?.id;
  }

  /** True while the server accepts connections. */
  get listening(): boolean {
    return this.bound !== undefined;
  }

  /**
   * Starts accepting connections, as `net.Server#listen` does:
   * `listen(port[, host][, backlog][, callback])`, `listen(path[, backlog][, callback])`
   * or `listen(options[, callback])`. Bad arguments throw at once; system
   * errors such as EADDRINUSE arrive as an 'error' event.
   */
  listen(port?: number | string, host?: string, backlog?: number, callback?: ListenCallback): this;
  listen(port?: number | string, host?: string, callback?: ListenCallback): this;
  listen(port?: number | string, backlog?: number, callback?: ListenCallback): this;
  listen(port?: number | string, callback?: ListenCallback): this;
  listen(path: string, backlog?: number, callback?: ListenCallback): this;
  listen(path: string, callback?: ListenCallback): this;
  listen(options: ListenOptions, callback?: ListenCallback): this;
  listen(bound: object, backlog?: number, callback?: ListenCallback): this;
  listen(...args: unknown[]): this {
    const callback = typeof args[args.length - 1] === 'function' ? (args.pop() as ListenCallback) : undefined;
    const boundSocket = boundSocketIn(args[0]);
    if (boundSocket !== undefined) return this.listenOnBoundSocket(boundSocket, args, callback);
    const [options, shown] = normalizeListenArgs(args);
    if (this.bound !== undefined) throw serverAlreadyListening();
    if (serverListenChannel.hasSubscribers) {
      const first = args[0];
      serverListenChannel.asyncStart.publish({ server: this, options: first !== null && typeof first === 'object' ? first : options });
    }
    this.cancelPendingListen();

    // As net: a backlog among the arguments counts if it is a number >= 0;
    // options.backlog if truthy, except with an fd.
    const backlogFromArgs = toBacklog(args[1]) || toBacklog(args[2]);
    const fdGiven = typeof options.fd === 'number' && options.fd >= 0;
    const backlog = kernelBacklog(fdGiven ? backlogFromArgs : options.backlog || backlogFromArgs);

    // As net: only a non-negative number is an fd; anything else falls through to port and path.
    if (fdGiven) {
      const fd = options.fd as number;
      if (options.signal !== undefined) this.closeOnAbort(options.signal);
      if (callback) this.once('listening', callback);
      // As net's createServerHandle: an fd it cannot wrap as a TCP or Pipe
      // handle (not an int32, closed, a file, a datagram socket) is EINVAL.
      if (!Number.isInteger(fd) || fd > 2 ** 31 - 1) {
        this.failListen(systemError(-os.constants.errno.EINVAL, 'listen', undefined, undefined, true));
        return this;
      }
      this.adoptFd(fd, backlog);
      return this;
    }
    const listenFlags = (options.ipv6Only === true ? ListenFlag.Ipv6Only : 0) |
      (options.reusePort === true ? ListenFlag.ReusePort : 0);
    // In net's order: a port (even with a path beside it) first, then a path.
    // listen(), listen(cb), listen(null) and { port: undefined | null }; and,
    // as net, a function first whatever follows it (listen(fn, host)).
    if (options.port === null || typeof args[0] === 'function' ||
        (options.port === undefined && ('port' in options || args.length === 0))) {
      options.port = 0;
    }
    if (typeof options.port !== 'number' && typeof options.port !== 'string') {
      const path = options.path;
      if (!path || !isPipeName(path)) {
        if (!('port' in options) && !('path' in options)) {
          throw invalidArgValue('options', shown, 'must have the property "port" or "path"');
        }
        throw invalidArgValue('options', shown);
      }
      if (path.startsWith('\0') && (options.readableAll || options.writableAll)) {
        throw invalidArgValue('options', options,
          'can not set readableAll or writableAllt to true when path is abstract unix socket');
      }
      this.pipeName = path;
      if (options.signal !== undefined) this.closeOnAbort(options.signal);
      if (callback) this.once('listening', callback);
      this.bindNow(0, path, 0, backlog, listenFlags);
      if (this.bound !== undefined && (options.readableAll || options.writableAll)) {
        // As the running Node's libuv (uv_pipe_chmod): open the socket file to other users.
        const mode = (options.readableAll ? 0o444 : 0) | (options.writableAll ? 0o222 : 0);
        try {
          fs.chmodSync(path, pipeChmodSetsExactMode ? mode : fs.statSync(path).mode | mode);
        } catch (error) {
          this.close();
          throw error;
        }
      }
      return this;
    }
    const port = validatePort(options.port, 'options.port');
    // As net's `if (options.host)`: a falsy host is the unspecified address,
    // and a truthy one goes to dns.lookup, which wants a string.
    const host = options.host;
    if (host && typeof host !== 'string') throw invalidArgType('hostname', 'of type string', host);
    if (options.signal !== undefined) this.closeOnAbort(options.signal);
    if (callback) this.once('listening', callback);

    if (!host) {
      this.bindNow(6, '::', port, backlog, listenFlags, true);
      return this;
    }
    // As net, an IP address too goes through dns.lookup (which answers it on
    // a later tick): until then the server is not listening, address() is
    // null, and another listen() in this tick replaces this one.
    this.listenPending = true;
    const generation = this.listenGeneration;
    dns.lookup(host, (error, address, addressFamily) => {
      // As net's _listeningId: a close() since this listen() cancels it.
      if (generation !== this.listenGeneration) return;
      this.listenPending = false;
      if (error) {
        this.emit('error', error);
        return;
      }
      this.bindNow(addressFamily === 6 ? 6 : 4, address, port, backlog, listenFlags);
    });
    return this;
  }

  /** As net's _listeningId: a host lookup still pending when listen() or close() is called again is dropped. */
  private cancelPendingListen(): void {
    this.listenGeneration++;
    this.listenPending = false;
  }

  private closeOnAbort(signal: AbortSignal): void {
    if (typeof signal !== 'object' || signal === null || !('aborted' in signal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    if (signal.aborted) {
      process.nextTick(() => this.close());
      return;
    }
    const onAbort = (): void => {
      this.close();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    this.once('close', () => signal.removeEventListener('abort', onAbort));
  }

  /**
   * @internal Whether the reactor leaves accepted connections unread until
   * resume() (net's pauseOnConnect: libuv's handle never starts reading).
   */
  protected get readsNothingUntilResumed(): boolean {
    return this.pauseOnConnect;
  }

  private connectionFlags(): number {
    return (this.readsNothingUntilResumed ? ConnectionFlag.PauseOnConnect : 0) |
      (this.noDelay ? ConnectionFlag.NoDelay : 0) |
      (this.keepAlive ? ConnectionFlag.KeepAlive : 0);
  }

  private bindNow(family: 0 | 4 | 6, address: string, port: number, backlog: number, listenFlags: number,
    fallBackToIPv4 = false): void {
    const reactor = reactorOrError(this);
    if (reactor === undefined) return;
    const connectionFlags = this.connectionFlags();
    const tlsContext = this.tlsContextFor(reactor);
    if (tlsContext < 0) return;
    let result = reactor.native.listen(family, family === 0 ? unixSocketAddress(address) : address, port, backlog,
      listenFlags, connectionFlags, this.keepAliveInitialDelay, tlsContext);
    if (result.length === 2 && fallBackToIPv4 && (result[0] === -97 /* EAFNOSUPPORT */ || result[0] === -99)) {
      // No IPv6 on this host: Node falls back to 0.0.0.0 the same way.
      family = 4;
      address = '0.0.0.0';
      result = reactor.native.listen(family, address, port, backlog, listenFlags, connectionFlags,
        this.keepAliveInitialDelay, tlsContext);
    }
    if (result.length === 2) {
      let errno = family === 0 ? unixPathErrno(result[0]) : result[0];
      // As libuv's uv_pipe_bind, which reports ENOENT as EACCES (for Windows' sake).
      if (family === 0 && errno === -os.constants.errno.ENOENT) errno = -os.constants.errno.EACCES;
      const error = systemError(errno, 'listen', address, family === 0 ? undefined : port, true);
      // As net, which listens on a path as port -1 (listenInCluster) and
      // keeps that on the error (uvExceptionWithHostPort sets any truthy port).
      if (family === 0) error.port = -1;
      this.failListen(error);
      return;
    }
    const [id, boundAddress, boundPort] = result;
    if (family === 0) this.unixPath = address;
    // net's key for cluster: the requested family, address and port.
    this.connectionKey = family === 0 ? `-1:${address}:-1` : `${family}:${address}:${port}`;
    this.startListening(reactor, id, family === 0 ? address : boundAddress, boundPort, family);
  }

  /**
   * net's `listen(boundSocket[, backlog][, callback])` and `listen({ handle:
   * boundSocket })` (Node 24.22+): listens on the socket a net.BoundSocket
   * bound, which is adopted, so that its address(), fd() and close() throw
   * ERR_SOCKET_HANDLE_ADOPTED from then on, as after node's listen(). The
   * reactor listens on a duplicate; node's handle keeps the original until
   * the server closes.
   */
  private listenOnBoundSocket(boundSocket: Parameters<typeof adoptBoundSocket>[0], args: unknown[],
    callback: ListenCallback | undefined): this {
    if (this.bound !== undefined) throw serverAlreadyListening();
    // Throws ERR_SOCKET_HANDLE_ADOPTED for one adopted or closed, before any change.
    const adopted = adoptBoundSocket(boundSocket);
    if (serverListenChannel.hasSubscribers) {
      serverListenChannel.asyncStart.publish({ server: this, options: args[0] as object });
    }
    this.cancelPendingListen();
    if (callback) this.once('listening', callback);
    // As net: a backlog comes only as the second or third argument.
    const backlog = kernelBacklog(toBacklog(args[1]) || toBacklog(args[2]));
    this.boundHandle = adopted.handle;
    this.adoptFd(adopted.fd, backlog, true);
    if (this.bound === undefined) this.closeBoundHandle();  // failed: 'error' is on its way
    return this;
  }

  /** A listen that failed: its 'error' on the next tick, as net's emitErrorNT. */
  private failListen(error: Error): void {
    if (serverListenChannel.hasSubscribers) serverListenChannel.error.publish({ server: this, error });
    process.nextTick(emitNT, this, 'error', error);
  }

  private closeBoundHandle(): void {
    const handle = this.boundHandle;
    this.boundHandle = undefined;
    handle?.close();
  }

  private adoptFd(fd: number, backlog: number, duplicate = false): void {
    const reactor = reactorOrError(this);
    if (reactor === undefined) return;
    const tlsContext = this.tlsContextFor(reactor);
    if (tlsContext < 0) return;
    const result = reactor.native.listenFd(fd, backlog, this.connectionFlags(), this.keepAliveInitialDelay, duplicate,
      tlsContext);
    if (result.length === 2) {
      // As net, an fd that is no stream socket is EINVAL (createServerHandle)
      // and the code is spelled out (uvExceptionWithHostPort).
      const { EBADF, ENOTSOCK, EOPNOTSUPP, EINVAL } = os.constants.errno;
      const errno = !duplicate && [-EBADF, -ENOTSOCK, -EOPNOTSUPP].includes(result[0]) ? -EINVAL : result[0];
      this.failListen(systemError(errno, 'listen', undefined, undefined, true));
      return;
    }
    const [id, boundAddress, boundPort, family] = result;
    this.startListening(reactor, id, boundAddress, boundPort, family);
  }

  /** @internal Listens on a duplicate of a listening fd that libuv owns; returns an error or null. */
  adoptListeningFd(fd: number): Error | null {
    const reactor = getReactor();
    const tlsContext = this.tlsContextFor(reactor);
    if (tlsContext < 0) return new Error('epoll-reactor: the TLS context could not be built');
    const result = reactor.native.listenFd(fd, DEFAULT_BACKLOG, this.connectionFlags(), this.keepAliveInitialDelay, true,
      tlsContext);
    if (result.length === 2) return systemError(result[0], result[1]);
    const [id, boundAddress, boundPort, family] = result;
    this.startListening(reactor, id, boundAddress, boundPort, family);
    return null;
  }

  /**
   * Once this many connections are open, further ones are closed at once and
   * 'drop' is emitted with their addresses, as in net. The reactor thread
   * enforces it too, so it holds while the JS thread is busy.
   */
  get maxConnections(): number | undefined {
    return this.maxConnectionsValue;
  }

  set maxConnections(value: number | undefined) {
    this.maxConnectionsValue = value;
    this.sendMaxConnections();
  }

  // The reactor thread gets the limits it can apply as net would: a positive
  // number (`count >= 10.5` first holds at 11). Any other truthy value is left
  // to the check in onReactorConnection, as net compares it.
  private sendMaxConnections(): void {
    if (this.bound === undefined || this.reactor === undefined) return;
    const value = Number(this.maxConnectionsValue);
    const limit = this.maxConnectionsValue && value > 0 && Number.isFinite(value) ? Math.ceil(value) : 0;
    this.reactor.native.setMaxConnections(this.bound.id, limit);
    this.reactor.scheduleFlush();
  }

  private startListening(reactor: Reactor, id: number, address: string, port: number, family: 0 | 4 | 6): void {
    this.reactor = reactor;
    // A listener taken over from libuv (adoptServer) may have an abstract name padded with NULs.
    if (family === 0) address = trimAbstractPadding(address);
    this.bound = { id, address, port, family: family === 0 ? 'unix' : family === 6 ? 'IPv6' : 'IPv4' };
    reactor.listeners.set(id, this);
    if (this.maxConnectionsValue) this.sendMaxConnections();
    if (this.referenced) reactor.ref();
    if (serverListenChannel.hasSubscribers) serverListenChannel.asyncEnd.publish({ server: this });
    process.nextTick(emitListeningNT, this, id);
  }

  /** Lets the process exit even while this server listens. Returns the server. */
  unref(): this {
    if (this.referenced) {
      this.referenced = false;
      if (this.bound !== undefined) this.reactor?.unref();
    }
    return this;
  }

  /** Undoes {@link Server.unref}. Returns the server. */
  ref(): this {
    if (!this.referenced) {
      this.referenced = true;
      if (this.bound !== undefined) this.reactor?.ref();
    }
    return this;
  }

  /** Closes the server and resolves once it has closed, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.bound === undefined) return;
    await new Promise<void>((resolve, reject) => this.close((error) => (error ? reject(error) : resolve())));
  }

  /**
   * The bound address: `{ address, family, port }` for TCP, the path for a
   * Unix socket, or null when not listening.
   */
  address(): AddressInfo | string | null {
    const bound = this.bound;
    if (bound === undefined) return this.pipeName ?? null;
    if (bound.family === 'unix') return bound.address;
    return { address: bound.address, family: bound.family, port: bound.port };
  }

  /**
   * Stops accepting connections. 'close' is emitted, and `callback` called,
   * once every existing connection has closed. Called when not listening,
   * `callback` receives ERR_SERVER_NOT_RUNNING.
   */
  close(callback?: (error?: Error) => void): this {
    this.cancelPendingListen();
    // As net: anything but a function is ignored.
    if (typeof callback === 'function') {
      if (this.bound === undefined) {
        this.once('close', () => callback(serverNotRunning()));
      } else {
        this.once('close', callback);
      }
    }
    const bound = this.bound;
    if (bound !== undefined && this.reactor !== undefined) {
      this.bound = undefined;
      this.reactor.listeners.delete(bound.id);
      this.reactor.native.closeListener(bound.id);
      this.reactor.scheduleFlush();
      releaseIfFailedAndIdle(this.reactor);
      if (this.referenced) this.reactor.unref();
      if (this.unixPath !== undefined && !this.unixPath.startsWith('\0')) {
        // libuv removes the socket file when a pipe server closes; so do we.
        fs.rmSync(this.unixPath, { force: true });
        this.unixPath = undefined;
      }
      this.closeBoundHandle();
    }
    this.emitCloseIfDrained();
    return this;
  }

  /** @internal The connections accepted and not yet destroyed (getConnections' count, at once). */
  get openConnections(): number {
    return this.connectionCount;
  }

  /** Calls back with the number of open connections, as net does. */
  getConnections(callback: (error: Error | null, count: number) => void): this {
    validateFunction(callback, 'callback');
    process.nextTick(callback, null, this.connectionCount);
    return this;
  }

  /** Whether the blockList refuses `remoteAddress` (a Unix peer, '', never). */
  private blocked(remoteAddress: string): boolean {
    const family = isIP(remoteAddress);
    return family !== 0 && this.blockList?.check(remoteAddress, family === 6 ? 'ipv6' : 'ipv4') === true;
  }

  /** @internal */
  onReactorConnection(id: number, remoteAddress: string, remotePort: number, localAddress: string,
    localPort: number): void {
    const reactor = this.reactor as Reactor;
    // As net on the running Node: undefined or null means no limit; so does
    // any falsy value (0, false) on Node 20, while from Node 22 on 0 and
    // false drop every connection (net compares `count >= limit`).
    const limit = this.maxConnections;
    const limited = maxConnectionsZeroDropsAll ? limit != null : Boolean(limit);
    if (limited && this.connectionCount >= (limit as number)) {
      reactor.native.close(id);
      reactor.scheduleFlush();
      this.emit('drop', dropData(remoteAddress, remotePort, localAddress, localPort));
      return;
    }
    if (this.blockList !== undefined && this.blocked(remoteAddress)) {
      // As net (Node 22+): closed unseen, no 'connection' and no 'drop'.
      reactor.native.close(id);
      reactor.scheduleFlush();
      return;
    }
    const socket = this.createSocket({
      allowHalfOpen: this.allowHalfOpen,
      highWaterMark: this.highWaterMark,
      pauseOnConnect: this.pauseOnConnect,
    });
    socket.attach(reactor, id, { remoteAddress, remotePort, localAddress, localPort });
    this.connectionCount++;
    // As net, which counts a connection out in its socket's _destroy: the
    // server's 'close' comes before the last socket's 'close'.
    socket.countedBy(() => {
      this.connectionCount--;
      this.emitCloseIfDrained();
    });
    (socket as Socket & { server: Server }).server = this;
    this.emit('connection', socket);
    if (serverSocketChannel.hasSubscribers) serverSocketChannel.publish({ socket });
  }

  /**
   * @internal The native TLS context id its listener hands accepted
   * connections to (lib/tls.ts); 0 for plain TCP, negative when building it
   * failed and 'error' has been scheduled.
   */
  protected tlsContextFor(_reactor: Reactor): number {
    return 0;
  }

  /** @internal The socket an accepted connection becomes (lib/tls.ts makes TLS sockets). */
  protected createSocket(options: SocketOptions): Socket {
    return new Socket(options);
  }

  /** @internal */
  onReactorDrop(remoteAddress: string, remotePort: number, localAddress: string, localPort: number): void {
    this.emit('drop', dropData(remoteAddress, remotePort, localAddress, localPort));
  }

  /** @internal */
  onReactorListenerError(errno: number, syscall: string): void {
    const error = systemError(errno, syscall);
    if (syscall === 'epoll_wait') {
      // The reactor thread ended and closed the listener: this server cannot
      // serve again. It closes, and the error is the user's to handle.
      this.close();
      this.emit('error', error);
      return;
    }
    // Running out of fds is survivable (the listener sheds and carries on);
    // an unhandled 'error' would end the process, so it becomes a warning then.
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(`epoll-reactor: accept failed: ${error.message}`, 'EpollReactorWarning');
  }

  private emitCloseIfDrained(): void {
    if (this.bound === undefined && this.connectionCount === 0 && !this.listenPending) {
      process.nextTick(emitNT, this, 'close');
    }
  }
}

/**
 * The environment's reactor, or undefined when it cannot start (its thread
 * could not be created): the server then emits the error on the next tick,
 * as it would a failed listen().
 */
function reactorOrError(server: Server): Reactor | undefined {
  try {
    return getReactor();
  } catch (error) {
    process.nextTick(emitNT, server, 'error', error);
    return undefined;
  }
}

/** What 'drop' carries, as in net (nothing for a Unix socket). */
export interface DropArgument {
  localAddress?: string;
  localPort?: number;
  localFamily?: string;
  remoteAddress?: string;
  remotePort?: number;
  remoteFamily?: string;
}

function dropData(remoteAddress: string, remotePort: number, localAddress: string, localPort: number):
  DropArgument | undefined {
  if (remoteAddress === '' && localAddress === '') return undefined;
  const family = (address: string): string => (address.includes(':') ? 'IPv6' : 'IPv4');
  return {
    localAddress,
    localPort,
    localFamily: family(localAddress),
    remoteAddress,
    remotePort,
    remoteFamily: family(remoteAddress),
  };
}

/** net's toNumber, which listen() reads a bound socket's backlog with: anything Number() makes >= 0, else false. */
function toBacklog(value: unknown): number | false {
  const number = Number(value);
  return number >= 0 ? number : false;
}

/**
 * What net's listen() gives the kernel for a backlog chosen as above: none
 * (or 0) is 511; otherwise its int32 value, as node's handle converts it,
 * and below 0 the kernel's maximum (listen(2) caps it at somaxconn).
 */
function kernelBacklog(chosen: unknown): number {
  if (!chosen) return DEFAULT_BACKLOG;
  const value = Number(chosen) | 0;
  return value < 0 ? 2 ** 31 - 1 : value;
}

/**
 * As net's normalizeArgs; the backlog is not among the options (see listen).
 * Returns a copy to work on and what net's errors show: the object given
 * (an array or a Number too), or the `_handle` or `handle` it carries, which
 * net listens with in its place.
 */
function normalizeListenArgs(args: unknown[]): [ListenOptions, unknown] {
  const first = args[0];
  if (first !== null && typeof first === 'object') {
    const given = first as { _handle?: unknown; handle?: unknown };
    const used = given._handle || given.handle || first;
    return [{ ...(used as ListenOptions) }, used];
  }
  if (isPipeName(first)) return [{ path: first }, { path: first }];
  // As net's normalizeArgs: whatever else comes first is the port, checked later.
  const options: ListenOptions = args.length === 0 ? {} : { port: first as number | string };
  if (typeof args[1] === 'string') options.host = args[1];
  return [options, options];
}
