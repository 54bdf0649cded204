// A connection served by the reactor, with net.Socket's behaviour: a
// stream.Duplex whose reads come from reactor batches and whose writes are
// staged as commands to the reactor thread.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as tty from 'node:tty';
import { addAbortSignal, Duplex, DuplexOptions, Readable } from 'node:stream';
import { isSharedArrayBuffer } from 'node:util/types';
import { AddressInfo, BlockList } from 'node:net';

import {
  AttemptingSocket, ConnectAttempts, ConnectOptions, ConnectTarget, normalizeConnectArgs, resolveTargets,
  unixSocketAddress,
} from './connect';
import {
  codedError,
  invalidArgType,
  invalidArgValue,
  invalidFdType,
  invalidHandleType,
  outOfRange,
  socketClosed,
  socketClosedBeforeConnection,
  streamDestroyed,
  systemError,
} from './errors';
import { clientSocketChannel } from './diagnostics';
import {
  blockListOption, clientSocketFromSocketConnect, destroyCancelsWriteInProgress, endNeverConnectedAtOnce,
  keepAliveIntervalAndCount, typeOfServiceMethods,
} from './net-version';
import { adoptBoundSocket, AdoptedBoundSocket, asBoundSocket } from './bound-socket';
import { getReactor, Reactor, releaseIfFailedAndIdle, SMALL_WRITE } from './reactor';
import { onReadOption, OnReadOptions, UserBufferReader } from './onread';
import { ReceivedText, StreamDecoder } from './received-text';
import { validateFunction, validateInteger, validateNumber } from './validate';

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
  /** Decode 'data' to strings in this encoding, as `setEncoding()` (a stream option, as for net). */
  encoding?: BufferEncoding;
  /** The encoding of string writes given none (a stream option, as for net; default `'utf8'`). */
  defaultEncoding?: BufferEncoding;
  /** Disable Nagle's algorithm once connected, as net's option. */
  noDelay?: boolean;
  /** Enable TCP keep-alive once connected, as net's option. */
  keepAlive?: boolean;
  /** Keep-alive idle time in milliseconds before the first probe (a number; below 0 is 0). */
  keepAliveInitialDelay?: number;
  /** Destroys the socket with an AbortError when aborted, as net's `signal` option. */
  signal?: AbortSignal;
  /**
   * A connected stream socket (TCP or Unix) to take over, as net's `fd`
   * option: the reactor serves a duplicate of it and the number given is
   * closed at once. Anything else is refused (see {@link Socket}'s constructor).
   */
  fd?: number;
  /** With `fd`: false leaves the read side unread and ended, as net. */
  readable?: boolean;
  /** With `fd`: false leaves the write side ended, as net. */
  writable?: boolean;
  /**
   * net's `onread`: bytes go into `buffer` (or the buffer a function returns)
   * and to `callback(nread, buffer)` instead of 'data' events; a callback
   * that returns false stops reading until `resume()`.
   */
  onread?: OnReadOptions;
  /** Addresses connect() must not reach: ERR_IP_BLOCKED (Node 22+, as net; ignored on 20, as net). */
  blockList?: BlockList;
  /** The IP type of service to connect with, 0-255 (Node 24.22+, as net; ignored before, as net). See {@link Socket.setTypeOfService}. */
  typeOfService?: number;
  /**
   * A `net.BoundSocket` (Node 24.22+) to connect from: the socket is adopted,
   * and connect() connects it, from the address and port it is bound to.
   * Any other handle (a libuv handle object) is not supported and ignored.
   */
  handle?: unknown;
}

/** `setKeepAlive()`'s object form (Node 24.22+, as net). */
export interface KeepAliveOptions {
  enable?: boolean;
  /** Idle milliseconds before the first probe. */
  initialDelay?: number;
  /** Milliseconds between probes (1 s unless given). */
  interval?: number;
  /** Unanswered probes before the connection is dropped (10 unless given). */
  count?: number;
}

/** Where a connection's two ends are ('' addresses for a Unix socket). */
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

