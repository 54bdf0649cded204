// Serving one port from every core: N workers (worker_threads or cluster
// processes), each with its own reactor and its own SO_REUSEPORT listening
// socket, so the kernel spreads new connections among them and no thread
// accepts for the others. The main thread starts the workers, restarts one
// that dies (the others keep the port open meanwhile), sums their counters
// and shuts them all down gracefully.
import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { binding } from './binding';
import { invalidArgType, invalidArgValue } from './errors';
import { startProcess, startThread, WorkerHandle } from './pool-workers';
import { validateBoolean, validateInteger, validatePort, validateString } from './validate';

/** How the workers of a {@link ServerPool} run: threads of this process, or processes of their own. */
export type ServerPoolMode = 'threads' | 'cluster';

/** Options for {@link serveOnWorkers}. */
export interface ServerPoolOptions {
  /**
   * Path of the module each worker loads (use `require.resolve()`). It
   * exports the connection listener: `module.exports = (socket) => {...}`,
   * or an object `{ connectionListener, serverOptions?, setup? }` (see
   * {@link ServerPoolHandler}). CommonJS or an ES module.
   */
  module: string;
  /** TCP port; 0 (the default) picks a free one, shared by every worker. */
  port?: number;
  /** Address to bind, as for `Server.listen`; default `::` (dual-stack). */
  host?: string;
  /** Number of workers; default `os.availableParallelism()`. */
  workers?: number;
  /**
   * `'threads'` (default): worker_threads of this process. `'cluster'`:
   * processes forked with node:cluster, for isolation (a native crash or an
   * out-of-memory takes one worker, not the rest).
   */
  mode?: ServerPoolMode;
  /** Length of each worker's pending-connection queue (default 511). */
  backlog?: number;
  /** With host `::`, accept IPv6 only. */
  ipv6Only?: boolean;
  /**
   * Share the port with other sockets that set SO_REUSEPORT (another pool
   * of the same user, a new version started before the old one closes).
   * Default false: a port something else listens on rejects with
   * `EADDRINUSE`, as `net.Server#listen` does, instead of the two silently
   * splitting the connections.
   */
  reusePort?: boolean;
  /**
   * On {@link ServerPool.close}, how long open connections may take to end
   * before they are destroyed. Default 10000 ms.
   */
  shutdownGraceMs?: number;
  /**
   * Delay before a dead worker is restarted. It doubles for each further
   * death of a worker that had run less than 10 s, up to
   * `maxRestartDelayMs`, so a handler that crashes at once does not spin
   * (with 0, the first restart is at once and the next double from 1 ms).
   * Default 100 ms.
   */
  restartDelayMs?: number;
  /** The longest restart delay. Default 10000 ms. */
  maxRestartDelayMs?: number;
  /** `'cluster'` mode: Node options for the worker processes. Default `process.execArgv`. */
  execArgv?: string[];
}

/**
 * What a handler module may export as an object, instead of the bare
 * connection listener.
 *
 * @example
 * ```js
 * // handler.js, loaded in every worker
 * exports.serverOptions = { noDelay: true };
 * exports.connectionListener = (socket) => socket.pipe(socket);
 * exports.setup = (server) => { server.maxConnections = 10000; };
 * ```
 */
export interface ServerPoolHandler {
  /** Receives each connection the worker accepts, as createServer's listener does. */
  connectionListener: (socket: import('./socket').Socket) => void;
  /** Options for the worker's server, as for createServer. */
  serverOptions?: import('./server').ServerOptions;
  /** Called with the worker's server before it listens (to set maxConnections, add listeners). */
  setup?: (server: import('./server').Server) => void;
}

/** Counters of one worker, or of all of them summed. */
export interface WorkerCounters {
  /** Connections accepted. */
  accepted: number;
  /** Connections open now. */
  active: number;
  /** Bytes received on accepted connections. */
  bytesRead: number;
  /** Bytes written to accepted connections. */
  bytesWritten: number;
}

/** One worker of a pool, as events and {@link ServerPool.workers} describe it. */
export interface ServerPoolWorker {
  /** Its place in the pool, 0 to workers - 1; a restarted worker keeps it. */
  index: number;
  /** The process id (`'cluster'`) or thread id (`'threads'`) of the running worker; -1 while none runs. */
  id: number;
  /** Whether it is listening now. */
  online: boolean;
  /** How many times this place has been restarted. */
  restarts: number;
}

