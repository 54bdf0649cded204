// Native forwarding between two reactor sockets, for proxies: bytes flow both
// ways on the reactor thread and never enter JS.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';

import { invalidArgType, invalidArgValue, invalidState, missingArgs, NodeStyleError, SystemError,
  systemError, tlsStreamError } from './errors';
import { validateBoolean, validateFunction, validateInteger, validateObject, validatePort, validateString } from './validate';
import { ConnectTarget, resolveTargets } from './connect';
import { queueBytes, Socket } from './socket';
import { SecureSocket } from './tls';

/** Options for {@link forward}. */
export interface ForwardOptions {
  /**
   * How bytes move: `'copy'` with recv/send through a 64 KiB buffer on the
   * reactor thread; `'splice'` through a pooled kernel pipe with splice(2), so
   * they never pass through user space (copying instead when no pipe can be
   * had, at fd exhaustion). `'auto'` (default) copies: measured on loopback,
   * copying was as fast as splicing or faster for every payload from 64 B to
   * 64 KiB and needs no pipe fds (docs/benchmarks.md); choose `'splice'` for
   * bulk transfers where skipping the copy pays.
   */
  mode?: 'auto' | 'splice' | 'copy';
  /**
   * For a forward to an address ({@link ForwardTarget}): called once the
   * upstream connection is made, before any byte moves. (The promise
   * resolves only when the forward ends.)
   */
  onConnect?: () => void;
}

/**
 * Where {@link forward} connects a socket to, on the reactor thread, when it
 * is given an address instead of a second socket.
 */
export interface ForwardTarget {
  /** The port to connect to (with `host`). */
  port?: number;
  /**
   * An IPv4 or IPv6 address, or a name looked up with `dns.lookup()` as
   * net.connect() does: each address it answers is tried in turn (families
   * alternating from the first answered; only the first when
   * `net.getDefaultAutoSelectFamily()` is false), each for `timeout`, and
   * when every one fails, `error` is an AggregateError of their errors whose
   * `code` is the first one's. Default: `'localhost'`.
   */
  host?: string;
  /** A Unix socket path to connect to, in place of `host` and `port`. */
  path?: string;
  /** Disables Nagle's algorithm on the upstream connection, as `socket.setNoDelay()`. Default: false. */
  noDelay?: boolean;
  /**
   * Milliseconds a connect may take (each address's, for a name); past them
   * the attempt fails with `ETIMEDOUT` and the socket is left open. Default:
   * 0, no limit but the kernel's.
   */
  timeout?: number;
}

/** How a forward ended. */
export interface ForwardResult {
  /** Bytes delivered from the first socket to the second. */
  bytesFirstToSecond: number;
  /** Bytes delivered from the second socket to the first. */
  bytesSecondToFirst: number;
  /**
   * Why it ended, when not because both sides finished: a reset or other
   * error on either side (code, syscall as in net), `ECANCELED` when one
   * socket was destroyed from JS, or, when OpenSSL failed on a TLS side, the
   * error node:tls gives for it (`code` such as `ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC`,
   * `library`, `reason`; no `errno` or `syscall`).
   */
  error?: SystemError | NodeStyleError;
  /**
   * For a forward to a {@link ForwardTarget}: whether the upstream connection
   * was made. When it was not and the socket is still open (`!socket.destroyed`;
   * `error.syscall` is then `'connect'`, or `'getaddrinfo'` for a failed
   * lookup), the socket was not touched: it is paused, with every byte it
   * received unread, for the caller to forward elsewhere, resume() or
   * destroy. When the socket was destroyed meanwhile, or reset by its peer,
   * it is closed and `error` says why (`ECANCELED`, `ECONNRESET`).
   */
  connected?: boolean;
}

const MODES = { auto: 0, splice: 1, copy: 2 } as const;
const EBADF = 9;
const ECANCELED = 125;

/**
 * Sockets handed to a forward(), pending, running or done: each may be
 * forwarded once, but one a forward to an address handed back unconnected.
 */
const forwarded = new WeakSet<Socket>();
// The most a forward to an address hands the reactor of what JS holds, to
// send at the connect without asking JS (more, and JS passes it on then).
const HELD_WITH_COMMAND_LIMIT = 64 * 1024;

/** The system error any of the sockets was destroyed with, if any. */
function causeOf(...sockets: Socket[]): SystemError | undefined {
  for (const socket of sockets) {
    const error = socket.errored as SystemError | null;
    if (error != null && typeof error.code === 'string' && typeof error.syscall === 'string') return error;
  }
  return undefined;
}

