// How this environment's reactor polls and reads, chosen before it starts.
// The defaults are what docs/benchmarks.md measured best; the other choices
// exist so that anyone can measure them again.
import { NativeReactorOptions } from './binding';
import { invalidArgValue, invalidState } from './errors';
import { hasReactorStarted, setReactorOptions } from './reactor';
import { validateInteger, validateObject } from './validate';

/** Options for {@link configure}. */
export interface ReactorOptions {
  /**
   * `'edge'` (default): every socket is registered once with `EPOLLET` and
   * drained on each edge, with no `epoll_ctl` per write or pause.
   * `'level'`: interest follows state, as in libuv: `EPOLLIN` while JS wants
   * data, `EPOLLOUT` only while a send is blocked, one `epoll_ctl` per change.
   * Forwarded pairs ({@link forward}) are edge-triggered in both modes.
   */
  trigger?: 'edge' | 'level';
  /**
   * When a socket's read loop stops. `'short-read'` (default): a `recv()`
   * that returns less than asked means the kernel queue is empty, which saves
   * the `recv()` that would only say `EAGAIN`. `'eagain'`: read until `EAGAIN`.
   */
  drain?: 'short-read' | 'eagain';
  /**
   * Bytes read from one socket per loop turn before others get a turn. Default 512 KiB.
   * Under 256 KiB, bulk streams lose the reads handed to JS without a copy
   * (each of those takes a whole 256 KiB).
   */
  readBudgetPerTurn?: number;
  /** Bytes one socket may have handed to JS unconsumed before reading stops. Default 1 MiB. */
  maxUnconsumedBytesPerSocket?: number;
  /** The same for all sockets of the reactor together. Default 64 MiB. */
  maxUnconsumedBytes?: number;
  /**
   * Where the reactor's loop runs. `'own'` (default): a native thread of its
   * own, which hands JS whole batches. `'js'`: this JS thread, driven by
   * libuv, with no thread to wake and no switch between two threads. On one
   * CPU, `'js'` serves a few busy connections faster (10 connections of 64 B
   * ping-pong: 1.18×, with lower latency) and many, bulk streams and
   * connection churn slower (100 connections: 0.96×; docs/benchmarks.md,
   * "Session 38"). The environment variable `EPOLL_REACTOR_THREAD` (`own` or
   * `js`) sets the default for processes that do not call this.
   */
  thread?: 'own' | 'js';
}

const MAX_BYTES = 2 ** 40;

/**
 * Sets how this environment's reactor polls and reads. Call it before the
 * first server or socket is created (each main thread or Worker has its own
 * reactor, started on first use); afterwards it throws `ERR_INVALID_STATE`.
 * Off Linux it validates and does nothing.
 *
 * @example
 * ```ts
 * configure({ trigger: 'level', drain: 'eagain' });
 * ```
 */
export function configure(options: ReactorOptions): void {
  validateObject(options, 'options');
  const native: NativeReactorOptions = {};
  const { trigger, drain, readBudgetPerTurn, maxUnconsumedBytesPerSocket, maxUnconsumedBytes, thread } = options;
  if (trigger !== undefined) {
    if (trigger !== 'edge' && trigger !== 'level') {
      throw invalidArgValue('options.trigger', trigger, "must be 'edge' or 'level'");
    }
    native.edgeTriggered = trigger === 'edge';
  }
  if (drain !== undefined) {
    if (drain !== 'short-read' && drain !== 'eagain') {
      throw invalidArgValue('options.drain', drain, "must be 'short-read' or 'eagain'");
    }
    native.shortReadDrains = drain === 'short-read';
  }
  if (readBudgetPerTurn !== undefined) {
    validateInteger(readBudgetPerTurn, 'options.readBudgetPerTurn', 4096, MAX_BYTES);
    native.readBudgetPerTurn = readBudgetPerTurn;
  }
  if (maxUnconsumedBytesPerSocket !== undefined) {
    validateInteger(maxUnconsumedBytesPerSocket, 'options.maxUnconsumedBytesPerSocket', 65536, MAX_BYTES);
    native.unackedCapPerSocket = maxUnconsumedBytesPerSocket;
  }
  if (maxUnconsumedBytes !== undefined) {
    validateInteger(maxUnconsumedBytes, 'options.maxUnconsumedBytes', 65536, MAX_BYTES);
    native.unackedCapTotal = maxUnconsumedBytes;
  }
  if (thread !== undefined) {
    if (thread !== 'own' && thread !== 'js') {
      throw invalidArgValue('options.thread', thread, "must be 'own' or 'js'");
    }
    native.ownThread = thread === 'own';
  }
  if (hasReactorStarted()) {
    throw invalidState('configure() must be called before the first server or socket of this thread is created');
  }
  setReactorOptions(native);
}
