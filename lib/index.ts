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

import { binding } from './binding';
import { Server, ServerOptions } from './server';
import { Socket } from './socket';

export { Server, Socket };
export type { ConnectionListener, ListenCallback, ListenOptions, ServerOptions } from './server';
export type { SocketOptions } from './socket';
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
  return new Server(options as ServerOptions, connectionListener);
}
