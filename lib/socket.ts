// A connection served by the reactor, with net.Socket's behaviour: a
// stream.Duplex whose reads come from reactor batches and whose writes are
// staged as commands to the reactor thread.
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';

import { streamDestroyed, systemError } from './errors';
import type { ConnectionEndpoint, Reactor } from './reactor';

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
export class Socket extends Duplex implements ConnectionEndpoint {
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

  /** @internal */ readonly id: number;
  private readonly reactor: Reactor;
  private bytesQueued = 0;      // handed to the reactor
  private bytesSent = 0;        // taken by the kernel
  private pendingWrite: PendingWrite | null = null;
  private pendingFinal: ((error?: Error | null) => void) | null = null;
  private readingStopped = false;  // the reactor was told to pause
  private unackedBytes = 0;        // received while the readable buffer was full
  private registered = true;

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
  }

  /** Bytes written so far, including those still buffered, as net counts them. */
  get bytesWritten(): number {
    let buffered = 0;
    for (const entry of (this as unknown as { writableBuffer: unknown }).writableBuffer as Array<{ chunk: Buffer | string; encoding: BufferEncoding }>) {
      buffered += typeof entry.chunk === 'string' ? Buffer.byteLength(entry.chunk, entry.encoding) : entry.chunk.length;
    }
    return this.bytesQueued + buffered;
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
      callback(streamDestroyed('end'));
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
      this.reactor.native.close(this.id);
      this.reactor.scheduleFlush();
      this.reactor.unref();
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
      callback(streamDestroyed('write'));
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

// As net does: without allowHalfOpen, the peer's FIN ends our side too.
function onReadableEnd(this: Socket): void {
  if (!this.allowHalfOpen && this.writable && !this.writableEnded) this.end();
}