/**
 * Joins two connected reactor sockets so that everything one receives is sent
 * to the other, both ways, on the reactor thread. Bytes already received by a
 * socket but not yet read in JS are passed on first, as the peer sent them
 * even when `setEncoding()` made text of them (invalid UTF-8 and a character
 * split across chunks included; text put back with `unshift()` goes as the
 * bytes that came for it when it is the end of what was read, else encoded
 * from the string given). Backpressure is the
 * kernel's: a side whose peer is slow stops being read. A FIN from one side
 * becomes a FIN to the other while the other direction keeps flowing. An error
 * or reset on either side ends both, and each side whose end was not yet
 * passed on is reset (not sent a FIN), so that its peer cannot take the
 * failure for a clean end. destroy() of one side closes the other with a FIN.
 *
 * Either socket may be a {@link SecureSocket} whose handshake is done (from
 * 'secureConnection' on): its side carries plaintext, decrypted and encrypted
 * on the reactor thread, so a TLS socket and a plain one terminate TLS, and
 * two TLS sockets re-encrypt. A TLS side always copies (`mode` 'splice'
 * applies to plain pairs only). Its peer's close_notify or FIN ends that
 * direction; the end passed to a TLS side is close_notify, then a FIN.
 *
 * A socket still connecting, or from `adopt()` still sending what net
 * queued, is waited for; if either socket closes meanwhile, the forward ends
 * and destroys the other (cancelling its connect). Writes made before the
 * call go first, those held by `cork()` too (the forward uncorks the socket:
 * it has no later moment to send them). From the call on, the sockets emit
 * no 'data'; do not write to them. When the forward ends both sockets are
 * closed (and emit 'close'), and the returned promise resolves with the byte
 * counts; it does not reject.
 *
 * In place of the second socket, `second` may be an address
 * ({@link ForwardTarget}: `port` and `host`, or `path`): the reactor thread
 * connects to it and starts forwarding as soon as the connect is done, with
 * no socket object and no event in JS for the upstream. Bytes the socket's
 * readable buffer holds at the call (up to 64 KiB: a preamble read and the
 * rest put back with `unshift()`) go first, sent by the reactor with no round
 * trip through JS; do not read or `unshift()` the socket after the call (a
 * change found at the connect ends the forward with `ERR_INVALID_STATE`).
 * That is what a proxy accepting many short
 * connections wants: about half of its CPU per connection was the upstream
 * socket's JS side. If the connect fails (or times out after `timeout` ms),
 * the promise resolves with `connected: false` and the error, and the first
 * socket is left open and paused with its bytes unread (once an address
 * was tried, what it had written has been sent, corked chunks included), so
 * that another address can be tried (check `socket.destroyed` first: a socket destroyed
 * or reset while the upstream connected is closed with the forward).
 *
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when a socket is not a reactor
 *   Socket or `options` is not an object; `ERR_INVALID_ARG_VALUE` for an
 *   unknown `mode` or the same socket twice; `ERR_INVALID_STATE` for a socket
 *   already handed to a forward, one neither connected nor connecting, or a
 *   SecureSocket whose handshake has not finished. For an address, what
 *   net.connect() throws for its `port`, `host` and `path`
 *   (`ERR_SOCKET_BAD_PORT`, `ERR_MISSING_ARGS`, `ERR_INVALID_ARG_TYPE`), and
 *   `ERR_OUT_OF_RANGE` for a `timeout` that is not a whole number of
 *   milliseconds. A call that throws changes nothing.
 *
 * @example
 * ```ts
 * import { createServer, connect, forward } from 'epoll-reactor';
 *
 * // A TCP proxy from port 8080 to 127.0.0.1:9000.
 * createServer((client) => {
 *   const upstream = connect(9000, '127.0.0.1', () => {
 *     forward(client, upstream).then(({ bytesFirstToSecond, bytesSecondToFirst }) =>
 *       console.log(`closed: ${bytesFirstToSecond} up, ${bytesSecondToFirst} down`));
 *   });
 *   upstream.on('error', () => client.destroy());
 * }).listen(8080, '127.0.0.1');
 *
 * // The same, with the upstream connected on the reactor thread.
 * createServer({ pauseOnConnect: true }, (client) => {
 *   forward(client, { port: 9000, host: '127.0.0.1', timeout: 5000 }).then((result) => {
 *     if (result.connected === false) client.destroy();  // or try another upstream
 *   });
 * }).listen(8081, '127.0.0.1');
 * ```
 */
