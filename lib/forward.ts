// Native forwarding between two reactor sockets, for proxies: bytes flow both
// ways on the reactor thread and never enter JS.
import { invalidArgType, invalidArgValue, invalidState, NodeStyleError, opensslError, SystemError, systemError } from './errors';
import { validateObject } from './validate';
import { Socket } from './socket';
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
}

const MODES = { auto: 0, splice: 1, copy: 2 } as const;
const EBADF = 9;

/** Sockets handed to a forward(), pending, running or done: each may be forwarded once. */
const forwarded = new WeakSet<Socket>();

/** The system error either socket was destroyed with, if any. */
function causeOf(first: Socket, second: Socket): SystemError | undefined {
  for (const socket of [first, second]) {
    const error = socket.errored as SystemError | null;
    if (error != null && typeof error.code === 'string' && typeof error.syscall === 'string') return error;
  }
  return undefined;
}

/**
 * Joins two connected reactor sockets so that everything one receives is sent
 * to the other, both ways, on the reactor thread. Bytes already received by a
 * socket but not yet read in JS are passed on first. Backpressure is the
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
 * From the call on, the sockets emit no 'data'; do not write to them (wait
 * for the callbacks of earlier writes before calling forward). When the
 * forward ends both sockets are closed (and emit 'close'), and the returned
 * promise resolves with the byte counts; it does not reject.
 *
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when a socket is not a reactor
 *   Socket or `options` is not an object; `ERR_INVALID_ARG_VALUE` for an
 *   unknown `mode` or the same socket twice; `ERR_INVALID_STATE` for a socket
 *   already handed to a forward, one neither connected nor connecting, or a
 *   SecureSocket whose handshake has not finished. A call that throws changes
 *   nothing.
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
 * ```
 */
export function forward(first: Socket, second: Socket, options: ForwardOptions = {}): Promise<ForwardResult> {
  // Every check comes before anything changes: a call that throws leaves both
  // sockets, and any forward they are already in, as they were.
  if (!(first instanceof Socket)) throw invalidArgType('first', 'an instance of Socket', first);
  if (!(second instanceof Socket)) throw invalidArgType('second', 'an instance of Socket', second);
  if (first === second) throw invalidArgValue('second', second, 'must be a different socket from first');
  validateObject(options as unknown, 'options');
  const modeName = options.mode ?? 'auto';
  // Own properties only: 'toString' or '__proto__' are not modes.
  if (typeof modeName !== 'string' || !Object.prototype.hasOwnProperty.call(MODES, modeName)) {
    throw invalidArgValue('options.mode', modeName, "must be 'auto', 'splice' or 'copy'");
  }
  const mode = MODES[modeName as keyof typeof MODES];
  for (const socket of [first, second]) {
    if (forwarded.has(socket)) throw invalidState('The socket is already being forwarded');
    if (!socket.destroyed && socket.id === 0 && !socket.connecting) {
      throw invalidState('The socket is neither connected nor connecting');
    }
    // Its side carries plaintext: there is none before the handshake ends.
    if (socket instanceof SecureSocket && !socket.destroyed && !socket.secureReady) {
      throw invalidState("The TLS handshake of the socket has not finished (wait for 'secureConnection' or 'secureConnect')");
    }
  }
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
          tlsError = opensslError(message, library, reason);
        },
        done(bytesFirstToSecond, bytesSecondToFirst, errno, syscall) {
          const result: ForwardResult = {
            bytesFirstToSecond: bytesFirstToSecond + heldFirst,
            bytesSecondToFirst: bytesSecondToFirst + heldSecond,
          };
          if (tlsError !== undefined) {
            result.error = tlsError;
          } else if (errno === EBADF) {
            // The reactor refused to start it: one side failed (say, reset by
            // the peer) after the call; that side's error says why.
            result.error = causeOf(first, second) ?? systemError(-errno, syscall);
          } else if (errno !== 0) {
            result.error = systemError(-errno, syscall);
          }
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
    let waiting = 0;
    let failed = false;
    for (const socket of [first, second]) {
      if (!socket.connecting) continue;
      waiting++;
      const onClose = (): void => {
        if (failed) return;
        failed = true;
        resolve({ bytesFirstToSecond: 0, bytesSecondToFirst: 0, error: connectError ?? systemError(-9 /* EBADF */, 'forward') });
        first.destroy();
        second.destroy();
      };
      let connectError: SystemError | undefined;
      const onError = (error: SystemError): void => {
        connectError = error;
      };
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once('connect', () => {
        socket.removeListener('close', onClose);
        socket.removeListener('error', onError);
        if (--waiting === 0 && !failed) begin();
      });
    }
    if (waiting === 0) begin();
  });
}
