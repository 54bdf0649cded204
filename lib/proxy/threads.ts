// `epoll-reactor proxy --threads N`: N worker_threads, each a whole Proxy on
// a reactor of its own, all listening on one port with SO_REUSEPORT, so the
// kernel spreads clients among them and forwarding runs on N reactor
// threads. This side starts them, sums their stats, stops them together and
// restarts one that dies while the others keep the port.
import { EventEmitter } from 'node:events';
import * as path from 'node:path';

import { startThread, WorkerHandle } from '../pool-workers';
import type { ProxyOptions } from './options';
import type { ProxyStats, UpstreamStats } from './proxy';

const THREAD_ENTRY = path.join(__dirname, '..', '..', 'dist', 'proxy', 'thread.js');
// A dead thread is started again after this long; a proxy thread runs no
// application code, so a crash loop is not expected, only guarded against.
const RESTART_DELAY_MS = 1000;
// A thread that does not answer a stats request in this time counts with its last stats.
const REPLY_MS = 2000;
// After its last connection ended, a thread that has not exited by then is terminated.
const EXIT_AFTER_STOP_MS = 2000;

type Reply = Record<string, unknown>;

/** What a thread is started with: the options, and the shared count of open clients. */
export type ProxyThreadConfig = ProxyOptions & { openClients: SharedArrayBuffer; threadIndex: number };

class ProxyThread {
  handle: WorkerHandle | undefined;
  lastStats: ProxyStats | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  readonly waiters = new Map<number, (reply: Reply | undefined) => void>();
  stopped: ((reply: Reply | undefined) => void) | undefined;

  constructor(readonly index: number) {}
}

function sumStats(parts: ProxyStats[], listening: string | null): ProxyStats {
  const upstreams: UpstreamStats[] = parts[0].upstreams.map((first, i) => {
    const all = parts.map((part) => part.upstreams[i]);
    const sum = (key: 'active' | 'total' | 'bytesUp' | 'bytesDown' | 'errors'): number =>
      all.reduce((total, upstream) => total + upstream[key], 0);
    const coolingForMs = Math.max(...all.map((upstream) => upstream.coolingForMs));
    const lastError = all.find((upstream) => upstream.lastError !== undefined)?.lastError;
    return {
      address: first.address,
      ...(first.servername === undefined ? {} : { servername: first.servername }),
      // Each thread keeps its own health record: cooling if any thread skips it.
      state: all.some((upstream) => upstream.state === 'cooling') ? 'cooling' : 'healthy',
      active: sum('active'), total: sum('total'), bytesUp: sum('bytesUp'), bytesDown: sum('bytesDown'), errors: sum('errors'),
      consecutiveFailures: Math.max(...all.map((upstream) => upstream.consecutiveFailures)),
      coolingForMs,
      ...(lastError === undefined ? {} : { lastError }),
    };
  });
  const total = (key: 'active' | 'accepted' | 'dropped' | 'unserved' | 'idleTimeouts'): number =>
    parts.reduce((sum, part) => sum + part[key], 0);
  return {
    listening,
    active: total('active'),
    accepted: total('accepted'),
    dropped: total('dropped'),
    unserved: total('unserved'),
    idleTimeouts: total('idleTimeouts'),
    upstreams,
    threads: parts.map((part) => ({ active: part.active, accepted: part.accepted })),
  };
}

/**
 * The proxy on several reactor threads, with the surface the command line
 * uses. Emits 'thread-exit' `(index, code, error?)` when a thread dies
 * outside a stop; it is restarted after a second, and 'thread-restart'
 * `(index)` says when the new one listens.
 */
export class ProxyThreads extends EventEmitter {
  private readonly threads: ProxyThread[];
  // --max-connections over all threads (lib/proxy/proxy.ts SharedLimit):
  // [0] the open clients of all, [1 + i] thread i's share of them.
  private readonly openClients: Int32Array;
  private address: string | undefined;
  private port = 0;
  private stopping: Promise<number> | undefined;
  private seq = 0;

  /** `entry` is the thread's script; tests give one that crashes. */
  constructor(readonly options: ProxyOptions, private readonly entry: string = THREAD_ENTRY) {
    super();
    this.threads = Array.from({ length: options.threads }, (_, index) => new ProxyThread(index));
    this.openClients = new Int32Array(new SharedArrayBuffer(4 * (1 + options.threads)));
  }

  /** Starts the first thread (it may choose the port), then the rest on that port; resolves with the address. */
  async start(): Promise<string> {
    try {
      await this.startThread(this.threads[0]);
      await Promise.all(this.threads.slice(1).map((thread) => this.startThread(thread)));
    } catch (error) {
      await this.stop(0);
      throw error;
    }
    return this.address as string;
  }

