// The JS half of a reactor: owns the native handle, stages commands for one
// flush per tick, keeps the process alive only while something referenced is
// open, and dispatches each batch of events to listeners and sockets.
import { markAsUntransferable } from 'node:worker_threads';

import { BatchDispatcher, binding, NativeReactor, NativeReactorOptions } from './binding';
import { systemError } from './errors';
import { hangupEndsShortRead } from './net-version';

/** Event kinds; the numbers match src-native/batch.h. */
export const enum EventKind {
  Connection = 1,
  Data = 2,
  End = 3,
  Error = 4,
  Written = 5,
  Shutdown = 6,
  ListenerError = 7,
  Timeout = 8,
  Connect = 9,
  ForwardDone = 10,
  ForwardReady = 11,
  Drop = 12,
  ReactorFailed = 13,
  TlsSecure = 14,
  TlsError = 15,
  ForwardTlsError = 16,
  TlsServername = 17,
  TlsSession = 18,
  TlsKeylog = 19,
  TlsAlpn = 20,
  TlsOcspResponse = 21,
  TlsResumeSession = 22,
  TlsNewSession = 23,
  TlsPsk = 24,
}

/** Names for the native Syscall codes (src-native/batch.h). */
export const syscallNames: Record<number, string> = {
  1: 'read', 2: 'write', 3: 'accept', 4: 'shutdown', 5: 'connect', 6: 'epoll_wait',
};

const RECORD_STRIDE = 5;

/** What a socket implements to receive its events. */
export interface ConnectionEndpoint {
  /** process.exit() comes: hand over what net would have sent by now. */
  onProcessExit?(): void;
  onReactorData(data: Buffer): void;
  onReactorEnd(): void;
  onReactorError(errno: number, syscall: string): void;
  /** `attempted`: the answer to awaitWritten's `reportAttempt`. */
  onReactorWritten(totalBytes: number, attempted: boolean): void;
  onReactorShutdown(): void;
  onReactorTimeout(writtenAsOf: number, timeoutsSetAsOf: number): void;
  onReactorConnect(addresses: { remoteAddress: string; remotePort: number; localAddress: string;
    localPort: number }): void;
  /** TLS connections only (lib/tls.ts): the handshake is done. */
  onReactorSecure?(flags: number, strings: string[], first: number, verifyResult: number): void;
  /**
   * TLS connections only: OpenSSL failed, or the peer left mid-handshake.
   * `when`: 1 during the handshake, 2 after it with the socket left open, 0
   * after it (src-native/batch.h kTlsError).
   */
  onReactorTlsError?(when: number, kind: number, strings: string[], first: number): void;
  /**
   * TLS server connections only: the handshake waits for a context for this
   * SNI name (`asked` bit 1) and an OCSP staple (bit 2) (tlsUseContext).
   */
  onReactorServername?(servername: string, asked: number): void;
  /**
   * TLS server connections only: the handshake waits for an ALPN name to be
   * chosen from `offered` (wire format, in hex); `servername` is the SNI name, or
   * false when none was sent (tlsChooseAlpn).
   */
  onReactorAlpn?(servername: string | false, offered: string): void;
  /** TLS client connections that asked for a staple: the server's OCSP response (hex), or none. */
  onReactorOcspResponse?(stapled: boolean, response: string): void;
  /** TLS server connections with an external session cache: the handshake waits for the session with this id (hex) (tlsResumeSession). */
  onReactorResumeSession?(id: string): void;
  /**
   * TLS connections with a pskCallback: a server's handshake waits for a key
   * for one of these identities (hex), a client's for its identity and key
   * given the server's hint (one, hex, or none), for its ClientKeyExchange
   * (TLS 1.2) or its ClientHello (tlsAnswerPsk).
   */
  onReactorPsk?(identities: string[], atKeyExchange: boolean): void;
  /** TLS server connections with an external session cache: a session the handshake made, its id (hex) and DER (base64). */
  onReactorNewSession?(id: string, der: string): void;
  /** TLS client connections only: a session (base64 DER), `issued` by the server or the handshake's own. */
  onReactorSession?(der: string, issued: boolean): void;
  /** TLS connections whose key log is wanted: a line of it (NSS key log format, no newline). */
  onReactorKeylog?(line: string): void;
}

