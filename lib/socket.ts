// A connection served by the reactor, with net.Socket's behaviour: a
// stream.Duplex whose reads come from reactor batches and whose writes are
// staged as commands to the reactor thread.
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';

import { invalidArgType, invalidHandleType, outOfRange, socketClosed, streamDestroyed, systemError } from './errors';
import { validateFunction } from './validate';
import type { Reactor } from './reactor';

/** Options for a reactor socket, as for net.Socket. */
export interface SocketOptions {
  /** Keep the writable side open after the peer ends (default false, as in net). */
  allowHalfOpen?: boolean;
  /** Readable buffer size before the socket stops reading from the kernel. */
  readableHighWaterMark?: number;
  /** Writable buffer size above which write() returns false. */
  writableHighWaterMark?: number;
  /** Both high-water marks at once. */
  highWaterMark?: number;
  /** Start paused: nothing is read until `resume()` (the server's pauseOnConnect). */
  pauseOnConnect?: boolean;
}

/** Where a connection's two ends are. */
export interface ConnectionAddresses {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

interface PendingWrite {
  // Total bytes handed to the reactor once this write's chunks are queued.
  target: number;
  callback: (error?: Error | null) => void;
}

function familyOf(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

function emitCloseNT(socket: Socket, hadError: boolean): void {
  socket.emit('close', hadError);
}

/**
 * A socket served by the epoll reactor. It behaves like `net.Socket`: a
 * `stream.Duplex` with 'data', 'end', 'drain', 'finish', 'error' and
 * 'close' (with `hadError`), addresses, and byte counters.
 *
 * You do not construct one yourself: a {@link Server} emits them.
 *
 * @example
 * ```ts
 * import { createServer } from 'epoll-reactor';
 * createServer((socket) => {
 *   console.log('client', socket.remoteAddress, socket.remotePort);
 *   socket.pipe(socket); // echo
 * }).listen(7000, '127.0.0.1');
 * ```
 */
export class Socket extends Duplex {
  /** Peer address, or undefined for a Unix socket. */
  readonly remoteAddress: string | undefined;
  /** Peer port, or undefined for a Unix socket. */
  readonly remotePort: number | undefined;
  /** `'IPv4'` or `'IPv6'`, or undefined for a Unix socket. */
  readonly remoteFamily: string | undefined;
  /** Local address, or undefined for a Unix socket. */
  readonly localAddress: string | undefined;
  /** Local port, or undefined for a Unix socket. */
  readonly localPort: number | undefined;
  /** `'IPv4'` or `'IPv6'`, or undefined for a Unix socket. */
  readonly localFamily: string | undefined;
  /** Whether the writable side stays open after the peer ends. */
  override allowHalfOpen: boolean;
  /** Bytes received so far. */
  bytesRead = 0;
  /** Always false: a reactor socket is connected when you get it. */
  readonly connecting = false;
  /** Always false: a reactor socket is connected when you get it. */
  readonly pending = false;
  /**
   * Node's http and tls look at `_handle`; a reactor socket has no libuv
   * handle, and says so rather than offering half of one.
   */
  readonly _handle = null;
  /** The idle timeout set with {@link Socket.setTimeout}, in milliseconds, or undefined. */
  timeout: number | undefined = undefined;

  /** @internal */ readonly id: number;
  private readonly reactor: Reactor;
  private bytesQueued = 0;      // handed to the reactor
  private bytesSent = 0;        // taken by the kernel
  private pendingWrite: PendingWrite | null = null;
  private pendingFinal: ((error?: Error | null) => void) | null = null;
  private readingStopped = false;  // the reactor was told to pause
  private unackedBytes = 0;        // received while the readable buffer was full
  private registered = true;
  private referenced = true;
  private resetOnDestroy = false;
  private noDelay = false;

  /** @internal */
  constructor(reactor: Reactor, id: number, addresses: ConnectionAddresses, options: SocketOptions = {}) {
    super({
      // Half-open handling is ours, as in net: the Duplex must not end itself.
      allowHalfOpen: true,
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
      highWaterMark: options.highWaterMark,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    this.reactor = reactor;
    this.id = id;
    this.allowHalfOpen = options.allowHalfOpen === true;
    const unix = addresses.remoteAddress === '' && addresses.localAddress === '';
    this.remoteAddress = unix ? undefined : addresses.remoteAddress;
    this.remotePort = unix ? undefined : addresses.remotePort;
    this.localAddress = unix ? undefined : addresses.localAddress;
    this.localPort = unix ? undefined : addresses.localPort;
    this.remoteFamily = familyOf(this.remoteAddress);
    this.localFamily = familyOf(this.localAddress);
    reactor.connections.set(id, this);
    reactor.ref();
    this.on('end', onReadableEnd);
    if (options.pauseOnConnect === true) {
      // The reactor has not read it (the listener told it so); resume() will.
      this.readingStopped = true;
      this.pause();
    }
  }

  /**
   * Emits 'timeout' after `milliseconds` without activity in either
   * direction, as net.Socket#setTimeout does; 0 cancels. The socket is not
   * closed: that is up to the listener. The timer runs on the reactor thread.
   *
   * @example
   * ```ts
   * socket.setTimeout(30_000, () => socket.destroy());
   * ```
   */
  setTimeout(milliseconds: number, callback?: () => void): this {
    if (typeof milliseconds !== 'number') throw invalidArgType('msecs', 'of type number', milliseconds);
    if (!(milliseconds >= 0) || !Number.isFinite(milliseconds)) {
      throw outOfRange('msecs', 'a non-negative finite number', milliseconds);
    }
    if (callback !== undefined) validateFunction(callback, 'callback');
    if (this.destroyed) return this;
    const duration = Math.floor(milliseconds);
    this.timeout = milliseconds;
    this.reactor.native.setTimeout(this.id, duration);
    this.reactor.scheduleFlush();
    if (callback !== undefined) {
      if (duration === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }

  /** Enables or disables Nagle's algorithm (TCP_NODELAY); `true` if omitted. Returns the socket. */
  setNoDelay(noDelay?: boolean): this {
    const enable = noDelay === undefined ? true : Boolean(noDelay);
    if (this.registered && this.remoteAddress !== undefined && enable !== this.noDelay) {
      this.noDelay = enable;
      this.reactor.native.setNoDelay(this.id, enable);
      this.reactor.scheduleFlush();
    }
    return this;
  }

  /** Enables TCP keep-alive, with the idle time before the first probe. Returns the socket. */
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    if (this.registered && this.remoteAddress !== undefined) {
      this.reactor.native.setKeepAlive(this.id, Boolean(enable), ~~((initialDelay ?? 0) / 1000));
      this.reactor.scheduleFlush();
    }
    return this;
  }

  /** Lets the process exit even while this socket is open. Returns the socket. */
  unref(): this {
    if (this.referenced) {
      this.referenced = false;
      if (this.registered) this.reactor.unref();
    }
    return this;
  }

  /** Undoes {@link Socket.unref}. Returns the socket. */
  ref(): this {
    if (!this.referenced) {
      this.referenced = true;
      if (this.registered) this.reactor.ref();
    }
    return this;
  }

  /**
   * Closes the connection with a TCP RST (SO_LINGER 0) instead of a FIN, and
   * destroys the socket. A second call does nothing.
   */
  resetAndDestroy(): this {
    if (!this.registered) return this;
    if (this.remoteAddress === undefined) throw invalidHandleType();
    this.resetOnDestroy = true;
    return this.destroy();
  }

  /** Ends the writable side, then destroys the socket once everything is written. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', this.destroy);
  }

  /** Bytes written so far, including those still buffered, as net counts them. */
  get bytesWritten(): number {
    let buffered = 0;
    for (const entry of (this as unknown as { writableBuffer: unknown }).writableBuffer as Array<{ chunk: Buffer | string; encoding: BufferEncoding }>) {
      buffered += typeof entry.chunk === 'string' ? Buffer.byteLength(entry.chunk, entry.encoding) : entry.chunk.length;
    }
    return this.bytesQueued + buffered;
  }

  /** @deprecated As in net: use `writableLength`. */
  get bufferSize(): number {
    return this.writableLength;
  }

  /** `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as in net. */
  get readyState(): string {
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The local end, as `net.Socket#address()` returns it. */
  address(): AddressInfo | Record<string, never> {
    if (this.localAddress === undefined || this.localPort === undefined) return {};
    return { address: this.localAddress, family: this.localFamily as string, port: this.localPort };
  }

  /** @internal */
  onReactorData(data: Buffer): void {
    const length = data.length;
    this.bytesRead += length;
    if (this.push(data)) {
      this.reactor.native.ack(this.id, length);
    } else {
      // The readable buffer is full: stop reading so the kernel pushes back on
      // the peer, and acknowledge these bytes only once they are consumed.
      this.unackedBytes += length;
      if (!this.readingStopped) {
        this.readingStopped = true;
        this.reactor.native.pause(this.id);
      }
    }
    this.reactor.scheduleFlush();
  }

  /** @internal */
  onReactorEnd(): void {
    this.push(null);
  }

  /** @internal */
  onReactorError(errno: number, syscall: string): void {
    this.destroy(systemError(errno, syscall));
  }

  /** @internal */
  onReactorWritten(totalBytes: number): void {
    this.bytesSent = totalBytes;
    const pending = this.pendingWrite;
    if (pending !== null && totalBytes >= pending.target) {
      this.pendingWrite = null;
      pending.callback(null);
    }
  }

  /** @internal */
  onReactorTimeout(): void {
    this.emit('timeout');
  }

  /** @internal */
  onReactorShutdown(): void {
    const callback = this.pendingFinal;
    this.pendingFinal = null;
    callback?.(null);
  }

  override _read(): void {
    if (!this.readingStopped || !this.registered) return;
    this.readingStopped = false;
    if (this.unackedBytes > 0) {
      this.reactor.native.ack(this.id, this.unackedBytes);
      this.unackedBytes = 0;
    }
    this.reactor.native.resume(this.id);
    this.reactor.scheduleFlush();
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.queueChunk(chunk, encoding);
    this.awaitKernel(callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    for (let i = 0; i < chunks.length; i++) this.queueChunk(chunks[i].chunk, chunks[i].encoding);
    this.awaitKernel(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.registered) {
      callback(null);
      return;
    }
    this.pendingFinal = callback;
    this.reactor.native.shutdown(this.id);
    this.reactor.scheduleFlush();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.registered) {
      this.registered = false;
      this.reactor.connections.delete(this.id);
      if (this.resetOnDestroy) this.reactor.native.reset(this.id);
      else this.reactor.native.close(this.id);
      this.reactor.scheduleFlush();
      if (this.referenced) this.reactor.unref();
    }
    // Bytes not yet taken by the kernel are discarded with the socket; their
    // write callback learns so before 'close'.
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    this.pendingFinal = null;
    if (pending !== null) pending.callback(error ?? streamDestroyed('write'));
    callback(error);
    process.nextTick(emitCloseNT, this, error != null);
  }

  private queueChunk(chunk: Buffer | string, encoding: BufferEncoding): void {
    if (typeof chunk === 'string' && encoding !== 'utf8' && encoding !== 'utf-8' && (encoding as string) !== 'buffer') {
      chunk = Buffer.from(chunk, encoding);
    }
    this.bytesQueued += this.reactor.native.write(this.id, chunk);
  }

  private awaitKernel(callback: (error?: Error | null) => void): void {
    if (!this.registered) {
      callback(socketClosed());
      return;
    }
    this.reactor.scheduleFlush();
    if (this.bytesSent >= this.bytesQueued) {
      // Nothing new went to the reactor (an empty write): complete it anyway,
      // asynchronously as every write completes.
      process.nextTick(callback, null);
      return;
    }
    this.pendingWrite = { target: this.bytesQueued, callback };
  }
}

// As net does: without allowHalfOpen, the peer's FIN ends our side too, and a
// later write fails with EPIPE.
function onReadableEnd(this: Socket): void {
  if (this.allowHalfOpen) return;
  this.write = writeAfterFIN;
  if (this.writable && !this.writableEnded) this.end();
}

function writeAfterFIN(this: Socket, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
  if (!this.writableEnded) {
    return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, callback as () => void);
  }
  if (typeof encoding === 'function') callback = encoding;
  const error = Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
  if (typeof callback === 'function') process.nextTick(callback, error);
  this.destroy(error);
  return false;
}
