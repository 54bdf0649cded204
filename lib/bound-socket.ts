// net.BoundSocket (Node 24.22 and 26): a socket node bound synchronously,
// for server.listen(bound) and new net.Socket({ handle: bound }) to adopt.
// The reactor works on a duplicate of its fd; node's handle, taken from the
// BoundSocket as node's own listen() and Socket take it, stays the caller's
// to close, which closes node's copy of the fd and, for a path, removes the
// socket file (libuv does that when a bound pipe handle closes).
import type { AddressInfo } from 'node:net';

import { codedError } from './errors';
import { BoundSocketClass } from './net-version';

/** What the package uses of a net.BoundSocket. */
interface BoundSocketLike {
  fd(): number;
  address(): AddressInfo | string;
  close(): void;
}

/** A BoundSocket taken over: its fd (node's; duplicate it), its address, and node's handle. */
export interface AdoptedBoundSocket {
  /** node's fd, -1 once the reactor has its duplicate. */
  fd: number;
  /** The path of a Unix socket, or the TCP address it is bound to. */
  address: AddressInfo | string;
  /** The path of a Unix socket, else undefined. */
  path: string | undefined;
  handle: { close(): void };
}

/** `value` if it is a net.BoundSocket, else undefined (always where net has none). */
export function asBoundSocket(value: unknown): BoundSocketLike | undefined {
  return BoundSocketClass !== undefined && value instanceof BoundSocketClass ? value as unknown as BoundSocketLike : undefined;
}

/** The net.BoundSocket `first` is, or holds as `handle`, as net's listen() looks for one. */
export function boundSocketIn(first: unknown): BoundSocketLike | undefined {
  if (first === null || typeof first !== 'object') return undefined;
  return asBoundSocket(first) ?? asBoundSocket((first as { handle?: unknown }).handle);
}

/**
 * Takes `boundSocket` over as node does, through net's own (unexported)
 * consume method, found by its symbol's name: the BoundSocket then reports
 * ERR_SOCKET_HANDLE_ADOPTED, and the handle it gives holds node's fd open
 * (so its number cannot be reused) until the caller closes it. Throws that
 * error, before any change, for one adopted or closed already, and
 * ERR_EPOLL_REACTOR_UNSUPPORTED where this Node's BoundSocket has no such
 * method: left with the user, its fd could be closed, and its number reused,
 * under the reactor.
 */
export function adoptBoundSocket(boundSocket: BoundSocketLike): AdoptedBoundSocket {
  const fd = boundSocket.fd();
  const address = boundSocket.address();
  let method: unknown;
  for (let prototype = Object.getPrototypeOf(boundSocket) as Record<symbol, unknown> | null; prototype !== null &&
    method === undefined; prototype = Object.getPrototypeOf(prototype) as Record<symbol, unknown> | null) {
    const consume = Object.getOwnPropertySymbols(prototype).find((symbol) => symbol.description === 'kBoundSocketConsume');
    if (consume !== undefined) method = prototype[consume];
  }
  if (typeof method !== 'function') {
    throw codedError('epoll-reactor cannot adopt a net.BoundSocket of this Node (no consume method found)',
      'ERR_EPOLL_REACTOR_UNSUPPORTED');
  }
  const handle = (method as () => unknown).call(boundSocket) as { close?: unknown; fd?: unknown };
  // The handle node's own listen() and Socket take: a TCP or Pipe wrap with its fd.
  if (typeof handle?.close !== 'function' || handle.fd !== fd) {
    throw codedError('epoll-reactor cannot adopt a net.BoundSocket of this Node (unexpected handle)',
      'ERR_EPOLL_REACTOR_UNSUPPORTED');
  }
  return { fd, address, path: typeof address === 'string' ? address : undefined, handle: handle as { close(): void } };
}