/** How a worker ended, as the 'exit' event reports it. */
export interface ServerPoolWorkerExit {
  /** Exit code, or null when ended by a signal. */
  code: number | null;
  /** The signal that ended a cluster worker, or null. */
  signal: NodeJS.Signals | null;
  /** The uncaught error that ended a thread, or the error that kept a worker from listening. */
  error?: Error;
  /** True when the pool ended it (close()); false for a crash, which is followed by a restart. */
  expected: boolean;
}

/** Counters per worker and summed, from {@link ServerPool.stats}. */
export interface ServerPoolStats extends WorkerCounters {
  /** Worker restarts since the pool started. */
  restarts: number;
  /** Per worker, in index order. */
  workers: Array<ServerPoolWorker & WorkerCounters>;
}

/** @internal What the main thread gives each worker. */
export interface ServerPoolWorkerConfig {
  module: string;
  port: number;
  boundPort?: number;
  host?: string;
  backlog?: number;
  ipv6Only?: boolean;
}

/** @internal Messages from a worker. */
export type WorkerToPrimary =
  | { type: 'listening'; address: string; port: number; family: string }
  | { type: 'start-error'; message: string; stack?: string; code?: string }
  | { type: 'stats'; seq: number; counters: WorkerCounters }
  | { type: 'closed'; forced: number; counters: WorkerCounters };

// A worker that ran this long before dying restarts after the base delay again.
const STABLE_RUN_MS = 10_000;
// A worker that has closed its server but not exited by then (a timer or
// handle of the application's keeps it alive) is ended.
const EXIT_AFTER_CLOSE_MS = 2000;
// A worker that does not answer a stats request in this time (its JS thread
// is stuck) is reported with the counters it gave last.
const STATS_REPLY_MS = 2000;

const WORKER_ENTRY = path.join(__dirname, '..', 'dist', 'server-pool-worker.js');

const zeroCounters = (): WorkerCounters => ({ accepted: 0, active: 0, bytesRead: 0, bytesWritten: 0 });

function addCounters(into: WorkerCounters, more: WorkerCounters): void {
  into.accepted += more.accepted;
  into.active += more.active;
  into.bytesRead += more.bytesRead;
  into.bytesWritten += more.bytesWritten;
}

/** One place in the pool and the worker currently filling it. */
class Slot {
  handle: WorkerHandle | undefined;
  online = false;
  restarts = 0;
  quickDeaths = 0;
  startedAt = 0;
  restartTimer: NodeJS.Timeout | undefined;
  /** Counters of earlier workers in this place, as they last reported them. */
  readonly earlier = zeroCounters();
  /** The running worker's counters as it last reported them. */
  latest = zeroCounters();
  stopping = false;
  readonly statsWaiters = new Map<number, (counters: WorkerCounters) => void>();
  closedWaiter: (() => void) | undefined;

  constructor(readonly index: number) {}

  describe(): ServerPoolWorker {
    return { index: this.index, id: this.handle?.id ?? -1, online: this.online, restarts: this.restarts };
  }
}

function startError(message: Extract<WorkerToPrimary, { type: 'start-error' }>): Error {
  const error = new Error(message.message) as Error & { code?: string };
  if (message.stack !== undefined) error.stack = message.stack;
  if (message.code !== undefined) error.code = message.code;
  return error;
}

let warnedThreadsFallback = false;

/** Listens on `options` with node:net and closes again; rejects with net's error (EADDRINUSE, EACCES). */
function listenOnce(options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(options, () => probe.close(() => resolve()));
  });
}

/**
 * A group of workers serving one port; see {@link serveOnWorkers}.
 *
 * Events:
 * - `'online'` `(worker: ServerPoolWorker)`: a worker (first or restarted) listens.
 * - `'exit'` `(worker: ServerPoolWorker, exit: ServerPoolWorkerExit)`: a worker ended.
 * - `'restart'` `(worker: ServerPoolWorker, delayMs: number)`: a dead worker will be started again after `delayMs`.
 * - `'close'` `()`: every worker has closed its server and exited.
 *
 * @example
 * ```ts
 * const pool = await serveOnWorkers({ module: require.resolve('./echo.js'), port: 7000, workers: 4 });
 * pool.on('exit', (worker, exit) => console.error(`worker ${worker.index} died`, exit));
 * process.once('SIGTERM', () => void pool.close());
 * ```
 */
export class ServerPool extends EventEmitter {
  /** How the workers run. Off Linux `'threads'` runs as `'cluster'` (see {@link serveOnWorkers}). */
  readonly mode: ServerPoolMode;
  private readonly slots: Slot[];
  private readonly config: ServerPoolWorkerConfig;
  private readonly options: Required<Pick<ServerPoolOptions,
    'shutdownGraceMs' | 'restartDelayMs' | 'maxRestartDelayMs' | 'execArgv'>>;
  private bound: { address: string; port: number; family: string } | undefined;
  private closing: Promise<void> | undefined;
  private running = false;  // every worker started once; from now on a death means a restart
  private statsSeq = 0;