  /** Every thread's stats, summed; per upstream, summed over threads. */
  async stats(): Promise<ProxyStats> {
    const replies = await Promise.all(this.threads.map((thread) => this.ask(thread, 'stats')));
    const parts = this.threads.map((thread, i) => {
      const stats = replies[i]?.stats as ProxyStats | undefined;
      if (stats !== undefined) thread.lastStats = stats;
      return thread.lastStats;
    }).filter((stats): stats is ProxyStats => stats !== undefined);
    return sumStats(parts, this.stopping === undefined ? this.address ?? null : null);
  }

  /** Client connections open now, over all threads. */
  async openConnections(): Promise<number> {
    const replies = await Promise.all(this.threads.map((thread) => this.ask(thread, 'count')));
    return replies.reduce((sum, reply) => sum + ((reply?.open as number | undefined) ?? 0), 0);
  }

  /**
   * Stops every thread as Proxy.stop stops one: no new clients, open ones
   * get `graceMs`, then the rest are closed. Resolves, once every thread has
   * exited, with the number closed at the deadline. Called again while
   * stopping, it passes the shorter grace on and returns the same promise.
   */
  stop(graceMs: number = this.options.shutdownGraceMs): Promise<number> {
    for (const thread of this.threads) {
      if (thread.restartTimer !== undefined) clearTimeout(thread.restartTimer);
      thread.restartTimer = undefined;
      thread.handle?.send({ type: 'stop', graceMs });
    }
    this.stopping ??= Promise.all(this.threads.map((thread) => this.awaitStopped(thread)))
      .then((forced) => forced.reduce((sum, count) => sum + count, 0));
    return this.stopping;
  }

  private startThread(thread: ProxyThread): Promise<void> {
    const options: ProxyOptions = this.port === 0 ? this.options
      : { ...this.options, listen: { ...(this.options.listen as { host: string }), port: this.port } };
    const config: ProxyThreadConfig = { ...options, openClients: this.openClients.buffer as SharedArrayBuffer, threadIndex: thread.index };
    const handle = startThread(this.entry, config);
    thread.handle = handle;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      let failure: Error | undefined;
      handle.onMessage((message) => {
        if (message.type === 'listening') {
          started = true;
          this.address ??= message.address as string;
          if (this.port === 0) this.port = message.port as number;
          resolve();
        } else if (message.type === 'start-error') {
          failure = Object.assign(new Error(message.message as string), { code: message.code });
        } else if (message.type === 'stopped') {
          thread.lastStats = message.stats as ProxyStats;
          thread.stopped?.(message);
        } else {
          thread.waiters.get(message.seq as number)?.(message);
        }
      });
      void handle.ended.then((end) => {
        if (thread.handle !== handle) return;
        thread.handle = undefined;
        // Its clients went with it (a thread that stopped has none left).
        Atomics.sub(this.openClients, 0, Atomics.exchange(this.openClients, 1 + thread.index, 0));
        for (const waiter of thread.waiters.values()) waiter(undefined);
        thread.stopped?.(undefined);
        if (!started) {
          reject(failure ?? end.error ?? new Error(`proxy thread ${thread.index} exited with code ${end.code} before listening`));
        }
        if (this.stopping !== undefined || !started) return;
        this.emit('thread-exit', thread.index, end.code, end.error);
        thread.restartTimer = setTimeout(() => {
          thread.restartTimer = undefined;
          // One that cannot start again ends the same way and is tried again.
          this.startThread(thread).then(() => this.emit('thread-restart', thread.index), () => {});
        }, RESTART_DELAY_MS);
      });
    });
  }

  private ask(thread: ProxyThread, type: 'stats' | 'count'): Promise<Reply | undefined> {
    const handle = thread.handle;
    if (handle === undefined) return Promise.resolve(undefined);
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), REPLY_MS);
      const done = (reply: Reply | undefined): void => {
        clearTimeout(timer);
        thread.waiters.delete(seq);
        resolve(reply);
      };
      thread.waiters.set(seq, done);
      handle.send({ type, seq });
    });
  }

  private async awaitStopped(thread: ProxyThread): Promise<number> {
    const handle = thread.handle;
    if (handle === undefined) return 0;
    const reply = await new Promise<Reply | undefined>((resolve) => {
      thread.stopped = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([handle.ended.then(() => true),
      new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), EXIT_AFTER_STOP_MS); })]);
    clearTimeout(timer);
    if (!exited) {
      handle.kill();
      await handle.ended;
    }
    return (reply?.forced as number | undefined) ?? 0;
  }
}