/** Internal event: the socket has a connected native id; queued work may go. */
const kReady = Symbol('epoll-reactor.ready');
// Writable's own, under Socket's write() and end() (which add the exit hand-over).
const writableWrite = Duplex.prototype.write as (this: Duplex, chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;
const writableEnd = Duplex.prototype.end as (this: Duplex, chunk?: unknown, encoding?: unknown, callback?: unknown) => Duplex;

interface WritableEntry {
  chunk: Buffer | string;
  encoding: BufferEncoding;
}

/**
 * The chunks waiting in a Writable behind its write in flight: `entries`
 * from index `from` on. Read from the state (Node 20 to 26 keep them there
 * so), not through the writableBuffer getter, which copies them: write()
 * reads them at every call behind a write in flight.
 */
function writableQueueOf(stream: Duplex): { entries: WritableEntry[]; from: number } {
  const state = (stream as unknown as { _writableState: { buffered?: unknown; bufferedIndex?: unknown } })._writableState;
  if (Array.isArray(state.buffered) && typeof state.bufferedIndex === 'number') {
    return { entries: state.buffered as WritableEntry[], from: Math.min(state.bufferedIndex, state.buffered.length) };
  }
  return { entries: (stream as unknown as { writableBuffer: WritableEntry[] }).writableBuffer, from: 0 };
}

/**
 * The chunks a Readable holds unread, in order, without reading them. Node
 * 20 to 26 keep them in an array from `bufferIndex` on, with the entries
 * read whole before it set to null (a BufferList before that, iterated as is).
 */
export function readableChunksOf(stream: Readable): (Buffer | string)[] {
  const state = (stream as unknown as { _readableState: { buffer: Iterable<Buffer | string | null>; bufferIndex?: unknown } })
    ._readableState;
  const chunks: (Buffer | string)[] = [];
  let index = 0;
  const from = Array.isArray(state.buffer) && typeof state.bufferIndex === 'number' ? state.bufferIndex : 0;
  for (const chunk of state.buffer) {
    if (index++ >= from && chunk !== null) chunks.push(chunk);
  }
  return chunks;
}

/**
 * How many chunks wait in a Writable, without the copy writableBuffer makes:
 * node:http corks every response. (bufferedRequestCount: Node 20 to 26.)
 */
function writableBufferedCount(stream: Duplex): number {
  const count = (stream as unknown as { _writableState: { bufferedRequestCount?: unknown } })._writableState
    .bufferedRequestCount;
  return typeof count === 'number' ? count : (stream as unknown as { writableBuffer: WritableEntry[] }).writableBuffer.length;
}

/**
 * The bytes of `chunk` in a form the reactor thread may read after this call
 * returns: a Uint8Array over a plain, fixed-length ArrayBuffer. Views over a
 * SharedArrayBuffer (other threads write it while the reactor reads) or a
 * resizable ArrayBuffer (a shrink releases the pages the reactor would read
 * from) are copied. A view over a detached buffer has no bytes left.
 */
export function nativeBytes(chunk: Uint8Array): Uint8Array {
  const buffer = chunk.buffer as ArrayBufferLike & { resizable?: boolean };
  if (isSharedArrayBuffer(buffer) || buffer.resizable === true) return Buffer.from(chunk);
  return chunk;
}

/** Queues a Buffer's bytes with the reactor (`behind` the write JS waits for: native write()); returns their length. */
export function queueBytes(reactor: Reactor, id: number, chunk: Uint8Array, behind: boolean): number {
  // Copied by TypedArray#set, which reads a heap-allocated Buffer where it
  // is (up to 64 bytes, as every small read's is: lib/reactor.ts fromInbox).
  if (chunk.length < SMALL_WRITE && reactor.logBytes(id, chunk, behind)) return chunk.length;
  return reactor.native.write(id, nativeBytes(chunk), behind);
}

/** Queues a string's UTF-8 with the reactor; returns its length in bytes. */
function queueString(reactor: Reactor, id: number, string: string, behind: boolean): number {
  const logged = reactor.logString(id, string, behind);
  return logged >= 0 ? logged : reactor.native.write(id, string, behind);
}

function familyOf(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

function emitCloseNT(socket: Socket, hadError: boolean): void {
  socket.emit('close', hadError);
}

function emitCloseWithoutConnectionNT(socket: Socket): void {
  socket.emit('close');
}

/** What libuv answers a write after the socket's shutdown, as net reports it. */
function writeAfterShutdown(): Error {
  return systemError(-os.constants.errno.EPIPE, 'write');
}

function emitConnectNT(socket: Socket): void {
  // A listener that throws (to an 'uncaughtException' handler) must not
  // leave the reads that wait for 'connect' held for good.
  try {
    socket.emit('connect');
    socket.emit('ready');
  } finally {
    socket.connectEmitted();
  }
}

/** The FIN of connection `id` that waited (for 'connect', for its bytes to flow, for writes to be tried). */
function endAfterHold(socket: Socket, id: number): void {
  // Not once the socket is destroyed, or connecting again (reinitialize()).
  if (!socket.destroyed && socket.id === id) socket.onReactorEnd();
}

/** A FIN held for the writes its bytes' listeners made (Socket.holdEndForWrites); one per connection. */
interface EndHold {
  waitedForFlow: boolean;
  waiting: boolean;           // for the reactor's answer (onReactorWritten's `attempted`)
  rounds: number;
  writeCallsAtTry: number;    // Socket.writeCalls when the reactor was last asked
  bytesQueuedAtTry: number;
  bytesQueuedAtFin: number;
}

// What the writes that hold a FIN may add up to, past what the first try
// had: a writer that ignores backpressure must not hold 'end' for good.
const END_HOLD_BYTES = 1024 * 1024;

/**
 * @internal What a Socket's Duplex is made with. One literal with every key,
 * not a spread of another: V8 gave a spread's copy a map of its own each
 * time once optimized, so each socket made fresh maps and sent every inline
 * cache in the stream constructors megamorphic (bench/socket-construct.js;
 * test/socket.construct-shape.test.ts).
 */
export function duplexOptionsOf(options: SocketOptions): DuplexOptions & { readable?: boolean; writable?: boolean } {
  return {
    // As net, a socket's sides may start closed (Duplex reads these two):
    // one made with readable: false is never read (attach), and one made
    // with writable: false fails writes with ERR_STREAM_WRITE_AFTER_END.
    readable: options.readable,
    writable: options.writable,
    // As net's: the Duplex is made half-open, and the socket's own
    // allowHalfOpen, set over it, is what Duplex reads at 'end' (onReadableEnd).
    allowHalfOpen: true,
    emitClose: false,
    autoDestroy: true,
    decodeStrings: false,
    // Duplex checks these two (ERR_UNKNOWN_ENCODING) and applies them, as for net.
    encoding: options.encoding,
    defaultEncoding: options.defaultEncoding,
    highWaterMark: options.highWaterMark,
    readableHighWaterMark: options.readableHighWaterMark,
    writableHighWaterMark: options.writableHighWaterMark,
  };
}

/**
 * A socket served by the epoll reactor. It behaves like `net.Socket`: a
 * `stream.Duplex` with 'data', 'end', 'drain', 'finish', 'error', 'timeout'
 * and 'close' (with `hadError`), addresses, and byte counters. A
 * {@link Server} emits accepted ones; {@link connect} makes outbound ones;
 * {@link adopt} takes one over from node:net.
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
export class Socket extends Duplex implements AttemptingSocket {
  /** Peer address, or undefined for a Unix socket or before connecting. */
  remoteAddress: string | undefined = undefined;
  /** Peer port, or undefined for a Unix socket or before connecting. */
  remotePort: number | undefined = undefined;
  /** `'IPv4'` or `'IPv6'`, or undefined for a Unix socket. */
  remoteFamily: string | undefined = undefined;
  /** Local address, or undefined for a Unix socket or before connecting. */
  localAddress: string | undefined = undefined;
  /** Local port, or undefined for a Unix socket or before connecting. */
  localPort: number | undefined = undefined;
  /** `'IPv4'` or `'IPv6'`, or undefined for a Unix socket. */
  localFamily: string | undefined = undefined;
  /** Whether the writable side stays open after the peer ends. */
  override allowHalfOpen: boolean;
  /** Bytes received so far. */
  bytesRead = 0;
  /** True while an outbound connect is in progress. */
  connecting = false;
  /**
   * Node's http and tls look at `_handle`; a reactor socket has no libuv
   * handle, and says so rather than offering half of one.
   */
  readonly _handle = null;
  /** The idle timeout set with {@link Socket.setTimeout}, in milliseconds, or undefined. */
  timeout: number | undefined = undefined;
  /**
   * `'address:port'` of each address tried when connect() had several to try
   * (net's happy eyeballs); undefined when it had one, as in net.
   */
  autoSelectFamilyAttemptedAddresses: string[] | undefined = undefined;
  /** The `blockList` option (Node 22+), as net keeps it. */
  blockList: BlockList | undefined = undefined;

  /** @internal The reactor's id for this connection; 0 before it has one. */
  id = 0;
  private reactor: Reactor | undefined;
  private bytesQueued = 0;      // handed to the reactor
  private timeoutsSet = 0;      // setTimeout commands sent for this connection (onReactorTimeout)
  // The idle timeout in force, in ms (0: none): what the last setTimeout()
  // that did not throw set. `timeout` is what the last call was given, as
  // net's, valid or not.
  private idleTimeout = 0;
  private bytesSent = 0;        // taken by the kernel
  private pendingWrite: PendingWrite | null = null;
  private pendingFinal: ((error?: Error | null) => void) | null = null;
  // The leading entries of the Writable's buffer already given to the
  // reactor (handOverQueued), from handedOverFirst on: where each ends in
  // bytesQueued, the point a skipped chunk's callback waits for
  // (awaitKernel). _write and _writev skip them when the Writable passes
  // them on, and bytesWritten counts them once (writableHandedOver).
  private handedOverEnds: number[] = [];
  private handedOverFirst = 0;
  // Entries in the Writable's buffer when cork() was first called: net had
  // sent those (below), and drops the ones written while corked.
  private writableBufferedAtCork = 0;
  private readingStopped = false;  // the reactor was told to pause
  // _read() was called before the connection was up: as net's, which waits
  // for 'connect' and then reads, reading starts at the connect however the
  // stream is paused by then (stopReadingIfPaused).
  private readAskedWhileConnecting = false;
  private unackedBytes = 0;        // received while the readable buffer was full
  // The bytes of this connection the reactor handed JS that have reached the
  // readable buffer or the onread callback (not those held for 'connect', nor
  // one still on its way in): when this equals the reactor's count for the
  // connection (Connection::bytesRead), JS holds nothing heldForForward misses.
  private bytesFromReactor = 0;
  private registered = false;      // in the reactor's map
  private referenced = true;
  private holdsReference = false;  // counted in the reactor's references (see updateReference)
  private readEnded = false;       // the peer's FIN arrived: nothing more to read
  private resetOnDestroy = false;
  private noDelay = false;
  // Given to the reactor when connected: enable, idle, interval (s), probes.
  private keepAlive: [boolean, number, number, number] | undefined;
  private typeOfService: number | undefined;  // net's kSetTOS: the last value set
  // A net.BoundSocket adopted by the constructor, until connect() hands its
  // fd to the reactor (then `handle` is closed, or for a path held until the
  // socket is released: closing it removes the socket file, as net does when
  // the socket closes).
  private boundSource: AdoptedBoundSocket | undefined;
  private boundPath: string | undefined;  // the path of an adopted BoundSocket, its local address once connected
  private forwarding = false;
  /** readingStopped as it was when a forward began, for cancelForwarding(). */
  private readingStoppedBeforeForward = false;
  // The write side is shut down: asked of the reactor (_final), or done
  // before the reactor had the connection (adopt). A write after it (only
  // a connect() that started the streams again on Node 20 can make one) fails.
  private writeShutDown = false;
  private unattachedTimer: NodeJS.Timeout | undefined;
  // When JS last saw bytes arrive or wrote, while a timeout is set (onReactorTimeout).
  private activitySeenAt = 0;
  // A 'timeout' the reactor reported before JS had seen `timeout` ms of quiet.
  private deferredTimeout: NodeJS.Timeout | undefined;
  // bytesSent when the write in flight began, or at the last 'timeout' that
  // write put off (onReactorTimeout; net's kLastWriteQueueSize).
  private sentAtTimeoutCheck = 0;
  private onAttachAbandoned: ((reset: boolean) => void) | undefined;  // set while adopt()'s hand-over is to come (expectAttach)
  private attachIsUnix = false;  // that hand-over's connection is a Unix socket (no RST to send)
  protected connectEmitPending = false;  // 'connect' is queued on nextTick, not yet emitted
  private endWaitsForConnect = false;  // a FIN arrived before 'connect' was emitted (connectEmitted)
  private writeCalls = 0;  // write() and end() calls (holdEndForWrites)
  private dataBatch = 0;   // the Reactor.batches that brought the last bytes (holdEndForWrites)
  private endHold: EndHold | undefined = undefined;
  private dataAwaitingConnect: Buffer[] = [];  // bytes that came before 'connect' was emitted (connectEmitted)
  private bytesAwaitingConnect = 0;  // written before the connection was up, not yet queued
  private userBuffer: UserBufferReader | undefined;  // the onread option's reader, if given
  // With an encoding set: which bytes made the text the readable buffer holds.
  private receivedText: ReceivedText | undefined;
  private endAfterUserBuffer = false;  // a FIN arrived while onread bytes still waited

  /**
   * Creates a socket that is not connected yet; call {@link Socket.connect}.
   *
   * @example
   * ```ts
   * import { Socket } from 'epoll-reactor';
   * const socket = new Socket();
   * socket.connect(7000, '127.0.0.1', () => socket.end('hi'));
   * ```
   */
  constructor(options: SocketOptions | number | null = {}) {
    // net's legacy form: new Socket(fd). null is no options, as net's spread of it.
    if (typeof options === 'number') options = { fd: options };
    else if (options === null) options = {};
    for (const name of ['objectMode', 'readableObjectMode', 'writableObjectMode'] as const) {
      const value = (options as Record<string, unknown>)[name];
      if (value) throw invalidArgValue(`options.${name}`, value, 'is not supported');
    }
    if (options.keepAliveInitialDelay !== undefined) validateNumber(options.keepAliveInitialDelay, 'options.keepAliveInitialDelay');
    const bound = asBoundSocket(options.handle);
    // As net: a handle given, `fd` is not looked at.
    const fd = bound === undefined ? options.fd : undefined;
    if (fd !== undefined) checkTakeableFd(fd);
    const blockList = blockListOption && options.blockList ? validateBlockList(options.blockList) : undefined;
    super(duplexOptionsOf(options));
    this.allowHalfOpen = Boolean(options.allowHalfOpen);
    // As net's kSetNoDelay and kSetKeepAlive: given to the connection once it is up.
    if (options.noDelay) this.noDelay = true;
    if (options.keepAlive) this.setKeepAlive(true, Math.max(0, options.keepAliveInitialDelay ?? 0));
    this.on('end', onReadableEnd);
    // As net: stream.addAbortSignal validates the signal and destroys the socket on abort.
    if (options.signal) addAbortSignal(options.signal, this);
    if (options.pauseOnConnect === true) {
      // The reactor will not read it (its listener said so); resume() will.
      this.readingStopped = true;
      this.pause();
    }
    this.blockList = blockList;
    if (typeOfServiceMethods && options.typeOfService !== undefined) {
      validateInteger(options.typeOfService, 'options.typeOfService', 0, 255);
      this.typeOfService = options.typeOfService;
    }
    const onread = onReadOption(options.onread);
    if (onread !== undefined) this.userBuffer = new UserBufferReader(onread);
    if (fd !== undefined) this.takeFd(fd);
    // Last: adopting it is the one change that cannot be undone. Throws
    // ERR_SOCKET_HANDLE_ADOPTED for one adopted already, as net.
    if (bound !== undefined) this.adoptBoundSource(adoptBoundSocket(bound));
  }

  private adoptBoundSource(adopted: AdoptedBoundSocket): void {
    this.boundSource = adopted;
    if (typeof adopted.address === 'string') this.boundPath = adopted.address;
    // As net's, whose handle answers getsockname before it connects.
    if (typeof adopted.address !== 'string') {
      this.localAddress = adopted.address.address;
      this.localPort = adopted.address.port;
      this.localFamily = familyOf(adopted.address.address);
    }
  }

  /**
   * net's `new Socket({ fd })`: the reactor takes a duplicate of the
   * connected socket `fd`, and `fd` itself is closed, as the socket owns it
   * from now on (net closes it when the socket closes). Checked beforehand by
   * checkTakeableFd; what only the kernel can tell (not a stream socket, not
   * connected) is thrown here, before anything has changed.
   */
  private takeFd(fd: number): void {
    const reactor = getReactor();
    const result = reactor.native.adoptFd(fd);
    if (result.length === 2) {
      const [errno, syscall] = result;
      if (errno === -os.constants.errno.EPROTOTYPE) throw invalidFdType('UDP');
      throw systemError(errno, syscall);
    }
    fs.closeSync(fd);
    this.userBuffer?.start();
    const [id, remoteAddress, remotePort, localAddress, localPort] = result;
    this.attach(reactor, id, { remoteAddress, remotePort, localAddress, localPort });
  }

  /**
   * True until the socket is connected, and again once its connection is
   * gone, as net's `!this._handle || this.connecting`.
   */
  get pending(): boolean {
    return !this.registered || this.connecting;
  }

  /**
   * @internal Whether writes and end() wait in JS: until connected, and for
   * a TLS client until the server is verified (lib/tls.ts), so that nothing
   * reaches a server that fails verification. {@link releaseWrites} lets
   * them go.
   */
  protected writesOnHold(): boolean {
    return this.id === 0 || this.connecting;
  }

  /**
   * @internal Whether bytes and the FIN that arrived wait in JS: until
   * 'connect' has been emitted, and for a TLS client until the server is
   * verified (lib/tls.ts). {@link releaseReads} lets them go.
   */
  protected readsOnHold(): boolean {
    return this.connectEmitPending;
  }

  /**
   * @internal The error a write made now fails with, though the socket is
   * open: a TLS socket's once OpenSSL has failed (lib/tls.ts). Chunks the
   * reactor has by then (handOverQueued) are not refused: they complete.
   */
  protected writeFailure(): Error | undefined {
    return undefined;
  }

  /** @internal A connect() starts: a subclass forgets what the last connection settled (lib/tls.ts). */
  protected beginConnect(): void {
    // Nothing to forget for a plain socket.
  }

  /**
   * @internal Answers a TLS server connection's SNI question (lib/tls.ts):
   * the context to finish its handshake with, 0 for its listener's.
   */
  protected useTlsContext(contextId: number, ocspResponse?: Buffer): void {
    if (!this.registered) return;
    this.reactor!.native.tlsUseContext(this.id, contextId, ocspResponse);
    this.reactor!.scheduleFlush();
  }

  /**
   * @internal Answers a TLS server connection's ALPN question (lib/tls.ts):
   * the index of the chosen name among those offered, -1 for none, and the
   * context whose certificate and key to use from here (setKeyCert), 0 for none.
   */
  protected chooseTlsAlpn(index: number, keyCertContextId: number): void {
    if (!this.registered) return;
    this.reactor!.native.tlsChooseAlpn(this.id, index, keyCertContextId);
    this.reactor!.scheduleFlush();
  }

  /**
   * @internal Answers a TLS server connection's session lookup (lib/tls.ts):
   * the session to resume (DER), or none.
   */
  protected resumeTlsSession(session?: Buffer): void {
    if (!this.registered) return;
    this.reactor!.native.tlsResumeSession(this.id, session);
    this.reactor!.scheduleFlush();
  }

  /**
   * @internal Answers a TLS connection's PSK question (lib/tls.ts): the
   * index of the identity a key was found for and the key, or -1 for none;
   * a client's identity length and its identity then key.
   */
  protected answerTlsPsk(index: number, key?: Buffer): void {
    if (!this.registered) return;
    this.reactor!.native.tlsAnswerPsk(this.id, index, key);
    this.reactor!.scheduleFlush();
  }

  /** @internal A TLS server connection's 'newSession' callback was called: what its handshake wrote may go (lib/tls.ts). */
  protected tlsSessionStored(): void {
    if (!this.registered) return;
    this.reactor!.native.tlsSessionStored(this.id);
    this.reactor!.scheduleFlush();
  }

  /** @internal A TLS 1.2 server connection's client is judged: the handshake's end may go (lib/tls.ts). */
  protected tlsVerdictGiven(): void {
    if (!this.registered) return;
    this.reactor!.native.tlsVerdictGiven(this.id);
    this.reactor!.scheduleFlush();
  }

  /** @internal JS has taken `bytes` the reactor counted as held (a TLS session report, lib/tls.ts). */
  protected acknowledge(bytes: number): void {
    if (!this.registered) return;
    this.reactor!.ack(this.id, bytes);
    this.reactor!.scheduleFlush();
  }

  /** @internal The session a TLS server connection's handshake made, encoded now (lib/tls.ts). */
  protected tlsServerSession(): Buffer | undefined {
    return this.registered ? this.reactor!.native.tlsServerSession(this.id) : undefined;
  }

  /**
   * @internal Asks the reactor about this TLS connection (lib/tls.ts);
   * undefined while it has none. Throws ERR_EPOLL_REACTOR_BUSY when the
   * reactor thread did not answer within 5 s: an answer made up instead (no
   * issuers, no key) would mislead whoever pins on it.
   */
  protected tlsQuery(kind: number, length?: number, label?: string, context?: Buffer): [number, ...Buffer[]] | undefined {
    if (!this.registered) return undefined;
    const answer = this.reactor!.native.tlsQuery(this.id, kind, length, label, context);
    if (answer === null) throw codedError('The reactor thread did not answer within 5 s', 'ERR_EPOLL_REACTOR_BUSY');
    return answer;
  }

  /** @internal A TLS client reports its key log lines from now on (lib/tls.ts); false while it has no connection. */
  protected tlsLogKeys(): boolean {
    if (!this.registered) return false;
    this.reactor!.native.tlsLogKeys(this.id);
    this.reactor!.scheduleFlush();
    return true;
  }

  /** @internal A TLS connection traces its records to stderr from now on (lib/tls.ts); false while it has no connection. */
  protected tlsTrace(): boolean {
    if (!this.registered) return false;
    this.reactor!.native.tlsTrace(this.id);
    this.reactor!.scheduleFlush();
    return true;
  }

  /** @internal Tells the reactor that this TLS client's server was accepted (lib/tls.ts). */
  protected allowTlsWrites(): void {
    if (!this.registered) return;
    this.reactor!.native.tlsAllowWrites(this.id);
    this.reactor!.scheduleFlush();
  }

  /** @internal Sets a TLS connection's record size (lib/tls.ts); false while it has no connection. */
  protected tlsSetMaxSendFragment(size: number): boolean {
    if (!this.registered) return false;
    this.reactor!.native.tlsSetMaxSendFragment(this.id, size);
    this.reactor!.scheduleFlush();
    return true;
  }

  /** @internal Lets writes held by {@link writesOnHold} go, once it is false. */
  protected releaseWrites(): void {
    this.emit(kReady);
    this.updateReference();
  }

  /** @internal The server that accepted this socket counts it until its destroy() (once). */
  countedBy(release: () => void): void {
    this.onDestroyForServer = release;
  }

  /** @internal Binds this socket to a reactor connection id. */
  attach(reactor: Reactor, id: number, addresses?: ConnectionAddresses): void {
    this.reactor = reactor;
    this.id = id;
    this.registered = true;
    this.hadConnection = true;
    this.onAttachAbandoned = undefined;
    reactor.connections.set(id, this);
    if ((this as unknown as { _readableState: { readable: boolean } })._readableState.readable === false &&
        !this.readingStopped) {
      // As net: a socket made with readable: false is never read (its
      // Duplex ended at birth: net's read(0) after connecting does nothing).
      this.readingStopped = true;
      reactor.native.pause(id);
    }
    this.updateReference();
    if (addresses !== undefined) this.setAddresses(addresses);
    this.clearUnattachedTimer();
    this.timeoutsSet = 0;  // a new native connection
    if (this.idleTimeout > 0) {
      reactor.native.setTimeout(id, this.idleTimeout);
      this.timeoutsSet++;
    }
    // A connection still connecting gets them in onReactorConnect, once it is known to be TCP.
    if (!this.connecting) this.applyTcpOptions();
    reactor.scheduleFlush();
    if (!this.connecting) this.emit(kReady);
  }

  private setAddresses(addresses: ConnectionAddresses): void {
    const unix = addresses.remoteAddress === '' && addresses.localAddress === '';
    // '' is no peer known: a Unix socket, or an adopted connection that had
    // closed both ways before anyone asked (net's remoteAddress is undefined then too).
    this.tcpConnection = !unix;
    this.remoteAddress = addresses.remoteAddress === '' ? undefined : addresses.remoteAddress;
    this.remotePort = addresses.remoteAddress === '' ? undefined : addresses.remotePort;
    this.localAddress = unix ? undefined : addresses.localAddress;
    this.localPort = unix ? undefined : addresses.localPort;
    this.remoteFamily = familyOf(this.remoteAddress);
    this.localFamily = familyOf(this.localAddress);
  }

  /**
   * Connects to a TCP port or a Unix socket, as `net.Socket#connect` does:
   * `connect(options[, listener])`, `connect(path[, listener])` or
   * `connect(port[, host][, listener])`. Writes made before the connection is
   * up are queued. Failures arrive as an 'error' event.
   */
  connect(options: ConnectOptions, connectListener?: () => void): this;
  connect(path: string, connectListener?: () => void): this;
  connect(port: number | string, host?: string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    let [options, listener] = normalizeConnectArgs(args);
    if (this.boundSource !== undefined && !this.destroyed) {
      // As net: an adopted BoundSocket fixes the local end and the family.
      if (options.localAddress !== undefined || options.localPort !== undefined) {
        throw invalidArgValue('options', options, 'localAddress and localPort cannot be used with an adopted bound socket');
      }
      options = { ...options, autoSelectFamily: false };
    }
    if (clientSocketFromSocketConnect && clientSocketChannel.hasSubscribers) clientSocketChannel.publish({ socket: this });
    // As net: a destroyed (closed) socket may be connected again, as new.
    if (this.destroyed) this.reinitialize();
    // As net's initSocketHandle, for a socket with no handle yet: its
    // streams start again, so an end() before the first connect does not
    // end the connection (on Node 22 and later that end() has finished).
    else if (!this.hadConnection && !this.connecting && this.boundSource === undefined &&
      this.onAttachAbandoned === undefined) {
      (this as unknown as { _undestroy(): void })._undestroy();
    }
    // A socket adopt() will attach counts as connected.
    if (this.onAttachAbandoned !== undefined) {
      throw Object.assign(new Error('Socket is already connected or connecting'), { code: 'ERR_SOCKET_CONNECTING' });
    }
    if (this.id !== 0 || this.connecting) {
      this.connectAgain(options, listener);
      return this;
    }
    this.beginConnect();
    this.hadConnection = true;
    if (listener !== undefined) this.once('connect', listener);
    if (options.noDelay) this.setNoDelay(true);
    if (options.keepAlive) this.setKeepAlive(true, options.keepAliveInitialDelay);
    this.connecting = true;
    this.connectingToPath = options.path !== undefined && options.path !== null;
    // As net, which takes the first onread buffer when connect() makes the handle.
    this.userBuffer?.start();
    let reactor: Reactor;
    try {
      reactor = getReactor();
    } catch (error) {
      // The reactor thread could not start: an error on the socket, as a failed connect.
      this.connecting = false;
      process.nextTick(() => this.destroy(error as Error));
      return this;
    }
    // Nothing here keeps the process alive while the lookup runs: as with net,
    // dns.lookup's own request does, and a custom lookup that never answers
    // does not (net's handle is not active before it connects).
    this.connectReactor = reactor;
    this.inConnectCall = true;
    try {
      this.startLookup(options);
    } finally {
      this.inConnectCall = false;
    }
    return this;
  }

  /** connect()'s lookup and the attempts it leads to (at once for a Unix path or a lookup that answers at once). */
  private startLookup(options: ConnectOptions): void {
    if (this.connectingToPath) {
      // As net: a Unix path is connected to at once, with no lookup.
      this.startAttempts([{ family: 0, address: options.path as string, port: 0 }], false, options);
      return;
    }
    let answered = false;
    resolveTargets(options, this, (error, targets, multiple) => {
      if (this.destroyed) return;
      if (answered) {
        // A custom lookup that calls back again: as net's emitLookup, nothing
        // once connected; while connecting, libuv's second connect fails the
        // socket with EALREADY.
        if (!this.connecting) return;
        this.connecting = false;
        this.destroy(error ?? systemError(-os.constants.errno.EALREADY, 'connect', targets?.[0].address, targets?.[0].port));
        return;
      }
      answered = true;
      if (error) {
        this.connecting = false;
        this.destroy(error);
        return;
      }
      this.startAttempts(targets as ConnectTarget[], multiple === true, options);
    }, () => this.connecting);
  }

  /**
   * connect() on a socket that is connected or connecting, as net's goes:
   * no throw; `connecting` again, and the same lookup, until the kernel
   * answers libuv's second connect(2). That answer is EALREADY while the
   * first is in flight. A TCP socket that connected itself stays "connecting"
   * to Linux until a connect(2) after the handshake, whose answer is 0: so
   * the first such call gives 'connect' and 'ready' again, and each later
   * one (and one on an accepted or Unix socket) fails with EISCONN.
   */
  private connectAgain(options: ConnectOptions, listener: (() => void) | undefined): void {
    if (listener !== undefined) this.once('connect', listener);
    this.connecting = true;
    const answer = (target: { address: string; port: number } | undefined): void => {
      if (this.destroyed) return;
      if (this.attempts !== undefined) {
        this.connecting = false;
        this.destroy(systemError(-os.constants.errno.EALREADY, 'connect', target?.address, target?.port));
        return;
      }
      this.connecting = false;
      if (this.kernelStillConnecting) {
        this.kernelStillConnecting = false;
        this.emit(kReady);
        this.connectEmitPending = true;
        emitConnectNT(this);
        return;
      }
      const error = systemError(-os.constants.errno.EISCONN, 'connect', target?.address, target?.port);
      if (this.localAddress !== undefined) error.message += ` - Local (${this.localAddress}:${this.localPort})`;
      this.destroy(error);
    };
    if (options.path !== undefined && options.path !== null) {
      process.nextTick(answer, { address: options.path, port: 0 });
      return;
    }
    resolveTargets(options, this, (error, targets) => {
      if (this.destroyed) return;
      if (error) {
        this.connecting = false;
        this.destroy(error);
        return;
      }
      answer(targets![0]);
    });
  }

  // A TCP connection this socket's own connect() made, which Linux has not
  // yet moved to connected: connectAgain's first call answers 'connect'.
  private kernelStillConnecting = false;

  private startAttempts(targets: ConnectTarget[], multiple: boolean, options: ConnectOptions): void {
    this.attempts = new ConnectAttempts(this, targets, multiple, options);
    this.attempts.start();
  }

  /** Forgets a closed connection so that the socket can connect again, as net.Socket#connect does. */
  private reinitialize(): void {
    this.id = 0;
    this.hadConnection = false;
    this.reactor = undefined;
    this.bytesRead = 0;
    this.bytesQueued = 0;
    this.bytesSent = 0;
    this.unackedBytes = 0;
    this.bytesFromReactor = 0;
    this.readingStopped = false;
    this.readAskedWhileConnecting = false;
    this.readEnded = false;
    this.endHold = undefined;
    this.endWaitsForConnect = false;
    this.writeShutDown = false;
    this.handedOverEnds = [];
    this.handedOverFirst = 0;
    this.writableBufferedAtCork = 0;
    this.resetOnDestroy = false;
    this.dataAwaitingConnect = [];
    this.boundPath = undefined;  // a BoundSocket serves one connection
    this.remoteAddress = this.remotePort = this.remoteFamily = undefined;
    this.localAddress = this.localPort = this.localFamily = undefined;
    this.tcpConnection = false;
    // onReadableEnd may have replaced write() for the old connection.
    if (Object.prototype.hasOwnProperty.call(this, 'write')) delete (this as { write?: unknown }).write;
    (this as unknown as { _undestroy(): void })._undestroy();
  }

  // The attempts of the connect in progress (connect.ts), and the reactor they use.
  private attempts: ConnectAttempts | undefined;
  private connectReactor: Reactor | undefined;
  private connectingToPath = false;
  // Known with the addresses: TCP, not a Unix socket. Not `remoteAddress !==
  // undefined`, which an adopted TCP connection that closed before anyone
  // asked for its peer lacks too.
  private tcpConnection = false;
  private onDestroyForServer: (() => void) | undefined;  // set by the accepting server (countedBy)
  // Since it was made or reinitialized: a connect() began, or a connection
  // was attached or promised (adopt). net's socket then has a handle, whose
  // close callback emits 'close' (see _destroy).
  private hadConnection = false;

  /** @internal For ConnectAttempts: a plain socket starts its connect at once, as net's. */
  get startWaitsForConnectTick(): boolean {
    return false;
  }

  /** @internal Whether a FIN waits for the writes its bytes' listeners made (holdEndForWrites): as net's. */
  get endWaitsForWriteTry(): boolean {
    return true;
  }

  /** @internal For ConnectAttempts: connect() is running. */
  inConnectCall = false;

  /** @internal For ConnectAttempts: starts a native connect and attaches to it. */
  startAttempt(target: ConnectTarget, localAddress: string, localPort: number): [number, string] | null {
    if (this.connectReactor!.failed !== undefined) {
      // Its thread failed while the lookup ran: connect on the reactor that
      // replaced it (a failed one is torn down once idle, and serves nothing).
      try {
        this.connectReactor = getReactor();
      } catch (error) {
        const { errno, syscall } = error as { errno?: unknown; syscall?: unknown };
        return [typeof errno === 'number' ? errno : -os.constants.errno.EAGAIN,
          typeof syscall === 'string' ? syscall : 'connect'];
      }
    }
    const reactor = this.connectReactor!;
    const address = target.family === 0 ? unixSocketAddress(target.address) : target.address;
    const tls = this.tlsConnectArguments(reactor);
    const bound = this.takeBoundFd();
    let result: [number] | [number, string];
    if (tls === undefined && bound === undefined) {
      result = reactor.native.connect(target.family, address, target.port, localAddress, localPort);
    } else {
      const [context, servername, session, traces, requestsOcsp, logsKeys, maxSendFragment, asksPsk] = tls ?? [];
      result = reactor.native.connect(target.family, address, target.port, localAddress, localPort, context, servername,
        session, traces, requestsOcsp, bound, logsKeys, maxSendFragment, asksPsk);
    }
    if (bound !== undefined && this.boundSource?.path === undefined) this.closeBoundSource();
    if (result.length === 2) return [result[0], result[1]];
    this.attach(reactor, result[0]);
    return null;
  }

  /**
   * @internal A TLS client's native context id, SNI name, session, whether
   * it traces, whether it asks for an OCSP staple, whether it logs its keys,
   * its record size (0: OpenSSL's) and whether it has a pskCallback, for
   * connect() (lib/tls.ts); undefined for a plain socket.
   */
  protected tlsConnectArguments(_reactor: Reactor): [contextId: number, servername: string,
    session: Buffer | undefined, traces: boolean, requestsOcsp: boolean, logsKeys: boolean,
    maxSendFragment: number, asksPsk: boolean] | undefined {
    return undefined;
  }

  /**
   * The adopted BoundSocket's fd for the one connect it serves (the reactor
   * connects a duplicate), or undefined. A TCP one's handle is closed as soon
   * as the reactor has its copy: while node's fd stayed open, closing ours
   * would not close the connection.
   */
  private takeBoundFd(): number | undefined {
    const source = this.boundSource;
    if (source === undefined || source.fd < 0) return undefined;
    const fd = source.fd;
    source.fd = -1;
    return fd;
  }

  /** Closes node's handle of an adopted BoundSocket (and, for a path, its socket file). */
  private closeBoundSource(): void {
    const source = this.boundSource;
    this.boundSource = undefined;
    source?.handle.close();
  }

  /** @internal For ConnectAttempts: closes the attempt in progress (a timed-out one). */
  abandonAttempt(): void {
    this.release(false);
  }

  /** @internal For ConnectAttempts: every attempt failed. */
  failConnect(error: Error): void {
    this.connecting = false;
    this.attempts = undefined;
    this.destroy(error);
  }

  /** @internal */
  onReactorConnect(addresses: ConnectionAddresses): void {
    this.connecting = false;
    this.attempts?.connected();
    this.attempts = undefined;
    this.setAddresses(addresses);
    this.kernelStillConnecting = this.tcpConnection;
    // As net: a client bound to a path reports it as its local address.
    if (this.boundPath !== undefined) this.localAddress = this.boundPath;
    // As net's afterConnect: what was set before, or while connecting, now.
    this.applyTcpOptions();
    if (this.typeOfService !== undefined && this.typeOfServiceReachesKernel()) {
      // As net's afterConnect: a value set before the connection applies
      // now; a failure is an 'error' event there, EBADF excepted.
      const result = this.askTypeOfService(this.typeOfService);
      if (result !== undefined && result < 0 && result !== -os.constants.errno.EBADF) {
        this.emit('error', systemError(result, 'setTypeOfService'));
      }
    }
    this.stopReadingIfPaused();
    this.updateReference();
    // As net's afterConnect (_unrefTimer): the connect is activity, so a
    // 'timeout' the reactor timed from a connect JS saw late waits out the
    // difference (onReactorTimeout).
    if (this.idleTimeout > 0) this.noteActivity();
    this.emit(kReady);
    this.connectEmitPending = true;
    process.nextTick(emitConnectNT, this);
  }

  /**
   * @internal 'connect' has been emitted. A FIN that came in the same batch
   * as the connect is processed now, on the next turn of the event loop: with
   * net, libuv reads the EOF in a later loop iteration than the connect, so
   * code that awaits 'connect' and then listens for 'end' sees it.
   */
  connectEmitted(): void {
    this.connectEmitPending = false;
    // net's afterConnect starts reading after 'connect' and 'ready', so a
    // pause() in their listeners keeps it from starting.
    if (this.registered && this.stopReadingIfPaused()) this.updateReference();
    this.readAskedWhileConnecting = false;
    this.releaseReads();
  }

  /**
   * As net's afterConnect: a socket paused before it connected (or in its
   * 'connect' listener) does not start reading, and so does not keep the
   * process alive, unless something read from it before (a 'readable'
   * listener, for await: readAskedWhileConnecting). Whether it stopped reading now.
   */
  private stopReadingIfPaused(): boolean {
    if (!this.isPaused() || this.readingStopped || this.forwarding || this.readAskedWhileConnecting) return false;
    this.readingStopped = true;
    this.reactor!.native.pause(this.id);
    this.reactor!.scheduleFlush();
    // A _read() made before the connection was up is still outstanding (it
    // pushed nothing); with reading now stopped nothing will push, so the
    // stream must call _read() again on its next read(), which resumes it.
    (this as unknown as { _readableState: { reading: boolean } })._readableState.reading = false;
    return true;
  }

  /** @internal Delivers what {@link readsOnHold} kept, once it is false. */
  protected releaseReads(): void {
    if (this.readsOnHold()) return;
    const early = this.dataAwaitingConnect;
    this.dataAwaitingConnect = [];
    for (const chunk of early) {
      if (this.destroyed || !this.registered) break;
      this.receiveData(chunk);
    }
    if (this.endWaitsForConnect) {
      this.endWaitsForConnect = false;
      setImmediate(endAfterHold, this, this.id);
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
    // In the order of net's setStreamTimeout and getTimerDuration.
    if (this.destroyed) return this;
    this.timeout = milliseconds;
    const duration = timerDuration(milliseconds);
    if (callback !== undefined) validateFunction(callback, 'callback');
    this.idleTimeout = duration;
    this.cancelDeferredTimeout();
    if (this.registered) {
      this.reactor!.native.setTimeout(this.id, duration);
      this.timeoutsSet++;
      this.reactor!.scheduleFlush();
    } else {
      this.startUnattachedTimer(duration);
    }
    if (callback !== undefined) {
      if (duration === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }

  /**
   * Before the socket has a reactor connection (never connected, or looking
   * up its host), its idle timer is a JS timer, unref'd as net's are: net
   * times a socket without a handle too.
   */
  private startUnattachedTimer(duration: number): void {
    if (this.unattachedTimer !== undefined) clearTimeout(this.unattachedTimer);
    this.unattachedTimer = undefined;
    if (duration === 0) return;
    this.unattachedTimer = setTimeout(onUnattachedTimeout, duration, this);
    this.unattachedTimer.unref();
  }

  /** @internal */
  clearUnattachedTimer(): void {
    if (this.unattachedTimer !== undefined) clearTimeout(this.unattachedTimer);
    this.unattachedTimer = undefined;
  }

  /**
   * Gives the reactor the TCP options set so far (net's kSetNoDelay and
   * kSetKeepAlive), for a TCP connection: a Unix socket has none, as net's
   * Pipe handle has no such methods.
   */
  private applyTcpOptions(): void {
    if (!this.registered || !this.tcpConnection) return;
    if (this.noDelay) this.reactor!.native.setNoDelay(this.id, true);
    if (this.keepAlive?.[0]) this.reactor!.native.setKeepAlive(this.id, ...this.keepAlive);
  }

  /** Enables or disables Nagle's algorithm (TCP_NODELAY); `true` if omitted. Returns the socket. */
  setNoDelay(noDelay?: boolean): this {
    const enable = noDelay === undefined ? true : Boolean(noDelay);
    if (enable === this.noDelay) return this;
    this.noDelay = enable;
    if (this.registered && !this.connecting && this.tcpConnection) {
      this.reactor!.native.setNoDelay(this.id, enable);
      this.reactor!.scheduleFlush();
    }
    return this;
  }

  /**
   * Enables TCP keep-alive, with the idle time before the first probe (ms),
   * as net does: probes then go every `interval` ms (1 s unless given) and
   * the connection is dropped after `count` unanswered (10 unless given).
   * `interval` and `count`, and the `{ enable, initialDelay, interval, count }`
   * form, are Node 24.22's and 26's; before, net takes the first two.
   * Returns the socket.
   */
  setKeepAlive(enable?: boolean | KeepAliveOptions, initialDelay?: number, interval?: number, count?: number): this {
    if (!keepAliveIntervalAndCount) {
      interval = count = undefined;
    } else if (enable !== null && typeof enable === 'object') {
      ({ enable, initialDelay, interval, count } = enable);
    }
    this.keepAlive = [Boolean(enable), ~~((initialDelay as number) / 1000),
      // As node's TCP handle: an interval not given is 1 s, a count that is not a uint32 is 10.
      interval === undefined ? 1 : ~~(interval / 1000),
      Number.isInteger(count) && (count as number) >= 0 && (count as number) <= 0xffffffff
        ? Math.min(count as number, 2 ** 31 - 1) : 10];
    if (this.registered && !this.connecting && this.tcpConnection) {
      this.reactor!.native.setKeepAlive(this.id, ...this.keepAlive);
      this.reactor!.scheduleFlush();
    }
    return this;
  }

  /**
   * Sets the IP type of service (the DSCP and ECN bits, 0-255) of this
   * connection's packets, as net's does on Node 24.22 and later: `IP_TOS`,
   * or `IPV6_TCLASS` on an IPv6 socket. Until the socket connects the value
   * is kept and applied when it does. As with net, a Unix or TLS socket
   * keeps the value without applying it (their handles have no such
   * option). Returns the socket.
   */
  setTypeOfService(tos: number): this {
    if (Number.isNaN(tos)) throw invalidArgType('tos', 'of type number', tos);
    validateInteger(tos, 'tos', 0, 255);
    if (!this.typeOfServiceReachesKernel()) {
      this.typeOfService = tos;
      return this;
    }
    if (tos !== this.typeOfService) {
      this.typeOfService = tos;
      const result = this.askTypeOfService(tos);
      if (result !== undefined && result < 0) throw systemError(result, 'setTypeOfService');
    }
    return this;
  }

  /**
   * The connection's IP type of service as the kernel has it; before the
   * socket connects (and on Unix and TLS sockets, as net), the value last
   * set, or 0.
   */
  getTypeOfService(): number {
    const kept = this.typeOfService ?? 0;
    if (!this.typeOfServiceReachesKernel()) return kept;
    const result = this.askTypeOfService(-1);
    if (result === undefined) return kept;
    if (result < 0) throw systemError(result, 'getTypeOfService');
    return result;
  }

  /**
   * @internal Whether set/getTypeOfService() reach the kernel: a connected
   * TCP socket (net's TCP handle). A TLS socket's handle in node has no such
   * option, so lib/tls.ts says false.
   */
  protected typeOfServiceReachesKernel(): boolean {
    return this.registered && !this.connecting && this.tcpConnection;
  }

  /** Sets (0-255) or reads (-1) the type of service on the reactor thread; undefined once it has no such connection. */
  private askTypeOfService(tos: number): number | undefined {
    const answer = this.reactor!.native.typeOfService(this.id, tos);
    if (answer === null) throw codedError('The reactor thread did not answer within 5 s', 'ERR_EPOLL_REACTOR_BUSY');
    return answer;
  }

  /** Lets the process exit even while this socket is open. Returns the socket. */
  unref(): this {
    this.referenced = false;
    this.updateReference();
    return this;
  }

  /** Undoes {@link Socket.unref}. Returns the socket. */
  ref(): this {
    this.referenced = true;
    this.updateReference();
    return this;
  }

  /**
   * Closes the connection with a TCP RST (SO_LINGER 0) instead of a FIN, and
   * destroys the socket. A second call does nothing.
   */
  resetAndDestroy(): this {
    if (this.destroyed) return this;
    // As net: a socket with no connection at all is destroyed with ERR_SOCKET_CLOSED.
    if (this.id === 0 && !this.connecting && this.onAttachAbandoned === undefined) return this.destroy(socketClosed());
    if (this.registered && !this.tcpConnection && !this.connecting) throw invalidHandleType();
    if (this.onAttachAbandoned !== undefined && this.attachIsUnix) throw invalidHandleType();
    if (this.connecting) {
      // As net, a Unix socket is refused now: thrown later, from the 'connect'
      // listener, the error would be uncaught.
      if (this.connectingToPath) throw invalidHandleType();
      this.once('connect', () => this.resetAndDestroy());
      return this;
    }
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
    // Read on the prototype (no stream state): undefined, as net gives.
    if (!(this instanceof Socket) || (this as unknown as { _writableState?: object })._writableState === undefined) {
      return undefined as unknown as number;
    }
    let buffered = this.bytesAwaitingConnect;
    const { entries, from } = writableQueueOf(this);
    // Those handed over are in bytesQueued already.
    for (let i = from + this.writableHandedOver; i < entries.length; i++) {
      buffered += chunkLength(entries[i].chunk, entries[i].encoding);
    }
    return this.bytesQueued + buffered;
  }

  /** As net's legacy `_connecting`. */
  get _connecting(): boolean {
    return this.connecting;
  }

  /** @deprecated As in net: use `writableLength`. */
  get bufferSize(): number {
    // As net: undefined without a handle, before connect() and after close.
    return (this.registered || this.connecting ? this.writableLength : undefined) as number;
  }

  /** `'opening'`, `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as in net. */
  get readyState(): string {
    if (this.connecting) return 'opening';
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

  /**
   * @internal forward(), just before its command: every chunk written before
   * goes to the reactor now, in the same flush. Chunks held by cork() are
   * uncorked (a forward has no later moment for them: an uncork() during it
   * would put them among the forwarded bytes). And a write completing on a
   * nextTick (an empty one, or one whose bytes are sent) leaves the chunks
   * behind it in the Writable with none in flight at the reactor, so
   * handOverQueued() does not take them, and the Writable would pass them on
   * a tick later: after the command, where a forward to an address, started
   * at the connect without JS, may already have sent the upstream's bytes.
   */
  handOverWritesForForward(): void {
    if (!this.registered || this.connecting || this.forwarding || this.writesOnHold() || this.writeShutDown) return;
    while (this.writableCorked > 0) this.uncork();
    // The common case, nothing queued past what the reactor has: no reads of the queue.
    if (writableBufferedCount(this) <= this.writableHandedOver) return;
    this.queueWritableBuffer();
  }

  /** @internal Hands this socket's I/O to a native forward; returns its reactor. */
  startForwarding(settle = true): Reactor {
    this.readingStoppedBeforeForward = this.readingStopped;
    this.forwarding = true;
    this.readingStopped = false;
    if (settle) this.settleForwarded();
    this.updateReference();
    return this.reactor!;
  }

  /**
   * @internal Whatever unacknowledged bytes JS held are passed on by
   * takeBuffered(); the reactor settles them when it takes the socket over
   * (FlowControl::Settle), so they are not acknowledged from here.
   */
  settleForwarded(): void {
    this.unackedBytes = 0;
  }

  /**
   * @internal For adopt(): the socket taken over had been ended, and libuv
   * shuts its write side down before the hand-over. Ends this socket without
   * asking the reactor for a second shutdown.
   */
  endAdopted(): void {
    this.writeShutDown = true;
    this.end();
  }

  /**
   * @internal The bytes received but not yet read, removed from the onread
   * reader's queue and the readable buffer.
   */
  takeBuffered(): Buffer[] {
    const chunks: Buffer[] = this.userBuffer?.take() ?? [];
    // With an encoding, read() gives text; the bytes that made it are these.
    const received = this.receivedTextOf();
    if (received !== undefined) chunks.push(...this.readableBytes());
    let chunk: Buffer | string | null;
    // read() emits 'data' for each chunk it returns, but these bytes go to the
    // forward's other socket, and forward() promises no 'data' from its call on.
    const ownEmit = Object.prototype.hasOwnProperty.call(this, 'emit');
    const emit = this.emit;
    this.emit = function emitAllButData(this: Socket, event: string | symbol, ...args: unknown[]): boolean {
      return event === 'data' ? false : emit.call(this, event, ...args);
    } as typeof emit;
    try {
      while ((chunk = this.read()) !== null) {
        if (received === undefined) chunks.push(chunk as Buffer);
      }
    } finally {
      if (ownEmit) this.emit = emit;
      else delete (this as { emit?: unknown }).emit;
    }
    received?.clear();
    return chunks.filter((bytes) => bytes.length > 0);
  }

  /**
   * The bytes the readable buffer holds, in order, left in place. With an
   * encoding these are the bytes that arrived as its text (unshift()s aside),
   * then those the decoder holds back for a character not yet complete.
   */
  private readableBytes(): Buffer[] {
    const chunks = readableChunksOf(this);
    const received = this.receivedTextOf();
    if (received === undefined) return chunks as Buffer[];
    // Text from the stream is last; only unshift() puts a Buffer before it.
    let first = chunks.length;
    while (first > 0 && typeof chunks[first - 1] === 'string') first--;
    const encoding = received.decoder.encoding as BufferEncoding;
    const before = chunks.slice(0, first).map((chunk) => typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk);
    return [...before, received.bytesOf(chunks.slice(first).join(''))];
  }

  /** The record of the stream decoder's text, when the socket has an encoding. */
  private receivedTextOf(): ReceivedText | undefined {
    const decoder = (this as unknown as { _readableState: { decoder: StreamDecoder | null } })._readableState.decoder;
    if (decoder === null) return undefined;
    if (this.receivedText === undefined) this.receivedText = new ReceivedText(decoder);
    else if (this.receivedText.decoder !== decoder) this.receivedText.rebind(decoder);
    return this.receivedText;
  }

  /**
   * As the stream's; the bytes it decodes from chunks already buffered are
   * remembered, as those of chunks pushed later are (see pushText).
   */
  override setEncoding(encoding?: BufferEncoding): this {
    const hadDecoder = this.receivedTextOf() !== undefined;
    const buffered = hadDecoder ? [] : readableChunksOf(this) as Buffer[];
    super.setEncoding(encoding as BufferEncoding);
    if (buffered.length > 0) this.receivedTextOf()!.seed(buffered, readableChunksOf(this).join(''));
    return this;
  }

  /**
   * @internal For forward() to an address: the bytes of this connection the
   * reactor has handed JS, and a copy of those still unread (left in place).
   * -1 (JS is asked at the connect, as the reactor counts no such number)
   * when bytes wait for 'connect' or the copy would pass `limit`.
   */
  heldForForward(limit: number): { received: number; held: Buffer } {
    const none = { received: -1, held: Buffer.alloc(0) };
    if (this.dataAwaitingConnect.length > 0 || this.readableLength > limit) return none;
    // An onread socket's bytes wait in its reader, not in the Readable (which then holds only unshift()s).
    const held = Buffer.concat([...this.userBuffer?.waiting() ?? [], ...this.readableBytes()]);
    return held.length > limit ? none : { received: this.bytesFromReactor, held };
  }

  /** @internal Queues bytes with the reactor directly, past the Writable; returns their length. */
  writeToReactor(chunk: Buffer): number {
    const length = queueBytes(this.reactor!, this.id, chunk, false);
    this.bytesQueued += length;
    return length;
  }

  /**
   * @internal A forward to an address could not connect: the socket is the
   * user's again. The bytes JS held are still in the readable buffer, and the
   * reactor reads for JS exactly when it did before (Loop::FailForwardConnect).
   */
  cancelForwarding(): void {
    this.forwarding = false;
    this.readingStopped = this.readingStoppedBeforeForward;
    this.updateReference();
  }

  /** @internal The forward ended and the reactor closed the connection. */
  endForwarding(): void {
    this.forwarding = false;
    this.destroy();
  }

  /** @internal */
  onReactorData(data: Buffer): void {
    if (this.readsOnHold()) {
      // net starts reading only after 'connect' (afterConnect's read(0)), so
      // no byte is counted or pushed before its listeners have run.
      this.dataAwaitingConnect.push(data);
      return;
    }
    this.receiveData(data);
  }

  private receiveData(data: Buffer): void {
    const length = data.length;
    const reactor = this.reactor!;
    this.dataBatch = reactor.batches;
    if (this.idleTimeout > 0) this.noteActivity();
    if ((this as unknown as { _readableState: { ended: boolean } })._readableState.ended && !this.readEnded) {
      // A socket made with readable: false (net reads nothing of it): bytes
      // the reactor read before its pause arrived stay unacknowledged, so
      // flow control keeps the connection unread.
      this.unackedBytes += length;
      return;
    }
    if (this.userBuffer !== undefined) {
      this.bytesRead += length;
      this.bytesFromReactor += length;
      this.onUserBufferData(data);
      return;
    }
    if (this.readableFlowing === true && this.readableLength > 0) {
      // net pushes one chunk per libuv read callback and runs the tick queue
      // between callbacks, so a flowing socket emits each chunk's 'data'
      // before the next chunk is counted. One batch can hold several chunks
      // of a socket: emit those still buffered first, so that bytesRead rises
      // with each 'data', as with net.
      while (this.readableFlowing === true && this.read() !== null);
      if (this.destroyed) return;
    }
    this.bytesRead += length;
    // Counted as it enters the buffer (whose 'data' may call forward()), not
    // before: what the count covers, heldForForward's copy holds.
    this.bytesFromReactor += length;
    const received = this.receivedTextOf();
    if (received !== undefined ? this.pushText(data, received) : this.push(data)) {
      reactor.ack(this.id, length);
    } else {
      // The readable buffer is full: stop reading so the kernel pushes back on
      // the peer, and acknowledge these bytes only once they are consumed.
      this.unackedBytes += length;
      if (!this.readingStopped) {
        this.readingStopped = true;
        reactor.native.pause(this.id);
        this.updateReference();
      }
    }
    reactor.scheduleFlush();
  }

  /**
   * push() for a socket with an encoding: the chunk is decoded here, with the
   * stream's own decoder, so that forward() can give back the bytes behind
   * the text (see ReceivedText); the stream keeps text in its encoding as is.
   */
  private pushText(data: Buffer, received: ReceivedText): boolean {
    // The stream's name for the encoding, which can be an alias of the
    // decoder's ('utf-8' given to the constructor): any other name makes the
    // stream encode the text again and decode it a second time.
    const accepted = this.push(received.decode(data), this.readableEncoding!);
    received.trim(this.readableLength);
    return accepted;
  }

  /** The onread path of onReactorData: bytes to the callback, none to the Readable. */
  private onUserBufferData(data: Buffer): void {
    const reactor = this.reactor!;
    const delivered = this.userBuffer!.receive(this, data);
    if (delivered > 0 && this.registered) reactor.ack(this.id, delivered);
    this.unackedBytes += data.length - delivered;
    if (this.failedForNoBuffer()) return;
    if (this.userBuffer!.stopped) this.stopReading();
    reactor.scheduleFlush();
  }

  /** As libuv, whose read into an empty onread buffer fails: destroys with read ENOBUFS; true if it did. */
  private failedForNoBuffer(): boolean {
    if (!this.userBuffer!.starved || this.destroyed) return false;
    this.destroy(systemError(-os.constants.errno.ENOBUFS, 'read'));
    return true;
  }

  /** Tells the reactor to stop reading this connection (pause or onread's false). */
  private stopReading(): void {
    if (this.readingStopped || !this.registered || this.destroyed) return;
    this.readingStopped = true;
    this.reactor!.native.pause(this.id);
    this.reactor!.scheduleFlush();
    this.updateReference();
  }

  /**
   * As net's pause for an onread socket: stops reading (net's readStop), so
   * the callback is not called until resume(). Otherwise stream.Readable's.
   */
  override pause(): this {
    if (this.userBuffer !== undefined && !this.connecting) {
      this.userBuffer.stopped = true;
      this.stopReading();
    }
    return super.pause();
  }

  /** Undoes {@link Socket.pause}; an onread socket hands over its waiting bytes first, then reads again. */
  override resume(): this {
    if (this.userBuffer?.stopped === true) {
      this.userBuffer.stopped = false;
      process.nextTick(resumeUserBuffer, this);
    }
    return super.resume();
  }

  /** @internal Hands waiting onread bytes over; then the FIN that waited, or reading again. */
  drainUserBuffer(): void {
    const reader = this.userBuffer!;
    if (this.destroyed || reader.stopped) return;
    const delivered = reader.deliver(this);
    if (delivered > 0 && this.registered) {
      this.reactor!.ack(this.id, delivered);
      this.reactor!.scheduleFlush();
    }
    this.unackedBytes -= delivered;
    if (this.failedForNoBuffer()) return;
    if (reader.stopped || reader.pending) return;
    if (this.endAfterUserBuffer) {
      this.endAfterUserBuffer = false;
      this.onReactorEnd();
      return;
    }
    this._read();
  }

  /** @internal */
  onReactorEnd(): void {
    if (this.userBuffer?.pending === true) {
      // As net, which reads the EOF only after the bytes before it.
      this.endAfterUserBuffer = true;
      return;
    }
    if (this.readsOnHold()) {
      this.endWaitsForConnect = true;
      return;
    }
    // An adopted socket may have seen its EOF under libuv already.
    if ((this as unknown as { _readableState: { ended: boolean } })._readableState.ended) return;
    if (this.holdEndForWrites()) return;
    this.readEnded = true;
    this.updateReference();
    this.receivedTextOf()?.noteEnd();
    this.push(null);
    // As net's onStreamRead: a socket nobody reads still emits 'end' once its
    // buffer is empty, so servers that only write do not leak connections.
    this.read(0);
  }

  /** @internal */
  onReactorError(errno: number, syscall: string): void {
    if (syscall === 'connect' && this.attempts !== undefined) {
      // The failed attempt's native connection still holds its fd: close it,
      // whether a next address is tried or the socket is destroyed.
      this.release(false);
      this.attempts.failed(errno, syscall);
      return;
    }
    this.destroy(systemError(errno, syscall));
  }

  /**
   * @internal The kernel has taken `totalBytes` in all. A write's callback
   * runs only then, as net's: bytes a callback reported written are the
   * kernel's, and survive destroy(). Counts of partial progress ride on the
   * next batch that wakes JS (src-native: Connection::notifyAt).
   */
  onReactorWritten(totalBytes: number, attempted = false): void {
    this.bytesSent = totalBytes;
    const pending = this.pendingWrite;
    if (pending !== null && totalBytes >= pending.target) {
      this.pendingWrite = null;
      this.updateReference();
      pending.callback(null);
    }
    if (attempted && this.endHold?.waiting === true) {
      this.endHold.waiting = false;
      setImmediate(endAfterHold, this, this.id);
    }
  }

  /**
   * net's libuv reads a FIN a turn after the bytes before it, and by then
   * net's try-write has sent what their 'data' listeners wrote and the
   * callbacks have run: node:http answers pipelined requests that way
   * before 'end', at which it drops those still waiting. The reactor can
   * read bytes and FIN in one turn, so 'end' waits for it to have tried the
   * writes made and not yet done (onReactorWritten's `attempted`), then a
   * turn more; again for writes made or handed over meanwhile (a response
   * behind the first; a corked one uncork() handed over after the
   * question), but only while the kernel took all the last try had and
   * within END_HOLD_BYTES: a full kernel, a cork never undone, or a writer
   * that ignores backpressure does not hold 'end' for long.
   */
  private holdEndForWrites(): boolean {
    if (!this.endWaitsForWriteTry) return false;
    // net's libuv stops reading at a short read and finds the FIN in the
    // next poll, so responses made in a microtask, a setImmediate or a timer
    // after the bytes go out before 'end' (node:http ends the socket at
    // 'end'). A FIN read with the bytes waits for a reactor round trip too.
    const withBytes = this.dataBatch === this.reactor?.batches;
    // Nothing buffered either way (most FINs): nothing to wait for, and no hold made.
    if (!withBytes && this.writableLength === 0 && this.readableLength === 0) return false;
    const hold = this.endHold ??= {
      waitedForFlow: false, waiting: false, rounds: 0, writeCallsAtTry: 0, bytesQueuedAtTry: 0, bytesQueuedAtFin: this.bytesQueued,
    };
    if (!hold.waitedForFlow && this.readableLength > 0 && this.readableFlowing === true) {
      // The bytes before it wait for a tick of the Readable's (a 'data'
      // listener added in the 'connection' listener flows on the next
      // tick): their listeners write first.
      hold.waitedForFlow = true;
      process.nextTick(endAfterHold, this, this.id);
      return true;
    }
    if ((this.writableLength === 0 && !withBytes) || !this.registered || this.forwarding) return false;
    if (hold.rounds > 0) {
      // Again only for writes made or handed over since, while the kernel
      // took all the last try had (else net's write would wait too), and
      // within a budget.
      if (this.writeCalls === hold.writeCallsAtTry && this.bytesQueued === hold.bytesQueuedAtTry) return false;
      if (this.bytesSent < hold.bytesQueuedAtTry || this.bytesQueued - hold.bytesQueuedAtFin > END_HOLD_BYTES) return false;
    }
    hold.rounds++;
    hold.waiting = true;
    hold.writeCallsAtTry = this.writeCalls;
    hold.bytesQueuedAtTry = this.bytesQueued;
    this.reactor!.native.awaitWritten(this.id, 0, true);
    this.reactor!.scheduleFlush();
    return true;
  }

  /**
   * @internal
   * The reactor times idleness on its own thread, from when it read or
   * wrote; net times it on JS's, from JS's read and from write(). The two
   * part when JS is late:
   * - JS wrote or called setTimeout() before the batch saying the reactor
   *   timed out came, and the reactor had not taken that write or call when
   *   it timed out (JS was stalled past `timeout`, or the command waited
   *   for its flush): where
   *   JS's writes ended as the reactor knew them (`writtenAsOf`) is short of
   *   `bytesQueued`, or it had taken fewer of JS's setTimeout() calls. That
   *   write or call arms the reactor's timer again (or cancels it), so this
   *   'timeout' is dropped, as net's refreshes its timer before it can fire.
   * - The reactor read bytes long before the batch carrying them reached JS.
   *   A 'timeout' that would come sooner than `timeout` ms after JS last saw
   *   bytes (or wrote) waits out the difference, so it never comes earlier
   *   than net's; bytes or writes meanwhile cancel it (the reactor has
   *   re-armed).
   * And as net, a 'timeout' while a write is in flight and the kernel has
   * taken some of its bytes since the last look waits one period more.
   */
  onReactorTimeout(writtenAsOf: number, timeoutsSetAsOf: number): void {
    if (writtenAsOf < this.bytesQueued || timeoutsSetAsOf < this.timeoutsSet) return;
    if (this.pendingWrite !== null && this.bytesSent !== this.sentAtTimeoutCheck) {
      // As net's _onTimeout: a write in flight whose bytes the kernel has
      // been taking since it began (or since the last look) puts the
      // 'timeout' off by one more period, from now.
      this.sentAtTimeoutCheck = this.bytesSent;
      this.reactor!.native.setTimeout(this.id, this.idleTimeout);
      this.timeoutsSet++;
      this.reactor!.scheduleFlush();
      return;
    }
    const early = this.idleTimeout - (performance.now() - this.activitySeenAt);
    if (early >= 1 && this.deferredTimeout === undefined) {
      this.deferredTimeout = setTimeout(emitDeferredTimeout, early, this);
      this.deferredTimeout.unref();
      return;
    }
    if (this.deferredTimeout === undefined) this.emit('timeout');
  }

  private noteActivity(): void {
    this.activitySeenAt = performance.now();
    this.cancelDeferredTimeout();
  }

  /** @internal */
  cancelDeferredTimeout(): void {
    if (this.deferredTimeout !== undefined) clearTimeout(this.deferredTimeout);
    this.deferredTimeout = undefined;
  }

  /** @internal */
  onReactorShutdown(): void {
    const callback = this.pendingFinal;
    this.pendingFinal = null;
    this.updateReference();
    callback?.(null);
  }

  override _read(): void {
    if (this.id === 0 || this.connecting) this.readAskedWhileConnecting = true;
    if (!this.readingStopped || !this.registered || this.forwarding) return;
    // An onread socket reads again once its waiting bytes are handed over (drainUserBuffer).
    if (this.userBuffer !== undefined && (this.userBuffer.stopped || this.userBuffer.pending)) return;
    this.readingStopped = false;
    this.updateReference();
    const reactor = this.reactor!;
    if (this.unackedBytes > 0) {
      reactor.ack(this.id, this.unackedBytes);
      this.unackedBytes = 0;
    }
    reactor.native.resume(this.id);
    reactor.scheduleFlush();
  }

  // write(), end() and uncork() are Writable's, and then hand the reactor
  // the chunks the Writable queued behind the write in flight
  // (handOverQueued). In an 'exit' listener that runs after the package's
  // (Reactor.exiting), end()'s FIN goes with them, at once.

  /** Writes `chunk`, as net.Socket's write(): `callback` runs once the kernel has taken it. Returns false past the high-water mark. */
  override write(chunk: unknown, callback?: (error: Error | null | undefined) => void): boolean;
  /** Writes `chunk` in `encoding`, as net.Socket's write(). */
  override write(chunk: unknown, encoding: BufferEncoding, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    this.writeCalls++;
    const accepted = writableWrite.call(this, chunk, encoding, callback);
    this.afterWritableCall();
    return accepted;
  }

  /** Ends the writable side (a FIN once everything written is sent), as net.Socket's end(). */
  override end(callback?: () => void): this;
  /** Writes `chunk`, then ends the writable side. */
  override end(chunk: unknown, callback?: () => void): this;
  /** Writes `chunk` in `encoding`, then ends the writable side. */
  override end(chunk: unknown, encoding: BufferEncoding, callback?: () => void): this;
  override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
    this.writeCalls++;
    writableEnd.call(this, chunk, encoding, callback);
    this.afterWritableCall();
    return this;
  }

  /** Holds writes until the matching uncork(), as net.Socket's cork(). */
  override cork(): void {
    if (this.writableCorked === 0) this.writableBufferedAtCork = writableBufferedCount(this);
    super.cork();
  }

  /** Sends the writes held since the matching cork(), as net.Socket's uncork(). */
  override uncork(): void {
    super.uncork();
    // Uncorked chunks behind a write in flight stay in the Writable: handed over.
    this.afterWritableCall();
  }

  private afterWritableCall(): void {
    if (this.reactor?.exiting === true) {
      this.onProcessExit();
      // Sent at once: the reactor is exiting.
      this.reactor.scheduleFlush();
    } else {
      this.handOverQueued();
    }
  }

  /**
   * net's try-write sends each write at once when the one before it has
   * completed, which on a socket the kernel keeps up with is every time.
   * Here a write completes only once the reactor reports it, so the
   * Writable queues the next ones behind it; they are handed to the reactor
   * now, in the same flush, instead of a round trip through the reactor
   * later (two write()s per message cost a pipelined echo half its rate;
   * docs/benchmarks.md, session 48), and a Worker terminated before that
   * round trip would have lost them. Only behind a write the reactor has (pendingWrite),
   * so that they stay in order; not while corked (past the chunks from
   * before cork()), forwarding or shut down. Their callbacks still run in
   * order, once the Writable passes them on and the kernel has them.
   */
  private handOverQueued(): void {
    if (this.pendingWrite === null || this.forwarding || this.writeShutDown || !this.registered) return;
    // The common case, nothing queued past what the reactor has: no reads of the queue.
    if (writableBufferedCount(this) <= this.writableHandedOver) return;
    this.queueWritableBuffer();
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.neverConnected()) {
      callback(socketClosed());
      return;
    }
    if (this.writesOnHold()) {
      this.awaitConnect(chunkLength(chunk, encoding), () => this._write(chunk, encoding, callback), callback);
      return;
    }
    if (this.writeShutDown) {
      callback(writeAfterShutdown());
      return;
    }
    if (this.writableHandedOver > 0) {
      // This chunk: the reactor has it.
      this.awaitKernel(callback, this.takeHandedOver(1));
      return;
    }
    const refused = this.writeFailure();
    if (refused !== undefined) {
      callback(refused);
      return;
    }
    this.queueChunk(chunk, encoding);
    this.awaitKernel(callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.neverConnected()) {
      callback(socketClosed());
      return;
    }
    if (this.writesOnHold()) {
      let length = 0;
      for (const entry of chunks) length += chunkLength(entry.chunk, entry.encoding);
      this.awaitConnect(length, () => this._writev(chunks, callback), callback);
      return;
    }
    if (this.writeShutDown) {
      callback(writeAfterShutdown());
      return;
    }
    // The first of them the reactor may have already.
    const handedOver = Math.min(this.writableHandedOver, chunks.length);
    const handedOverEnd = handedOver > 0 ? this.takeHandedOver(handedOver) : 0;
    const refused = handedOver < chunks.length ? this.writeFailure() : undefined;
    if (refused !== undefined) {
      callback(refused);
      return;
    }
    const queued = this.bytesQueued;
    for (let i = handedOver; i < chunks.length; i++) this.queueChunk(chunks[i].chunk, chunks[i].encoding);
    // The rest, if any bytes, were written as usual: the reactor wakes JS at
    // their end. If none (empty chunks), the reactor must be told.
    if (handedOver > 0 && this.bytesQueued === queued) this.awaitKernel(callback, handedOverEnd);
    else this.awaitKernel(callback);
  }

  /** The leading entries of the Writable's buffer the reactor already has. */
  private get writableHandedOver(): number {
    return this.handedOverEnds.length - this.handedOverFirst;
  }

  /** The next `count` chunks handed over, as the Writable passes them on: where the last of them ends. */
  private takeHandedOver(count: number): number {
    this.handedOverFirst += count;
    const end = this.handedOverEnds[this.handedOverFirst - 1];
    if (this.writableHandedOver === 0) {
      this.handedOverEnds.length = 0;
      this.handedOverFirst = 0;
    }
    return end;
  }

  override _final(callback: (error?: Error | null) => void): void {
    // As net on the running Node (lib/net-version.ts).
    if (endNeverConnectedAtOnce && this.neverConnected()) {
      callback(null);
      return;
    }
    if (this.writesOnHold()) {
      this.whenReady(() => this._final(callback), callback);
      return;
    }
    if (!this.registered || this.writeShutDown) {
      callback(null);
      return;
    }
    this.pendingFinal = callback;
    this.writeShutDown = true;
    this.updateReference();
    this.reactor!.native.shutdown(this.id);
    this.reactor!.scheduleFlush();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const countedOut = this.onDestroyForServer;
    this.onDestroyForServer = undefined;
    countedOut?.();
    this.clearUnattachedTimer();
    this.cancelDeferredTimeout();
    // adopt()'s hand-over will not come: a connect() after this destroy()
    // starts a life of this socket that the adopted connection has no part in.
    const abandoned = this.onAttachAbandoned;
    this.onAttachAbandoned = undefined;
    abandoned?.(this.resetOnDestroy);
    // Writes held for a TLS client's verdict are never handed over: the
    // server they were meant for was not accepted.
    const writesHeld = this.writesOnHold();
    const wasConnecting = this.connecting;
    this.connecting = false;
    this.attempts?.cancel();
    this.attempts = undefined;
    if (this.registered && !wasConnecting && !this.forwarding && !writesHeld) {
      // net's libuv tries each write at once, so by destroy() or
      // resetAndDestroy() it has sent what the kernel would take. Writes
      // waiting in the Writable behind the one in flight go to the reactor
      // first, which sends what the kernel takes before it closes or resets
      // (issue 12 item 8).
      this.queueWritableBuffer();
    }
    this.release(this.resetOnDestroy);
    // Bytes not yet taken by the kernel are discarded with the socket; their
    // write callback learns so before 'close', with the error net gives on
    // the running Node (lib/net-version.ts).
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    this.pendingFinal = null;
    if (pending !== null) {
      pending.callback(error ?? (destroyCancelsWriteInProgress ? systemError(-os.constants.errno.ECANCELED, 'write')
        : streamDestroyed('write')));
    }
    this.emit(kReady, true);
    callback(error);
    if (this.hadConnection) {
      // net emits 'close' from libuv's close callback, after the current
      // nextTick queue (errors, write callbacks); setImmediate keeps that order.
      setImmediate(emitCloseNT, this, error != null);
    } else {
      // As net's _destroy of a socket with no handle: on the next tick, with no argument.
      process.nextTick(emitCloseWithoutConnectionNT, this);
    }
  }

  /**
   * @internal process.exit(), before the reactor is flushed and stopped:
   * net's libuv tries each write at once, so by then it has sent what the
   * kernel takes, end()'s FIN included. The chunks waiting in the Writable
   * behind the write in flight, and the shutdown end() asked for behind
   * them, go to the reactor now (and again after each write(), end() or
   * uncork() in a later 'exit' listener). Corked chunks stay, as in net.
   */
  onProcessExit(): void {
    if (!this.registered || this.connecting || this.forwarding || this.writesOnHold() || this.writeShutDown) return;
    this.queueWritableBuffer();
    if (this.writableEnded && this.writableCorked === 0) {
      this.writeShutDown = true;
      this.reactor!.native.shutdown(this.id);
    }
  }

  /**
   * Hands the chunks waiting in the Writable's buffer to the reactor, those
   * not handed over before and, while corked, only those written before
   * cork() (net's try-write had sent them; it never sends the corked ones).
   * While corked the buffer does not shrink: the Writable clears it only
   * when uncorked.
   */
  private queueWritableBuffer(): void {
    // Written since the socket failed (writeFailure): _write refuses them.
    if (this.writeFailure() !== undefined) return;
    const { entries, from } = writableQueueOf(this);
    const waiting = entries.length - from;
    const end = this.writableCorked > 0 ? Math.min(this.writableBufferedAtCork, waiting) : waiting;
    for (let i = this.writableHandedOver; i < end; i++) {
      this.queueChunk(entries[from + i].chunk, entries[from + i].encoding, true);
      this.handedOverEnds.push(this.bytesQueued);
    }
  }

  /**
   * The one place a socket gives up its native connection: closes it (with
   * RST when `reset`), leaves the reactor's map and drops this socket's
   * reference. Leaving the map without the close would orphan the native
   * connection and its fd.
   */
  private release(reset: boolean): void {
    this.closeBoundSource();
    if (!this.registered) return;
    const reactor = this.reactor!;
    if (reset) reactor.native.reset(this.id);
    else reactor.native.close(this.id);
    this.registered = false;
    reactor.connections.delete(this.id);
    reactor.scheduleFlush();
    this.updateReference();
    releaseIfFailedAndIdle(reactor);
  }

  /**
   * Holds a reactor reference exactly while this socket is active in libuv's
   * sense: connecting, reading (not paused by backpressure, no FIN yet), or
   * with bytes or a FIN on their way to the kernel. node:net's handle keeps
   * the loop alive only then, so a socket nobody reads (or one whose peer has
   * ended) does not keep the process alive, there or here.
   */
  private updateReference(): void {
    // As libuv, where a connect, write or shutdown request keeps the loop
    // alive whether or not its handle is ref'd: unref() lets the process
    // exit while the socket only reads (or waits to), never with a connect,
    // a write or an end() still to finish. A connection whose writes are
    // held (a TLS client before its verdict) reads its handshake, as node:tls does.
    const active = this.registered && (this.connecting || this.pendingWrite !== null || this.pendingFinal !== null ||
      (this.referenced && (this.forwarding || this.writesOnHold() || (!this.readingStopped && !this.readEnded))));
    if (active === this.holdsReference) return;
    this.holdsReference = active;
    if (active) this.reactor!.ref();
    else this.reactor!.unref();
  }

  /**
   * @internal The socket will be attached to a connection without connect()
   * (adopt() hands one over once libuv's writes are out): writes until then
   * wait. `onAbandoned` runs once if the socket is destroyed first, told
   * whether by resetAndDestroy(), which throws for a Unix socket (`unix`), as
   * net's does. `addresses` (`''` and 0 where net knows none) stand until then.
   */
  expectAttach(unix: boolean, onAbandoned: (reset: boolean) => void, addresses: ConnectionAddresses): void {
    this.hadConnection = true;
    this.attachIsUnix = unix;
    this.onAttachAbandoned = onAbandoned;
    // The connection is there, net's until the hand-over: its addresses, as
    // net knew them (attach() sets what the kernel says then).
    this.setAddresses(addresses);
  }

  /** @internal Whether adopt()'s hand-over is still to come (see expectAttach). */
  awaitsAttach(): boolean {
    return this.onAttachAbandoned !== undefined;
  }

  /**
   * @internal Calls `attached` once adopt()'s hand-over has attached the
   * socket, as 'connect' tells of a connect(); a socket destroyed first emits
   * 'close' instead, and `attached` is never called.
   */
  onceAttached(attached: () => void): void {
    this.once(kReady, (destroyed?: boolean) => {
      if (destroyed !== true) attached();
    });
  }

  // A write waiting for the connection; its bytes count in bytesWritten, as net's _pendingData does.
  private awaitConnect(length: number, action: () => void, callback: (error?: Error | null) => void): void {
    this.bytesAwaitingConnect += length;
    // As net's _writeGeneric while connecting: a close before the connect
    // fails the write from a 'close' listener added now, so its callback
    // comes after 'error', in 'close' among the listeners, as net's.
    const onClose = (): void => {
      this.bytesAwaitingConnect -= length;
      callback(socketClosedBeforeConnection());
    };
    this.once('close', onClose);
    this.once(kReady, (destroyed?: boolean) => {
      if (destroyed === true) return;
      this.off('close', onClose);
      this.bytesAwaitingConnect -= length;
      action();
      // The writes made meanwhile queued behind this one (not from inside
      // the Writable's own drain of its queue: this is an event listener).
      this.handOverQueued();
    });
  }

  // As net's _writeGeneric: a socket that is neither connected nor connecting
  // has nowhere to write; the write fails with ERR_SOCKET_CLOSED.
  private neverConnected(): boolean {
    return this.id === 0 && !this.connecting && this.onAttachAbandoned === undefined;
  }

  // Runs `action` once connected; a destroy before that fails `callback` instead,
  // with net's ERR_SOCKET_CLOSED_BEFORE_CONNECTION.
  private whenReady(action: () => void, callback: (error?: Error | null) => void): void {
    this.once(kReady, (destroyed?: boolean) => {
      if (destroyed === true) callback(socketClosedBeforeConnection());
      else action();
    });
  }

  /** `behind`: behind the write JS waits for, so the reactor keeps that write's wake-up point (handOverQueued). */
  private queueChunk(chunk: Buffer | string, encoding: BufferEncoding, behind = false): void {
    if (typeof chunk === 'string' && encoding !== 'utf8' && encoding !== 'utf-8' && (encoding as string) !== 'buffer') {
      chunk = Buffer.from(chunk, encoding);
    }
    const reactor = this.reactor!;
    this.bytesQueued += typeof chunk === 'string' ? queueString(reactor, this.id, chunk, behind)
      : queueBytes(reactor, this.id, chunk, behind);
  }

  /**
   * The write's callback runs once the kernel has taken `target` bytes in
   * all: by default everything queued, whose last write command tells the
   * reactor to wake JS there; for chunks handed over before (`handedOver`,
   * where they end), the reactor is told so now.
   */
  private awaitKernel(callback: (error?: Error | null) => void, handedOver?: number): void {
    if (!this.registered) {
      callback(socketClosed());
      return;
    }
    this.reactor!.scheduleFlush();
    const target = handedOver ?? this.bytesQueued;
    if (this.bytesSent >= target) {
      // Nothing new went to the reactor (an empty write), or what was handed
      // over is sent: complete it anyway, asynchronously as every write
      // completes. An empty write is activity all the same, as in net's
      // _writeGeneric: the reactor sees no bytes, so it is told to start the
      // idle period again (a chunk handed over was activity when written).
      if (this.idleTimeout > 0 && handedOver === undefined) {
        this.reactor!.native.setTimeout(this.id, this.idleTimeout);
        this.timeoutsSet++;
        this.noteActivity();
      }
      process.nextTick(callback, null);
      return;
    }
    // As net's _writeGeneric, a write is activity (onReactorTimeout). Only
    // one that reaches the reactor: it re-arms the reactor's timer, which a
    // cancelled deferred 'timeout' needs.
    if (this.idleTimeout > 0) this.noteActivity();
    this.pendingWrite = { target, callback };
    this.sentAtTimeoutCheck = this.bytesSent;
    if (handedOver !== undefined) this.reactor!.native.awaitWritten(this.id, target);
    this.updateReference();
  }
}

/**
 * What net's createHandle checks of an fd before wrapping it, with its codes:
 * an int32 >= 0, and a socket. A pipe, FIFO, file or terminal net would wrap
 * with a libuv Pipe (or refuse); the reactor serves stream sockets only
 * (recv/send/shutdown), so those are refused with ERR_INVALID_FD_TYPE naming
 * the type net's guessHandleType gives.
 */
function checkTakeableFd(fd: unknown): asserts fd is number {
  validateInteger(fd, 'fd', 0, 2 ** 31 - 1);
  let stats: fs.Stats;
  try {
    stats = fs.fstatSync(fd);
  } catch {
    throw invalidFdType('UNKNOWN');
  }
  if (stats.isSocket()) return;
  // In the order of libuv's uv_guess_handle.
  if (tty.isatty(fd)) throw invalidFdType('TTY');
  if (stats.isFile() || stats.isCharacterDevice()) throw invalidFdType('FILE');
  if (stats.isFIFO()) throw invalidFdType('PIPE');
  throw invalidFdType('UNKNOWN');
}

/** net's check of a blockList option (Node 22+): a net.BlockList, else ERR_INVALID_ARG_TYPE. */
export function validateBlockList(value: unknown): BlockList {
  const isBlockList = (BlockList as unknown as { isBlockList?: (value: unknown) => boolean }).isBlockList;
  if (isBlockList !== undefined ? !isBlockList(value) : !(value instanceof BlockList)) {
    throw invalidArgType('options.blockList', 'an net.BlockList', value);
  }
  return value as BlockList;
}

function resumeUserBuffer(socket: Socket): void {
  socket.drainUserBuffer();
}

function chunkLength(chunk: Buffer | string, encoding: BufferEncoding): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : chunk.length;
}

function emitDeferredTimeout(socket: Socket): void {
  socket.cancelDeferredTimeout();
  socket.emit('timeout');
}

function onUnattachedTimeout(socket: Socket): void {
  socket.clearUnattachedTimer();
  socket.emit('timeout');
}

/** Node's largest timer duration (a signed 32-bit integer of milliseconds). */
const TIMEOUT_MAX = 2 ** 31 - 1;

/**
 * net's getTimerDuration, then its timers' rounding: a number that is finite
 * and not negative, else ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE; above
 * TIMEOUT_MAX, TIMEOUT_MAX with a TimeoutOverflowWarning; between 0 and 1, 1 ms
 * (Node's timers run anything shorter than 1 ms after 1 ms). 0 means none.
 */
function timerDuration(milliseconds: unknown): number {
  if (typeof milliseconds !== 'number') throw invalidArgType('msecs', 'of type number', milliseconds);
  if (!(milliseconds >= 0) || !Number.isFinite(milliseconds)) {
    throw outOfRange('msecs', 'a non-negative finite number', milliseconds);
  }
  if (milliseconds > TIMEOUT_MAX) {
    process.emitWarning(`${milliseconds} does not fit into a 32-bit signed integer.` +
      `\nTimer duration was truncated to ${TIMEOUT_MAX}.`, 'TimeoutOverflowWarning');
    return TIMEOUT_MAX;
  }
  if (milliseconds === 0) return 0;
  return Math.max(1, Math.floor(milliseconds));
}

// As net does: without allowHalfOpen, the peer's FIN ends our side too, and a
// later write fails with EPIPE. The end itself is Duplex's, as for net: it
// reads this.allowHalfOpen as it emits 'end' and ends the writable side on a
// tick queued after every 'end' listener ran, so writes from those listeners,
// and from ticks they queued, still go out.
function onReadableEnd(this: Socket): void {
  if (this.allowHalfOpen) return;
  this.write = writeAfterFIN;
}

function writeAfterFIN(this: Socket, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
  if (!this.writableEnded) {
    return (Socket.prototype.write as typeof writableWrite).call(this, chunk, encoding, callback);
  }
  if (typeof encoding === 'function') callback = encoding;
  const error = Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' });
  if (typeof callback === 'function') process.nextTick(callback, error);
  this.destroy(error);
  return false;
}

// Before Node 24.22 net.Socket has no type-of-service methods; nor has ours.
if (!typeOfServiceMethods) {
  Reflect.deleteProperty(Socket.prototype, 'setTypeOfService');
  Reflect.deleteProperty(Socket.prototype, 'getTypeOfService');
}