  /** @internal Use {@link serveOnWorkers}. */
  constructor(mode: ServerPoolMode, workers: number, config: ServerPoolWorkerConfig,
    options: ServerPool['options']) {
    super();
    this.mode = mode;
    this.config = config;
    this.options = options;
    this.slots = Array.from({ length: workers }, (_, index) => new Slot(index));
  }

  /** The address every worker listens on, as `net.Server#address()` gives it; null once closed. */
  address(): { address: string; family: string; port: number } | null {
    return this.bound === undefined || this.closing !== undefined ? null : { ...this.bound };
  }

  /** The workers, in index order. */
  workers(): ServerPoolWorker[] {
    return this.slots.map((slot) => slot.describe());
  }

  /**
   * Asks every worker for its counters and sums them. A worker that does not
   * answer within 2 s, or is between a crash and its restart, counts with
   * the counters it reported last; those of a worker that died count as of
   * its last report before it died.
   */
  async stats(): Promise<ServerPoolStats> {
    const perSlot = await Promise.all(this.slots.map((slot) => this.askCounters(slot)));
    const total: ServerPoolStats = { ...zeroCounters(), restarts: 0, workers: [] };
    this.slots.forEach((slot, i) => {
      const counters = zeroCounters();
      addCounters(counters, slot.earlier);
      // A worker that answered and then died: its answer is in `earlier` now.
      const answer = perSlot[i].handle === slot.handle ? perSlot[i].counters : zeroCounters();
      addCounters(counters, answer);
      counters.active = answer.active;
      addCounters(total, counters);
      total.restarts += slot.restarts;
      total.workers.push({ ...slot.describe(), ...counters });
    });
    return total;
  }

