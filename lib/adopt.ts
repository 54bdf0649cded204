// Taking live sockets over from libuv: a connected net.Socket, or a listening
// net.Server, moves into the reactor without a byte lost or a FIN sent.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { invalidArgType, systemError } from './errors';
import { validateObject } from './validate';
import { getReactor } from './reactor';
import { Server } from './server';
import { heldBack, StreamDecoder } from './received-text';
import { readableChunksOf, Socket, SocketOptions } from './socket';

const kAdopted = Symbol('epoll-reactor.adopted');

interface LibuvHandle {
  fd?: number;
  hasRef?(): boolean;
  readStop?(): number;
  close(callback?: () => void): void;
  onread?: unknown;
  writeQueueSize?: number;
}

function invalidState(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: 'ERR_INVALID_STATE' });
}

function handleOf(target: net.Socket | net.Server): LibuvHandle | null {
  return (target as unknown as { _handle: LibuvHandle | null })._handle;
}

function checkAdoptable(target: net.Socket | net.Server): number {
  if ((target as unknown as Record<symbol, boolean>)[kAdopted]) {
    throw invalidState('The socket has already been adopted');
  }
  if ((target as { encrypted?: boolean }).encrypted === true) {
    throw Object.assign(new TypeError('A TLS socket cannot be adopted: its bytes are encrypted by node:tls'), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
  }
  const handle = handleOf(target);
  if (handle === null || typeof handle.fd !== 'number' || handle.fd < 0) {
    throw Object.assign(new TypeError('The socket has no file descriptor to adopt'), { code: 'ERR_INVALID_HANDLE_TYPE' });
  }
  return handle.fd;
}

/**
 * Takes over a connected `net.Socket` (TCP or Unix, accepted or outbound):
 * stops libuv reading it, duplicates its fd into the reactor, and closes
 * libuv's copy, which sends nothing to the peer. Bytes the net.Socket had
 * received but not yet delivered come first on the returned socket, as
 * Buffers (its encoding is not carried over: set it again; text a
 * `setEncoding()` made of invalid UTF-8 comes as the U+FFFD net kept); writes
 * still queued in the net.Socket, corked ones included, are sent before the
 * fd changes hands (writes to the returned socket wait for them, and so does
 * a forward() of it). The net.Socket is destroyed quietly (it emits
 * 'close'); use the returned socket from now on. It is unref'd if the
 * net.Socket was. Destroyed before the hand-over, it closes the connection
 * at once (`resetAndDestroy()` resets it).
 *
 * Also takes over a listening `net.Server`: see {@link adoptServer}.
 *
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) for anything else;
 *   `ERR_INVALID_ARG_VALUE` for a TLS socket; `ERR_INVALID_HANDLE_TYPE` for a
 *   socket without an fd; `ERR_INVALID_STATE` for a destroyed, connecting or
 *   already adopted socket.
 *
 * @example
 * ```ts
 * import * as net from 'node:net';
 * import { adopt } from 'epoll-reactor';
 *
 * net.createServer((plain) => {
 *   const socket = adopt(plain); // served by the reactor from here on
 *   socket.pipe(socket);
 * }).listen(7000);
 * ```
 */
export function adopt(socket: net.Socket, options?: SocketOptions): Socket;
export function adopt(server: net.Server): Server;
export function adopt(target: net.Socket | net.Server, options: SocketOptions = {}): Socket | Server {
  if (target instanceof net.Server) return adoptServer(target);
  if (!(target instanceof net.Socket)) {
    throw invalidArgType('socket', 'an instance of net.Socket or net.Server', target);
  }
  validateObject(options as unknown, 'options');
  if (target.destroyed) throw invalidState('The socket has been destroyed');
  if (target.connecting) throw invalidState('The socket is still connecting');
  const fd = checkAdoptable(target);
  const handle = handleOf(target) as LibuvHandle;
  // Read now, while libuv's socket is connected: by the hand-over the peer
  // may have closed, and getpeername() then fails (see handOver).
  const peer = { remoteAddress: target.remoteAddress, remotePort: target.remotePort };
  // Everything that can throw (the Socket constructor validates the options)
  // comes before the first change to the net.Socket: a call that throws
  // leaves it working (issue 12 item 20).
  const adopted = new Socket({ allowHalfOpen: options.allowHalfOpen ?? (target as { allowHalfOpen?: boolean }).allowHalfOpen, ...options });
  // The hand-over is settled once: done, lost with the net.Socket, or
  // abandoned by destroy() of the adopted socket, which may then connect()
  // again (as net allows) before any of this adoption's callbacks run.
  let settled = false;
  // Writes until the connection is attached wait for it, not fail as on a
  // socket that never connected. destroy() of the adopted socket while it
  // waits closes the connection at once, as destroy() of a net.Socket does,
  // unsent writes and all; resetAndDestroy() resets it.
  adopted.expectAttach(typeof (handle as { reset?: unknown }).reset !== 'function', (reset) => {
    if (settled) return;
    settled = true;
    if (reset) target.resetAndDestroy();
    else target.destroy();
  }, {
    remoteAddress: peer.remoteAddress ?? '',
    remotePort: peer.remotePort ?? 0,
    localAddress: target.localAddress ?? '',
    localPort: target.localPort ?? 0,
  });

  (target as unknown as Record<symbol, boolean>)[kAdopted] = true;
  // Chunks held by cork() go now, through libuv, as the uncork() they wait
  // for would send them: the net.Socket has no later moment, and the
  // hand-over waits for its writes to go out.
  while (target.writableCorked > 0) target.uncork();
  const state = (target as unknown as {
    _readableState: { encoding: BufferEncoding | null; decoder: StreamDecoder | null; ended: boolean; highWaterMark: number };
  })._readableState;
  const pendingWrites = target.writableLength > 0 || (handle.writeQueueSize ?? 0) > 0;
  const waitsForFinish = target.writableEnded && !target.writableFinished;
  const waitsForWrites = pendingWrites && !target.writableEnded;

  // Moves what libuv has read into the adopted socket; from then on libuv
  // reads nothing more.
  const takeReadBytes = (): void => {
    handle.readStop?.();
    // Not state.buffer itself: entries a read() took whole stay in it as nulls.
    for (const chunk of readableChunksOf(target)) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, state.encoding ?? 'utf8') : chunk;
      adopted.bytesRead += bytes.length;
      adopted.push(bytes);
    }
    // With an encoding, the start of a character whose end libuv has not read
    // yet waits in the decoder, not in the buffer. (Text that was invalid UTF-8
    // cannot be given back: net keeps only the U+FFFD it made of it.)
    const held = state.decoder !== null ? heldBack(state.decoder) : undefined;
    if (held !== undefined && held.length > 0) {
      adopted.bytesRead += held.length;
      adopted.push(held);
    }
    if (target.readableEnded || state.ended) adopted.push(null);
  };
  if (waitsForFinish || waitsForWrites) {
    // An error of the net.Socket while the hand-over waits (a reset by the
    // peer) reaches the adopted socket through lost(); its own listeners are
    // the user's, who handed it over.
    target.on('error', () => {});
    // The hand-over waits for libuv to send what net queued. Meanwhile libuv
    // keeps reading into the paused net.Socket (no 'data' to its listeners,
    // and no backpressure stop): a peer that answers what it gets, an echo,
    // stops reading our writes once its answers fill the buffers, so with
    // reading stopped the writes, and the wait, would never end.
    target.pause();
    state.highWaterMark = Number.MAX_SAFE_INTEGER;
    // Restarts libuv's reading if backpressure had stopped it (net's _read).
    target.read(0);
  } else {
    takeReadBytes();
  }
  // The net.Socket was ended: libuv sends the FIN after its queued writes, and
  // the adopted socket is ended too (issue 12 item 6).
  if (target.writableEnded) adopted.endAdopted();

  const handOver = (): void => {
    if (settled) return;
    // Pushing the bytes libuv read emits 'data' at once to a flowing socket,
    // whose listener may destroy it: that abandons the hand-over.
    if (waitsForFinish || waitsForWrites) takeReadBytes();
    if (settled) return;
    settled = true;
    let reactor: ReturnType<typeof getReactor>;
    try {
      reactor = getReactor();
    } catch (error) {
      // The reactor thread could not start: the connection is closed with
      // libuv's handle, and the adopted socket fails as a connect would.
      target.destroy();
      adopted.destroy(error as Error);
      return;
    }
    // wasConnected: a connection that closed both ways while the hand-over
    // waited (our FIN sent, the peer's come) is still taken, as net would
    // still read its last bytes and its EOF.
    const result = reactor.native.adoptFd(fd, true);
    closeQuietly(target, handle);
    if (result.length === 2) {
      // Destroyed at once, not on a later tick: until then the socket would
      // be neither connected nor connecting, and forward() of it would throw.
      // Its 'error' is emitted on the next tick, as destroy() does.
      adopted.destroy(systemError(result[0], result[1]));
      return;
    }
    const [id, remoteAddress, remotePort, localAddress, localPort] = result;
    // A TCP connection closed both ways has no peer address now: the one net knew, if it did.
    const peerGone = remoteAddress === '' && localAddress !== '';
    adopted.attach(reactor, id, {
      remoteAddress: peerGone ? peer.remoteAddress ?? '' : remoteAddress,
      remotePort: peerGone ? peer.remotePort ?? 0 : remotePort,
      localAddress,
      localPort,
    });
  };
  // An unref'd net.Socket gives an unref'd socket: the process exits when it would have.
  if (handle.hasRef?.() === false) adopted.unref();
  // If the net.Socket failed or was destroyed while we waited, libuv has
  // closed its fd, and the number may already belong to another socket: never
  // touch it then. The adopted socket fails with the same error.
  const lost = (error?: Error | null): boolean => {
    if (settled) return true;
    if (!error && !target.destroyed && handleOf(target) === handle) return false;
    settled = true;
    const failure = error ?? invalidState('The socket was destroyed before its writes were sent');
    // Unless the user destroyed it by then (and maybe connected it again).
    process.nextTick(() => {
      if (adopted.awaitsAttach()) adopted.destroy(failure);
    });
    return true;
  };

  if (waitsForFinish) {
    // Closing libuv's handle now would cancel the queued writes and the FIN
    // (while net reported the writes done). 'finish' comes once libuv has
    // sent every byte and shut the write side down.
    const onClose = (): void => {
      target.removeListener('finish', onFinish);
      lost(target.errored);
    };
    const onFinish = (): void => {
      target.removeListener('close', onClose);
      if (!lost()) handOver();
    };
    target.once('finish', onFinish);
    target.once('close', onClose);
  } else if (waitsForWrites) {
    // An empty write's callback runs once every earlier write has gone out;
    // until then the adopted socket is pending and queues its own writes.
    target.write(Buffer.alloc(0), (error) => {
      if (!lost(error)) handOver();
    });
  } else {
    handOver();
  }
  return adopted;
}