/** What a forward in progress implements (lib/forward.ts). */
export interface ForwardEndpoint {
  /**
   * The reactor reads neither side for JS any more. For a forward to an
   * address, its upstream connected: `started` when the forward is running
   * already (JS held none of the client's bytes), and the upstream's id.
   */
  ready(started: boolean, upstreamId: number): void;
  /** OpenSSL failed on a TLS side; done() follows. */
  tlsError(message: string, library: string, reason: string): void;
  done(bytesFirstToSecond: number, bytesSecondToFirst: number, errno: number, syscall: string): void;
}

/** What a server implements to receive its listener's events. */
export interface ListenerEndpoint {
  onReactorConnection(id: number, remoteAddress: string, remotePort: number,
    localAddress: string, localPort: number): void;
  onReactorListenerError(errno: number, syscall: string): void;
  /** The reactor accepted and closed a connection past maxConnections. */
  onReactorDrop(remoteAddress: string, remotePort: number, localAddress: string, localPort: number): void;
}

/**
 * Writes shorter than this are copied into the write log; longer ones are
 * sent from the Buffer itself (native kPinnedWriteMin).
 */
export const SMALL_WRITE = 8 * 1024;

/**
 * A map of a reactor's open endpoints that tells the reactor when it
 * empties or fills, so that holding the reactor follows what is open
 * (Reactor.updateHold) wherever an endpoint comes or goes.
 */
class EndpointMap<T> extends Map<number, T> {
  constructor(private readonly reactor: Reactor) {
    super();
  }

  override set(id: number, endpoint: T): this {
    super.set(id, endpoint);
    if (this.size === 1) this.reactor.updateHold();
    return this;
  }

  override delete(id: number): boolean {
    const deleted = super.delete(id);
    if (deleted && this.size === 0) this.reactor.updateHold();
    return deleted;
  }

  override clear(): void {
    if (this.size === 0) return;
    super.clear();
    this.reactor.updateHold();
  }
}

/**
 * How long after a flush the reactor still finishes its work at
 * process.exit(): far longer than its thread takes to pick commands up,
 * even on a loaded host, and short enough that an idle reactor is soon
 * collectable.
 */
const EXIT_GRACE_MS = 250;

/**
 * Reactors with something to lose at process.exit() (Reactor.atExit), and
 * the one 'exit' listener that finishes them, there exactly while the set
 * is not empty: it reaches them, and an idle reactor must stay collectable.
 */
const reactorsAtExit = new Set<Reactor>();

function finishReactorsAtExit(): void {
  // Only on the way out: a process.emit('exit') of some library's own
  // must not stop every socket of a process that goes on.
  if (!(process as { _exiting?: boolean })._exiting) return;
  for (const reactor of reactorsAtExit) reactor.finishAtExit();
}

function setFinishedAtExit(reactor: Reactor, finished: boolean): void {
  const before = reactorsAtExit.size;
  if (finished) reactorsAtExit.add(reactor);
  else reactorsAtExit.delete(reactor);
  if (before === 0 && reactorsAtExit.size === 1) process.on('exit', finishReactorsAtExit);
  else if (before === 1 && reactorsAtExit.size === 0) process.off('exit', finishReactorsAtExit);
}

export class Reactor {
  readonly native: NativeReactor;
  readonly connections: Map<number, ConnectionEndpoint> = new EndpointMap<ConnectionEndpoint>(this);
  readonly listeners: Map<number, ListenerEndpoint> = new EndpointMap<ListenerEndpoint>(this);
  /** Forwards in progress, by forward id. */
  readonly forwards: Map<number, ForwardEndpoint> = new EndpointMap<ForwardEndpoint>(this);
  /**
   * What the native side calls with each batch. It holds this function
   * strongly only while an endpoint is open (hold()), as libuv holds a
   * handle only while it is open; this reference keeps it alive otherwise,
   * so an idle reactor nothing reaches is collected and its thread stopped.
   */
  private readonly dispatch: BatchDispatcher = (records, recordCount, chunks, strings, inbox) =>
    dispatchBatch(this, records, recordCount, chunks, strings, inbox);
  private held = false;
  /**
   * process.exit() ends the process without the environment's cleanup, so
   * the native teardown, which does what JS handed over (Loop::Stop), never
   * runs: bytes written just before it were lost, where net's try-write has
   * sent them. While this reactor has something to lose (an endpoint open,
   * a flush pending, and EXIT_GRACE_MS past the last of those, as its
   * thread may not have taken what a flush handed over yet) it is in
   * reactorsAtExit, whose 'exit' listener calls finishAtExit.
   */
  private atExit = false;
  private exitGraceTimer: NodeJS.Timeout | undefined;
  private flushes = 0;
  /**
   * finishAtExit has run: there is no reactor thread any more, and every
   * flush runs its commands at once on this thread, so 'exit' listeners
   * after the package's still send what they write, as net's do.
   */
  exiting = false;