  /**
   * Shuts the pool down: every worker stops accepting, lets its open
   * connections end for up to `graceMs` (default `shutdownGraceMs`), destroys
   * the rest, and exits; no worker is restarted after this. Resolves once
   * every worker has exited, after which the pool holds nothing that keeps
   * the process alive. Calling it again returns the same promise.
   */
  close(graceMs: number = this.options.shutdownGraceMs): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    // A promise-returning call rejects on a bad argument, as node's promise APIs do.
    try {
      validateInteger(graceMs, 'graceMs', 0, 2 ** 31 - 1);
    } catch (error) {
      return Promise.reject(error);
    }
    this.closing = Promise.all(this.slots.map((slot) => this.stopSlot(slot, graceMs))).then(() => {
      process.nextTick(() => this.emit('close'));
    });
    return this.closing;
  }

  /** @internal Starts every worker: the first alone (it may choose the port), then the rest. */
  async start(reusePort: boolean): Promise<void> {
    // The workers share the port among themselves with SO_REUSEPORT, which
    // would let them share it with anyone else who sets it too: first, a
    // plain listen of the port says whether something holds it.
    if (!reusePort && this.config.port !== 0) {
      await listenOnce({ port: this.config.port, host: this.config.host, ipv6Only: this.config.ipv6Only, exclusive: true });
    }
    try {
      await this.startSlot(this.slots[0]);
      await Promise.all(this.slots.slice(1).map((slot) => this.startSlot(slot)));
      this.running = true;
    } catch (error) {
      await this.close(0);
      throw error;
    }
  }

  private startSlot(slot: Slot): Promise<void> {
    const config: ServerPoolWorkerConfig = { ...this.config, boundPort: this.bound?.port };
    const handle = this.mode === 'threads'
      ? startThread(WORKER_ENTRY, config)
      : startProcess(WORKER_ENTRY, config, this.options.execArgv);
    slot.handle = handle;
    slot.online = false;
    slot.stopping = false;
    slot.startedAt = Date.now();
    slot.latest = zeroCounters();
    return new Promise<void>((resolve, reject) => {
      let started = false;
      let failure: Error | undefined;
      // A worker that failed to start ends itself, unless the application's
      // module left a timer or handle running: it is ended then, so that the
      // start rejects (or a restart is tried again).
      let endFailed: NodeJS.Timeout | undefined;
      handle.onMessage((message) => {
        const typed = message as WorkerToPrimary;
        switch (typed.type) {
          case 'listening':
            started = true;
            slot.online = true;
            this.bound ??= { address: typed.address, port: typed.port, family: typed.family };
            // A replacement that was starting when close() was called is
            // stopped, not announced.
            if (this.closing === undefined) this.emit('online', slot.describe());
            resolve();
            break;
          case 'start-error':
            failure = startError(typed);
            endFailed ??= setTimeout(() => handle.kill(), EXIT_AFTER_CLOSE_MS);
            break;
          case 'stats':
            slot.latest = typed.counters;
            slot.statsWaiters.get(typed.seq)?.(typed.counters);
            break;
          case 'closed':
            slot.latest = typed.counters;
            slot.closedWaiter?.();
            break;
        }
      });
      void handle.ended.then((end) => {
        clearTimeout(endFailed);
        if (slot.handle !== handle) return;
        slot.online = false;
        const described = slot.describe();
        // Gone before 'exit' is emitted: close() from an 'exit' listener
        // finds nothing to wait for here.
        slot.handle = undefined;
        addCounters(slot.earlier, { ...slot.latest, active: 0 });
        slot.latest = zeroCounters();
        for (const waiter of slot.statsWaiters.values()) waiter(zeroCounters());
        slot.closedWaiter?.();
        const expected = slot.stopping || this.closing !== undefined;
        const error = failure ?? end.error ??
          (started ? undefined : new Error(`worker ${slot.index} exited (${end.signal ?? `code ${end.code}`}) before listening`));
        const reason = failure ?? end.error;
        if (reason !== undefined && !expected && this.running && this.listenerCount('exit') === 0) {
          // A crashed process prints its own uncaught error; a thread's, or
          // why a restart failed, comes here and would otherwise go unseen.
          process.stderr.write(`epoll-reactor: worker ${slot.index} (${this.mode === 'threads' ? 'thread' : 'pid'} ${handle.id}) ` +
            `died: ${reason.stack ?? reason}\n`);
        }
        this.emit('exit', described, { code: end.code, signal: end.signal, error, expected } satisfies ServerPoolWorkerExit);
        if (!started) reject(error);
        // Not if an 'exit' listener closed the pool.
        if (!expected && this.closing === undefined && (started || this.running)) this.scheduleRestart(slot);
      });
    });
  }

  private scheduleRestart(slot: Slot): void {
    if (Date.now() - slot.startedAt >= STABLE_RUN_MS) slot.quickDeaths = 0;
    // Doubled from at least 1 ms: with restartDelayMs 0, a worker that dies
    // at once is restarted at once the first time, then backs off too.
    const base = slot.quickDeaths === 0 ? this.options.restartDelayMs : Math.max(1, this.options.restartDelayMs);
    const delay = Math.min(this.options.maxRestartDelayMs, base * 2 ** slot.quickDeaths);
    slot.quickDeaths++;
    this.emit('restart', slot.describe(), delay);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.closing !== undefined) return;
      slot.restarts++;
      // A worker that cannot start again ends like one that crashed, and its
      // exit schedules the next try.
      this.startSlot(slot).catch(() => {});
    }, delay);
  }

  /** The counters of the worker in `slot` now, with which worker (handle) gave them. */
  private askCounters(slot: Slot): Promise<{ handle: WorkerHandle | undefined; counters: WorkerCounters }> {
    const handle = slot.handle;
    if (handle === undefined || !slot.online) return Promise.resolve({ handle, counters: slot.latest });
    const seq = ++this.statsSeq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(slot.latest), STATS_REPLY_MS);
      const done = (counters: WorkerCounters): void => {
        clearTimeout(timer);
        slot.statsWaiters.delete(seq);
        resolve({ handle, counters });
      };
      slot.statsWaiters.set(seq, done);
      handle.send({ type: 'stats', seq });
    });
  }

  private async stopSlot(slot: Slot, graceMs: number): Promise<void> {
    if (slot.restartTimer !== undefined) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    const handle = slot.handle;
    if (handle === undefined) return;
    slot.stopping = true;
    const closed = new Promise<void>((resolve) => {
      slot.closedWaiter = resolve;
    });
    handle.send({ type: 'close', graceMs });
    // The worker destroys what is left at graceMs; allow it that long to say
    // so, and a little longer to exit, before ending it.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      // (Node's timers take at most 2^31 - 1 ms, and run a longer one at once.)
      timer = setTimeout(resolve, Math.min(graceMs + EXIT_AFTER_CLOSE_MS, 2 ** 31 - 1));
    });
    await Promise.race([closed, deadline]);
    clearTimeout(timer);
    const exited = await Promise.race([handle.ended.then(() => true),
      new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), EXIT_AFTER_CLOSE_MS); })]);
    clearTimeout(timer);
    if (!exited) {
      handle.kill();
      await handle.ended;
    }
  }
}