export function forward(first: Socket, second: Socket | ForwardTarget, options: ForwardOptions = {}): Promise<ForwardResult> {
  // Every check comes before anything changes: a call that throws leaves both
  // sockets, and any forward they are already in, as they were.
  if (!(first instanceof Socket)) throw invalidArgType('first', 'an instance of Socket', first);
  if (!(second instanceof Socket)) {
    // A stream that is not a reactor Socket (a net.Socket, say) is a wrong
    // socket, not an address with no port.
    if (second === null || typeof second !== 'object' || Array.isArray(second) || second instanceof EventEmitter) {
      throw invalidArgType('second', 'an instance of Socket', second);
    }
    const target = checkTarget(second);
    const mode = checkMode(options);
    checkForwardable(first);
    return forwardToTarget(first, target, mode, options.onConnect);
  }
  if (first === second) throw invalidArgValue('second', second, 'must be a different socket from first');
  const mode = checkMode(options);
  checkForwardable(first);
  checkForwardable(second);
  forwarded.add(first);
  forwarded.add(second);
  // From the call on, bytes read for JS must stay in the readable buffers,
  // where the hand-over finds them. A flowing socket (its first chunk read
  // with once('data')) would emit them as 'data' to nobody (issue 12 item 5).
  // A socket already destroyed is left alone: pause() would emit 'pause'
  // after its 'close'.
  if (!first.destroyed) first.pause();
  if (!second.destroyed) second.pause();
  return new Promise((resolve) => {
    const begin = (): void => {
      if (first.destroyed || second.destroyed) {
        // A socket reset before the call reports its own error (ECONNRESET).
        const error = causeOf(first, second) ?? systemError(-9 /* EBADF */, 'forward');
        resolve({ bytesFirstToSecond: 0, bytesSecondToFirst: 0, error });
        first.destroy();
        second.destroy();
        return;
      }
      first.handOverWritesForForward();
      second.handOverWritesForForward();
      const reactor = first.startForwarding();
      second.startForwarding();
      const id = reactor.native.nextId();
      let heldFirst = 0;
      let heldSecond = 0;
      let tlsError: NodeStyleError | undefined;
      reactor.forwards.set(id, {
        // The reactor reads neither socket for JS any more, and every byte it
        // read before sits in the readable buffers now: pass those on first,
        // as writes the reactor sends before it starts moving newer bytes.
        ready() {
          for (const chunk of first.takeBuffered()) heldFirst += second.writeToReactor(chunk);
          for (const chunk of second.takeBuffered()) heldSecond += first.writeToReactor(chunk);
          process.nextTick(() => {
            reactor.native.forwardStart(id);
            reactor.scheduleFlush();
          });
        },
        tlsError(message, library, reason) {
          tlsError = tlsStreamError(message, library, reason);
        },
        done(bytesFirstToSecond, bytesSecondToFirst, errno, syscall) {
          const result: ForwardResult = {
            bytesFirstToSecond: bytesFirstToSecond + heldFirst,
            bytesSecondToFirst: bytesSecondToFirst + heldSecond,
          };
          const error = outcomeError(tlsError, errno, syscall, first, second);
          if (error !== undefined) result.error = error;
          first.endForwarding();
          second.endForwarding();
          resolve(result);
        },
      });
      reactor.native.forward(id, first.id, second.id, mode);
      reactor.scheduleFlush();
    };
    // Both must be connected; a socket still connecting is waited for. If its
    // connect fails instead, the forward ends there, and takes the other along.
    whenConnected([first, second], begin, (closeError) => {
      // Closed without an error: destroyed from JS, as a running forward reports it.
      resolve({ bytesFirstToSecond: 0, bytesSecondToFirst: 0, error: closeError ?? systemError(-ECANCELED, 'read') });
      first.destroy();
      second.destroy();
    });
  });
}

function checkMode(options: ForwardOptions): number {
  validateObject(options as unknown, 'options');
  if (options.onConnect !== undefined) validateFunction(options.onConnect, 'options.onConnect');
  const modeName = options.mode ?? 'auto';
  // Own properties only: 'toString' or '__proto__' are not modes.
  if (typeof modeName !== 'string' || !Object.prototype.hasOwnProperty.call(MODES, modeName)) {
    throw invalidArgValue('options.mode', modeName, "must be 'auto', 'splice' or 'copy'");
  }
  return MODES[modeName as keyof typeof MODES];
}

function checkForwardable(socket: Socket): void {
  if (forwarded.has(socket)) throw invalidState('The socket is already being forwarded');
  if (!socket.destroyed && socket.id === 0 && !socket.connecting && !socket.awaitsAttach()) {
    throw invalidState('The socket is neither connected nor connecting');
  }
  // Its side carries plaintext: there is none before the handshake ends.
  if (socket instanceof SecureSocket && !socket.destroyed && !socket.secureReady) {
    throw invalidState("The TLS handshake of the socket has not finished (wait for 'secureConnection' or 'secureConnect')");
  }
}

