// net's `onread` option: a socket's bytes go into a buffer the caller gives
// (or a function returns each time), to a callback, instead of 'data' events.
import { isUint8Array } from 'node:util/types';

/** net's `onread` option: where the bytes go and who is told. */
export interface OnReadOptions {
  /** The buffer to read into, or a function that returns the next one (called once per read, and once first). */
  buffer: Uint8Array | (() => Uint8Array);
  /** Called with the bytes now at the start of the buffer; returning false stops reading until resume(). */
  callback: (nread: number, buffer: Uint8Array) => boolean | void;
}

/** The `onread` option if it is one net would use; anything else net ignores, and so do we. */
export function onReadOption(value: unknown): OnReadOptions | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { buffer, callback } = value as Partial<OnReadOptions>;
  if (!(isUint8Array(buffer) || typeof buffer === 'function') || typeof callback !== 'function') return undefined;
  return { buffer, callback };
}

/**
 * Hands received bytes to an `onread` callback, at most a buffer's length at
 * a time. libuv reads at most that much per read(2) for net, so a callback
 * never saw more; the reactor reads bigger chunks, which are handed over in
 * buffer-sized pieces. What is left of a chunk when the callback returns
 * false (or pauses the socket) waits here, in order, until resume.
 *
 * The queue holds Buffers received and not yet handed over; its owner, the
 * socket, adds with {@link receive} and drains with {@link deliver}.
 */
export class UserBufferReader {
  /** The callback returned false or the socket was paused: nothing is handed over until resume. */
  stopped = false;
  private buffer: Uint8Array | undefined;
  private readonly queue: Buffer[] = [];

  constructor(private readonly options: OnReadOptions) {}

  /** net's initSocketHandle: the first buffer is taken when the socket gets its connection. */
  start(): void {
    this.buffer = this.nextBuffer() ?? this.buffer;
  }

  /** The bytes waiting to be handed over, in order (left in place). */
  waiting(): readonly Buffer[] {
    return this.queue;
  }

  /** Takes the bytes waiting to be handed over (forward() passes them on instead). */
  take(): Buffer[] {
    return this.queue.splice(0);
  }

  /** True while bytes wait to be handed over. */
  get pending(): boolean {
    return this.queue.length > 0;
  }

  /**
   * True when bytes wait and the buffer to read them into is empty: libuv
   * then fails the read with ENOBUFS, and net destroys the socket with it.
   */
  get starved(): boolean {
    return this.queue.length > 0 && this.buffer !== undefined && this.buffer.length === 0;
  }

  /** Queues `data` and hands over what it can; returns the bytes handed over. */
  receive(owner: object & { destroyed: boolean }, data: Buffer): number {
    this.queue.push(data);
    return this.deliver(owner);
  }

  /** Hands queued bytes to the callback (as a method of `owner`, as net) until stopped; returns how many. */
  deliver(owner: object & { destroyed: boolean }): number {
    let delivered = 0;
    while (!this.stopped && this.queue.length > 0 && !owner.destroyed) {
      const buffer = this.buffer;
      // A zero-length buffer cannot take anything (libuv would read 0 bytes).
      if (buffer === undefined || buffer.length === 0) break;
      const head = this.queue[0];
      const length = Math.min(head.length, buffer.length);
      buffer.set(head.subarray(0, length));
      if (length === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(length);
      delivered += length;
      const more = this.options.callback.call(owner, length, buffer) !== false;
      // As net's onStreamRead: the next buffer is asked for after each read.
      this.buffer = this.nextBuffer() ?? this.buffer;
      if (!more) this.stopped = true;
    }
    return delivered;
  }

  private nextBuffer(): Uint8Array | undefined {
    const { buffer } = this.options;
    if (typeof buffer !== 'function') return buffer;
    const next = buffer();
    return isUint8Array(next) ? next : undefined;
  }
}