  /** The process is exiting: hands over what net would have sent by now, and sends it. */
  finishAtExit(): void {
    if (this.exiting) return;
    // Nothing may throw out of here: process.exit() would return, with the
    // reactor left running.
    try {
      for (const connection of this.connections.values()) connection.onProcessExit?.();
      this.flush();
    } catch {
      // What could not be handed over is lost, as with no listener.
    }
    this.exiting = true;
    this.native.runOnCallerFromNow();
    // Never runs when the process ends. But a later 'exit' listener may
    // throw and an 'uncaughtException' handler keep the process going:
    // then this reactor, which runs no turns any more, is torn down, or its
    // handle would keep the process alive with nothing ever delivered.
    setImmediate(destroyAbandoned, this);
  }

  private references = 0;
  private flushScheduled = false;
  // (id, bytes) pairs consumed by JS this tick; they ride on the next flush.
  private acks = new Float64Array(512);
  private ackLength = 0;

  constructor(options?: NativeReactorOptions) {
    if (!binding.Reactor) throw new Error('epoll-reactor: the native reactor is not available on this platform');
    try {
      this.native = new binding.Reactor(this.dispatch, options);
    } catch (error) {
      // Starting the thread failed (epoll_create1, eventfd, pthread_create):
      // native left nothing open and says errno and syscall.
      const { errno, syscall } = error as { errno?: unknown; syscall?: unknown };
      if (typeof errno === 'number' && typeof syscall === 'string') throw systemError(errno, syscall);
      throw error;
    }
    const writeLog = this.native.writeLog();
    if (writeLog !== undefined) {
      const [index, bytes] = writeLog;
      // Not to be moved to another thread: the native side would drop the
      // log, and the writes in it, the next time it looked.
      markAsUntransferable(bytes.buffer);
      this.writeLogIndex = index;
      this.writeLogBytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      this.writeLogRecords = (index.length - 2) / 2;
    }
  }

  // The write log (native: Delivery::writeLog). Small writes are appended
  // here instead of each being a native call; every native call that stages
  // or flushes stages them first, so they keep their place among a socket's
  // commands. A Buffer handed to native code would also be moved off V8's
  // heap first, if small enough to live there.
  private readonly writeLogIndex: Float64Array | undefined;
  private readonly writeLogBytes: Buffer | undefined;
  private readonly writeLogRecords: number = 0;

  /**
   * Logs a write of `chunk` (shorter than SMALL_WRITE) to connection `id`;
   * false with no log. `behind`: behind the write JS waits for (native
   * write()'s `behind`), which the record says with a negative id.
   */
  logBytes(id: number, chunk: Uint8Array, behind = false): boolean {
    const bytes = this.writeLogBytes;
    // (Empty only if some JS detached it; the native side has dropped it then.)
    if (bytes === undefined || bytes.length === 0) return false;
    if (chunk.length === 0) return true;
    const at = this.logSpace(chunk.length);
    bytes.set(chunk, at);
    this.logRecord(behind ? -id : id, chunk.length, at);
    return true;
  }

  /** Logs a write of a short string's UTF-8; returns its length, or -1 if not logged (no log, or too long). */
  logString(id: number, string: string, behind = false): number {
    const bytes = this.writeLogBytes;
    // At most 3 UTF-8 bytes per UTF-16 unit.
    if (bytes === undefined || bytes.length === 0 || string.length * 3 >= SMALL_WRITE) return -1;
    if (string.length === 0) return 0;
    const at = this.logSpace(string.length * 3);
    const length = bytes.write(string, at);
    this.logRecord(behind ? -id : id, length, at);
    return length;
  }

  /** Where `most` more bytes fit in the log, draining it first when they (or another record) do not. */
  private logSpace(most: number): number {
    const index = this.writeLogIndex!;
    if (index[0] === this.writeLogRecords || index[1] + most > this.writeLogBytes!.length) {
      this.native.drainWriteLog();
      // A torn-down reactor drops them, as staged commands.
      index[0] = 0;
      index[1] = 0;
    }
    return index[1];
  }