/** The error a finished forward reports, if any. */
function outcomeError(tlsError: NodeStyleError | undefined, errno: number, syscall: string,
  ...sockets: Socket[]): SystemError | NodeStyleError | undefined {
  if (tlsError !== undefined) return tlsError;
  // The reactor refused to start it: one side failed (say, reset by the
  // peer) after the call; that side's error says why.
  if (errno === EBADF) return causeOf(...sockets) ?? systemError(-errno, syscall);
  return errno !== 0 ? systemError(-errno, syscall) : undefined;
}

/**
 * Calls `begin` once every socket is connected (or, adopted, attached), or
 * `failed` (once) with the error, if any, of the first of them to close
 * before: a connected one that closes (a client leaving while its upstream
 * connects) ends the wait too, and the forward with it, rather than leave
 * the other's connect to run for nothing.
 */
function whenConnected(sockets: Socket[], begin: () => void, failed: (error: SystemError | undefined) => void): void {
  let waiting = 0;
  let settled = false;
  const stopWatching: Array<() => void> = [];
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    for (const stop of stopWatching) stop();
    return true;
  };
  for (const socket of sockets) {
    // adopt() hands the connection over once net's writes are out.
    const attaching = socket.awaitsAttach();
    const pending = socket.connecting || attaching;
    if (!pending && socket.destroyed) continue;  // begin() reports it
    let closeError: SystemError | undefined;
    const onError = (error: SystemError): void => {
      closeError = error;
    };
    const onClose = (): void => {
      if (settle()) failed(closeError);
    };
    socket.once('error', onError);
    socket.once('close', onClose);
    stopWatching.push(() => {
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    });
    if (!pending) continue;
    waiting++;
    const onConnected = (): void => {
      if (--waiting === 0 && settle()) begin();
    };
    if (attaching) socket.onceAttached(onConnected);
    else socket.once('connect', onConnected);
  }
  if (waiting === 0 && settle()) begin();
}

interface CheckedTarget {
  family: 0 | 4 | 6;
  /** An IP address or a Unix path; a name still to look up when family is undefined. */
  host: string;
  needsLookup: boolean;
  port: number;
  noDelay: boolean;
  timeout: number;
}

function checkTarget(target: ForwardTarget): CheckedTarget {
  const { path, host = 'localhost', noDelay = false, timeout = 0 } = target;
  validateBoolean(noDelay, 'second.noDelay');
  validateInteger(timeout, 'second.timeout', 0, 2 ** 32 - 1);
  if (path !== undefined) {
    validateString(path, 'second.path');
    if (path.length === 0) throw invalidArgValue('second.path', path, 'must be a non-empty string');
    return { family: 0, host: path, needsLookup: false, port: 0, noDelay, timeout };
  }
  if (target.port === undefined) throw missingArgs(['second.port', 'second.path']);
  const port = validatePort(target.port, 'second.port');
  validateString(host, 'second.host');
  const family = isIP(host);
  return { family: family === 0 ? 4 : family as 4 | 6, host, needsLookup: family === 0, port, noDelay, timeout };
}

/**
 * forward() to an address: the reactor connects and forwards, and JS sees no
 * socket for the upstream. The socket is paused and marked forwarded here;
 * if the upstream is not reached it is handed back as it was.
 */