// Closes libuv's copy of the fd without touching the connection: no
// shutdown(), no RST, since the reactor's duplicate keeps the socket open.
function closeQuietly(target: net.Socket, handle: LibuvHandle): void {
  handle.onread = () => {};
  (target as unknown as { _handle: LibuvHandle | null })._handle = null;
  handle.close();
  target.destroy();
}

/**
 * Takes over a listening `net.Server` (for example one from cluster or a
 * supervisor): the reactor accepts its connections from now on, and its
 * 'connection' listeners move to the returned server, unref'd if the
 * net.Server was. Connections the net.Server had already accepted stay with it.
 *
 * For a Unix socket, libuv deletes the socket file when its server closes; the
 * file is linked back at once, but a connect in that instant can fail.
 *
 * @example
 * ```ts
 * import * as net from 'node:net';
 * import { adoptServer } from 'epoll-reactor';
 * const plain = net.createServer((socket) => socket.end('hi\n')).listen(7000, () => {
 *   const server = adoptServer(plain); // same port, same listener, served natively
 * });
 * ```
 */
export function adoptServer(target: net.Server): Server {
  if (!(target instanceof net.Server)) throw invalidArgType('server', 'an instance of net.Server', target);
  if (!target.listening) throw invalidState('The server is not listening');
  const fd = checkAdoptable(target);
  const address = target.address();
  const server = new Server();
  const result = server.adoptListeningFd(fd);
  if (result !== null) throw result;
  // An unref'd net.Server gives an unref'd server, as with adopt().
  if (handleOf(target)?.hasRef?.() === false) server.unref();
  (target as unknown as Record<symbol, boolean>)[kAdopted] = true;
  for (const listener of target.listeners('connection')) {
    server.on('connection', listener as (socket: Socket) => void);
    target.removeListener('connection', listener as (...args: unknown[]) => void);
  }
  if (typeof address === 'string' && !address.startsWith('\0')) {
    // libuv unlinks a pipe server's path on close; keep the file by a second link.
    const keep = path.join(path.dirname(address), `.${path.basename(address)}.${process.pid}.adopt`);
    fs.linkSync(address, keep);
    target.close();
    fs.renameSync(keep, address);
  } else {
    target.close();
  }
  return server;
}