  private logRecord(id: number, length: number, at: number): void {
    const index = this.writeLogIndex!;
    const count = index[0];
    index[2 + 2 * count] = id;
    index[3 + 2 * count] = length;
    index[0] = count + 1;
    index[1] = at + length;
  }

  /** Batches dispatched so far: which batch a socket's last bytes came in (Socket.holdEndForWrites). */
  batches = 0;
  /** The records array and inbox of the last batch: marked untransferable once each. */
  lastRecords: Float64Array | undefined;
  lastInbox: Uint8Array | undefined;

  /** releaseIfFailedAndIdle has an immediate waiting. */
  destroyScheduled = false;

  /** Set when the reactor thread ended on an error; getReactor() then starts a new one. */
  failed: Error | undefined;

  /** Sends the commands staged in this tick to the reactor thread, once, after the tick. */
  scheduleFlush(): void {
    // No tick comes after an 'exit' listener: now.
    if (this.exiting) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(flushReactor, this);
    if (!this.atExit) this.updateExitListener();
  }

  private endpointsOpen(): boolean {
    return this.connections.size + this.listeners.size + this.forwards.size > 0;
  }

  private updateExitListener(): void {
    if (this.flushScheduled || this.endpointsOpen()) {
      if (!this.atExit) setFinishedAtExit(this, true);
      this.atExit = true;
      return;
    }
    if (!this.atExit || this.exitGraceTimer !== undefined) return;
    const flushesBefore = this.flushes;
    this.exitGraceTimer = setTimeout(() => {
      this.exitGraceTimer = undefined;
      // A flush during the grace starts another.
      if (this.flushes !== flushesBefore) {
        this.updateExitListener();
      } else if (!this.flushScheduled && !this.endpointsOpen()) {
        setFinishedAtExit(this, false);
        this.atExit = false;
      }
    }, EXIT_GRACE_MS).unref();
  }

  /**
   * Has the native side hold this reactor exactly while an endpoint is
   * open. Let go, it can be collected only once nothing reaches it (never
   * while this module lives: environmentReactor holds it); what its last
   * flush handed over is done when it stops (Loop::RunLastCommands).
   */
  updateHold(): void {
    // During construction, the maps exist before `native` does.
    if (this.native === undefined) return;
    const open = this.endpointsOpen();
    // Not done (N-API refused): the next change of the maps asks again.
    if (open !== this.held && this.native.hold(open)) this.held = open;
    this.updateExitListener();
  }

  /** Counts one more open, referenced handle; the first keeps the process alive. */
  ref(): void {
    if (this.references++ === 0) this.native.ref();
  }

  /** Counts one fewer; at zero the reactor no longer keeps the process alive. */
  unref(): void {
    if (--this.references === 0) this.native.unref();
  }

  /** Tells the reactor, with the next flush, that JS has consumed `bytes` of connection `id`. */
  ack(id: number, bytes: number): void {
    if (this.ackLength === this.acks.length) {
      const grown = new Float64Array(this.acks.length * 2);
      grown.set(this.acks);
      this.acks = grown;
    }
    this.acks[this.ackLength] = id;
    this.acks[this.ackLength + 1] = bytes;
    this.ackLength += 2;
    this.scheduleFlush();
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.ackLength === 0) {
      this.native.flush();
    } else {
      const acks = this.acks.subarray(0, this.ackLength);
      this.ackLength = 0;
      this.native.flush(acks);
    }
    ++this.flushes;
    if (this.atExit && !this.endpointsOpen()) this.updateExitListener();
  }
}

/**
 * A reactor whose thread failed still answers its endpoints' calls with
 * errors; once JS holds none of them, its fds, wake handle and buffers go.
 * (Not left to GC: released sockets and servers keep their `reactor`, so a
 * failed reactor may stay reachable long after it has nothing open.)
 */
export function releaseIfFailedAndIdle(reactor: Reactor): void {
  if (!failedAndIdle(reactor) || reactor.destroyScheduled) return;
  reactor.destroyScheduled = true;
  // After the current tick: a release in progress may still stage commands.
  // Checked again then: nothing may have attached to it meanwhile.
  setImmediate(() => {
    reactor.destroyScheduled = false;
    if (failedAndIdle(reactor)) reactor.native.destroy();
  });
}

function failedAndIdle(reactor: Reactor): boolean {
  return reactor.failed !== undefined && reactor.connections.size === 0 && reactor.listeners.size === 0 &&
    reactor.forwards.size === 0;
}