function forwardToTarget(client: Socket, target: CheckedTarget, mode: number,
  onConnect: (() => void) | undefined): Promise<ForwardResult> {
  forwarded.add(client);
  if (!client.destroyed) client.pause();
  return new Promise((resolve) => {
    const unreached = (error: SystemError): void => {
      // Not touched: JS still holds its unread bytes, and the reactor never took it.
      forwarded.delete(client);
      resolve({ bytesFirstToSecond: 0, bytesSecondToFirst: 0, error, connected: false });
    };
    // Destroyed from JS before an attempt began: as one destroyed while the upstream connects.
    const destroyedMeanwhile = (): void => {
      forwarded.delete(client);
      resolve({ bytesFirstToSecond: 0, bytesSecondToFirst: 0, error: causeOf(client) ?? systemError(-ECANCELED, 'read'),
        connected: false });
    };
    // The addresses to try, in net's order, and what each failed attempt said.
    let targets: ConnectTarget[] = [];
    let nextTarget = 0;
    const attemptErrors: SystemError[] = [];
    const attemptNext = (): void => {
      const { family, address } = targets[nextTarget++];
      begin(family, address);
    };
    const begin = (family: 0 | 4 | 6, address: string): void => {
      if (client.destroyed) {
        destroyedMeanwhile();
        return;
      }
      client.handOverWritesForForward();
      // Its unconsumed bytes stay JS's (and in the caps) until the upstream
      // connects: a failed connect hands them back as they were.
      const reactor = client.startForwarding(false);
      // The upstream keeps the process alive until the forward ends, as an
      // upstream socket from connect() would: the client's own reference
      // goes with its destroy(), before the reactor has closed the upstream.
      reactor.ref();
      const id = reactor.native.nextId();
      let held = 0;
      let connected = false;
      let tlsError: NodeStyleError | undefined;
      // What JS holds now goes with the command (up to 64 KiB); the reactor
      // sends it first if it read nothing more for JS by the connect (started).
      const { received, held: heldNow } = client.heldForForward(HELD_WITH_COMMAND_LIMIT);
      // Let go at the connect: the handlers live as long as the forward.
      let heldCopy: Buffer | undefined = heldNow;
      let changedWhileConnecting: NodeStyleError | undefined;
      reactor.forwards.set(id, {
        ready(started, upstreamId) {
          connected = true;
          // The reactor settled what JS held unconsumed when it connected.
          client.settleForwarded();
          if (started) {
            // The reactor sent the copy ahead of the forward: JS's own bytes
            // go. A read() or unshift() of the socket since the call changed
            // them, and the upstream got what the buffer held then: said, not hidden.
            const now = Buffer.concat(client.takeBuffered());
            held = heldCopy!.length;
            if (!now.equals(heldCopy!)) {
              // Ended as a forward ends (no 'error' on a socket handed over), the promise says why.
              changedWhileConnecting = invalidState('The socket was read from or unshift() to while forward() connected it');
              client.destroy();
            }
          } else {
            // JS holds some of the client's bytes (read by the reactor, or
            // put back with unshift()): they go to the upstream first, then
            // the forward starts. Behind: no write callback waits for them.
            for (const chunk of client.takeBuffered()) held += queueBytes(reactor, upstreamId, chunk, true);
            process.nextTick(() => {
              reactor.native.forwardStart(id);
              reactor.scheduleFlush();
            });
          }
          heldCopy = undefined;
          // Last: its throw reaches 'uncaughtException' (dispatchBatch), as
          // an event listener's would, and the forward goes on.
          onConnect?.();
        },
        tlsError(message, library, reason) {
          tlsError = tlsStreamError(message, library, reason);
        },
        done(bytesUp, bytesDown, errno, syscall) {
          reactor.unref();
          if (!connected && syscall === 'connect' && errno !== 0) {
            client.cancelForwarding();
            attemptErrors.push(systemError(-errno, 'connect', address, family === 0 ? undefined : target.port));
            if (nextTarget < targets.length) {
              attemptNext();
              return;
            }
            unreached(attemptErrors.length === 1 ? attemptErrors[0] : Object.assign(new AggregateError(attemptErrors), {
              code: attemptErrors[0].code,
            }) as unknown as SystemError);
            return;
          }
          const result: ForwardResult = { bytesFirstToSecond: bytesUp + held, bytesSecondToFirst: bytesDown, connected };
          const error = changedWhileConnecting ?? outcomeError(tlsError, errno, syscall, client);
          if (error !== undefined) result.error = error;
          client.endForwarding();
          // Closed without a connection (reset or destroyed while connecting): like any destroyed socket now.
          if (!connected) forwarded.delete(client);
          resolve(result);
        },
      });
      reactor.native.forwardTo(id, client.id, family, address, target.port, mode, target.noDelay, target.timeout,
        received, heldNow);
      reactor.scheduleFlush();
    };
    const connectTo = (): void => {
      if (!target.needsLookup) {
        targets = [{ family: target.family, address: target.host, port: target.port }];
        attemptNext();
        return;
      }
      // As net.connect(): every address unless autoSelectFamily is off (no
      // socket to emit 'lookup' on: the upstream has none in JS).
      resolveTargets({ port: target.port, host: target.host }, new EventEmitter(), (error, resolved) => {
        if (error) {
          const failure = error as SystemError;
          unreached(Object.assign(failure, { syscall: failure.syscall ?? 'getaddrinfo' }));
          return;
        }
        targets = resolved!;
        attemptNext();
      });
    };
    whenConnected([client], connectTo, (connectError) => {
      if (connectError === undefined) {
        destroyedMeanwhile();
        return;
      }
      resolve({ bytesFirstToSecond: 0, bytesSecondToFirst: 0, error: connectError, connected: false });
      client.destroy();
    });
  });
}