/**
 * Serves one port from several workers, each running the same connection
 * listener on a reactor of its own. Every worker listens with SO_REUSEPORT
 * on the same address and port, so the kernel spreads incoming connections
 * among them by a hash of each connection's addresses and ports; no thread
 * accepts for the others, and when one worker dies the rest keep the port.
 *
 * Each worker loads `options.module`, which exports the connection listener
 * (and optionally server options; see {@link ServerPoolHandler}). Code in it
 * runs once per worker, so state there is per worker.
 *
 * A worker that dies (an uncaught exception, `process.exit()` in the
 * handler, a signal) is restarted in the same place after `restartDelayMs`,
 * with backoff for repeated quick deaths. Connections it had open are lost;
 * so are connections the kernel had already queued on its listening socket
 * and not yet accepted: closing an SO_REUSEPORT socket resets its queue
 * rather than handing it to the others.
 *
 * Off Linux, where there is no native reactor, workers use node:net. Node
 * 20's node:net cannot give several threads one port, so `'threads'` runs as
 * `'cluster'` there (with a warning), and the cluster workers share the
 * primary's one listening socket, which node:cluster hands connections from
 * in turn.
 *
 * Resolves once every worker listens; rejects, with nothing left running,
 * if any worker fails to start (the module throws or exports no listener,
 * the port is taken).
 *
 * @example
 * ```js
 * // echo.js
 * module.exports = (socket) => socket.on('data', (chunk) => socket.write(chunk));
 * ```
 * ```ts
 * import { serveOnWorkers } from 'epoll-reactor';
 *
 * const pool = await serveOnWorkers({
 *   module: require.resolve('./echo.js'), port: 7000, host: '127.0.0.1', workers: 4, mode: 'threads',
 * });
 * console.log('listening on', pool.address());
 * setInterval(async () => console.log(await pool.stats()), 10_000).unref();
 * process.once('SIGTERM', () => void pool.close());
 * ```
 */
export function serveOnWorkers(options: ServerPoolOptions): Promise<ServerPool> {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  validateString(options.module, 'options.module');
  const modulePath = require.resolve(path.resolve(options.module));
  const port = options.port === undefined ? 0 : validatePort(options.port, 'options.port');
  if (options.host !== undefined) validateString(options.host, 'options.host');
  const workers = options.workers ?? os.availableParallelism();
  validateInteger(workers, 'options.workers', 1, 1024);
  let mode = options.mode ?? 'threads';
  if (mode !== 'threads' && mode !== 'cluster') {
    throw invalidArgValue('options.mode', mode, "must be 'threads' or 'cluster'");
  }
  if (options.backlog !== undefined) validateInteger(options.backlog, 'options.backlog', 0, 2 ** 31 - 1);
  const shutdownGraceMs = options.shutdownGraceMs ?? 10_000;
  validateInteger(shutdownGraceMs, 'options.shutdownGraceMs', 0, 2 ** 31 - 1);
  const restartDelayMs = options.restartDelayMs ?? 100;
  validateInteger(restartDelayMs, 'options.restartDelayMs', 0, 2 ** 31 - 1);
  const maxRestartDelayMs = options.maxRestartDelayMs ?? 10_000;
  validateInteger(maxRestartDelayMs, 'options.maxRestartDelayMs', restartDelayMs, 2 ** 31 - 1);
  const execArgv = options.execArgv ?? process.execArgv;
  if (!Array.isArray(execArgv) || !execArgv.every((argument) => typeof argument === 'string')) {
    throw invalidArgType('options.execArgv', 'an array of strings', execArgv);
  }

  if (mode === 'threads' && !binding.available) {
    mode = 'cluster';
    if (!warnedThreadsFallback) {
      warnedThreadsFallback = true;
      process.emitWarning("serveOnWorkers: node:net servers in worker threads cannot share a port; running mode 'threads' as 'cluster'",
        { code: 'EPOLL_REACTOR_THREADS_AS_CLUSTER' });
    }
  }
  if (mode === 'cluster' && !cluster.isPrimary) {
    throw Object.assign(new Error("serveOnWorkers: mode 'cluster' must be started from the cluster primary"),
      { code: 'ERR_INVALID_STATE' });
  }

  if (options.reusePort !== undefined) validateBoolean(options.reusePort, 'options.reusePort');

  const pool = new ServerPool(mode, workers, {
    module: modulePath, port, host: options.host, backlog: options.backlog, ipv6Only: options.ipv6Only,
  }, { shutdownGraceMs, restartDelayMs, maxRestartDelayMs, execArgv });
  return pool.start(options.reusePort === true).then(() => pool);
}