function destroyAbandoned(reactor: Reactor): void {
  reactor.native.destroy();
}

function flushReactor(reactor: Reactor): void {
  reactor.flush();
}

/**
 * A data record's bytes, copied out of the inbox into a Buffer of their own.
 * allocUnsafeSlow: memory of its own, not a slice of Node's shared pool; up
 * to 64 bytes V8 keeps it on its heap, with no backing store to free.
 */
function fromInbox(inbox: Uint8Array, offset: number, length: number): Buffer {
  const chunk = Buffer.allocUnsafeSlow(length);
  chunk.set(new Uint8Array(inbox.buffer, inbox.byteOffset + offset, length));
  return chunk;
}

/** An array the native side reuses for every batch (it makes a new one if this one is moved away). */
function keepInPlace(array: Uint8Array | Float64Array): void {
  markAsUntransferable(array.buffer);
}

function rethrow(error: unknown): never {
  throw error;
}

/**
 * Dispatches one batch. A handler that throws must not cost the other sockets
 * in the batch their events, so the error is rethrown on a later tick, where it
 * reaches 'uncaughtException' as it would from a node:net callback.
 */
function dispatchBatch(reactor: Reactor, records: Float64Array, recordCount: number, chunks: Buffer[] | undefined,
  strings: string[], inbox: Uint8Array | undefined): void {
  const { connections, listeners } = reactor;
  reactor.batches++;
  if (records !== reactor.lastRecords) keepInPlace(reactor.lastRecords = records);
  if (inbox !== undefined && inbox !== reactor.lastInbox) keepInPlace(reactor.lastInbox = inbox);
  // `records` is reused for every batch: only its first recordCount entries are this batch's.
  for (let i = 0; i < recordCount; i += RECORD_STRIDE) {
    const kind = records[i];
    const id = records[i + 1];
    try {
      if (kind === EventKind.Data) {
        // Checked on every event: a handler earlier in this batch may have
        // destroyed the socket.
        const endpoint = connections.get(id);
        if (endpoint !== undefined) {
          // Each data record has a Buffer of its own, over this
          // connection's bytes only (DeliverToJs), so chunk.buffer shows no
          // other connection's data.
          const slot = records[i + 2];
          endpoint.onReactorData(slot >= 0 ? chunks![slot] : fromInbox(inbox!, records[i + 3], records[i + 4]));
        }
      } else if (kind === EventKind.Written) {
        connections.get(id)?.onReactorWritten(records[i + 2], records[i + 3] === 1);
      } else if (kind === EventKind.Connection) {
        const listener = listeners.get(records[i + 2]);
        if (listener === undefined) {
          // The server closed after this connection was accepted, before JS
          // saw it: reset, as closing net's listener resets the connections
          // still in its backlog (a FIN would look like a served, ended one).
          reactor.native.reset(id);
          reactor.scheduleFlush();
          continue;
        }
        const first = records[i + 3];
        const ports = records[i + 4];
        listener.onReactorConnection(id, strings[first], Math.floor(ports / 65536), strings[first + 1], ports % 65536);
      } else if (kind === EventKind.End) {
        connections.get(id)?.onReactorEnd();
      } else if (kind === EventKind.Error) {
        connections.get(id)?.onReactorError(-records[i + 2], syscallNames[records[i + 3]] ?? 'unknown');
      } else if (kind === EventKind.Shutdown) {
        connections.get(id)?.onReactorShutdown();
      } else if (kind === EventKind.Connect) {
        const first = records[i + 3];
        const ports = records[i + 4];
        connections.get(id)?.onReactorConnect({
          remoteAddress: strings[first], remotePort: Math.floor(ports / 65536),
          localAddress: strings[first + 1], localPort: ports % 65536,
        });
      } else if (kind === EventKind.ForwardDone) {
        const done = reactor.forwards.get(id);
        if (done !== undefined) {
          reactor.forwards.delete(id);
          releaseIfFailedAndIdle(reactor);
          const outcome = records[i + 4];
          done.done(records[i + 2], records[i + 3], Math.floor(outcome / 16), syscallNames[outcome % 16] ?? 'forward');
        }
      } else if (kind === EventKind.ForwardTlsError) {
        const first = records[i + 3];
        reactor.forwards.get(id)?.tlsError(strings[first], strings[first + 1], strings[first + 2]);
      } else if (kind === EventKind.ForwardReady) {
        reactor.forwards.get(id)?.ready(records[i + 2] === 1, records[i + 3]);
      } else if (kind === EventKind.ReactorFailed) {
        // Comes first; an error event for every listener and connection follows.
        reactor.failed = systemError(-records[i + 2], syscallNames[records[i + 3]] ?? 'unknown');
        if (environmentReactor === reactor) environmentReactor = undefined;
        // The errors that follow close most endpoints at once; the rest call
        // releaseIfFailedAndIdle as they go.
        setImmediate(releaseIfFailedAndIdle, reactor);
      } else if (kind === EventKind.Timeout) {
        connections.get(id)?.onReactorTimeout(records[i + 2], records[i + 3]);
      } else if (kind === EventKind.Drop) {
        const first = records[i + 3];
        const ports = records[i + 4];
        listeners.get(id)?.onReactorDrop(strings[first], Math.floor(ports / 65536), strings[first + 1], ports % 65536);
      } else if (kind === EventKind.TlsSecure) {
        connections.get(id)?.onReactorSecure?.(records[i + 2], strings, records[i + 3], records[i + 4]);
      } else if (kind === EventKind.TlsServername) {
        connections.get(id)?.onReactorServername?.(strings[records[i + 3]], records[i + 2]);
      } else if (kind === EventKind.TlsAlpn) {
        const first = records[i + 3];
        connections.get(id)?.onReactorAlpn?.(records[i + 2] === 1 ? strings[first] : false, strings[first + 1]);
      } else if (kind === EventKind.TlsOcspResponse) {
        connections.get(id)?.onReactorOcspResponse?.(records[i + 2] === 1, strings[records[i + 3]]);
      } else if (kind === EventKind.TlsResumeSession) {
        connections.get(id)?.onReactorResumeSession?.(strings[records[i + 3]]);
      } else if (kind === EventKind.TlsPsk) {
        const first = records[i + 3];
        connections.get(id)?.onReactorPsk?.(strings.slice(first, first + records[i + 2]), records[i + 4] === 1);
      } else if (kind === EventKind.TlsNewSession) {
        const first = records[i + 3];
        connections.get(id)?.onReactorNewSession?.(strings[first], strings[first + 1]);
      } else if (kind === EventKind.TlsSession) {
        connections.get(id)?.onReactorSession?.(strings[records[i + 3]], records[i + 2] === 1);
      } else if (kind === EventKind.TlsKeylog) {
        connections.get(id)?.onReactorKeylog?.(strings[records[i + 3]]);
      } else if (kind === EventKind.TlsError) {
        connections.get(id)?.onReactorTlsError?.(records[i + 2], records[i + 4], strings, records[i + 3]);
      } else if (kind === EventKind.ListenerError) {
        listeners.get(id)?.onReactorListenerError(-records[i + 2], syscallNames[records[i + 3]] ?? 'unknown');
      }
    } catch (error) {
      // The flush first: a rethrow that ends the nextTick queue must not
      // leave the batch's commands behind the native side's note that its
      // handlers ran (reactor.cc AcceptsTaken, which keeps an fd for each
      // until the reactor has run them).
      reactor.scheduleFlush();
      process.nextTick(rethrow, error);
    }
  }
}

let environmentReactor: Reactor | undefined;
let environmentOptions: NativeReactorOptions = {};

/** The reactor of this JS environment (main thread or Worker), started on first use. */
export function getReactor(): Reactor {
  if (environmentReactor === undefined) {
    const ownThread = environmentOptions.ownThread ?? defaultOwnThread();
    environmentReactor = new Reactor({ hangupEndsShortRead, ...environmentOptions, ownThread });
  }
  return environmentReactor;
}

/**
 * Where the loop runs unless configure() said: EPOLL_REACTOR_THREAD=js puts it
 * on the JS thread, anything else gives it a thread of its own. Not chosen
 * by CPU count: on one CPU each mode wins some loads (docs/benchmarks.md,
 * "Session 38").
 */
function defaultOwnThread(): boolean {
  return process.env.EPOLL_REACTOR_THREAD !== 'js';
}

export function hasReactorStarted(): boolean {
  return environmentReactor !== undefined;
}

/** Options for the reactor getReactor() will start (lib/configure.ts). */
export function setReactorOptions(options: NativeReactorOptions): void {
  environmentOptions = { ...environmentOptions, ...options };
}
