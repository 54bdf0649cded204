// A worker as the main thread sees it, whether it is a worker_thread or a
// cluster process: start it with a JSON config, exchange plain messages, kill
// it, learn once how it ended. The server pool (lib/server-pool.ts) and the
// proxy's --threads (lib/proxy/threads.ts) both drive workers through this.
import cluster from 'node:cluster';
import type { Worker as ClusterWorker } from 'node:cluster';
import { parentPort, Worker, workerData } from 'node:worker_threads';

/** How a worker ended: its exit code or signal, and the uncaught error of a thread, if any. */
export interface WorkerEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** One running worker: a thread or a process. */
export interface WorkerHandle {
  /** The process id (cluster) or the thread id (threads). */
  readonly id: number;
  /** Sends a structured-clonable (threads) or JSON (cluster) message. */
  send(message: object): void;
  /** Calls `listener` for every message the worker sends. */
  onMessage(listener: (message: Record<string, unknown>) => void): void;
  /** Resolves once, when the worker has exited for whatever reason. */
  readonly ended: Promise<WorkerEnd>;
  /** Ends the worker at once: terminate() for a thread, SIGKILL for a process. */
  kill(): void;
}

/** The environment variable a cluster worker reads its config from. */
export const WORKER_CONFIG_ENV = 'EPOLL_REACTOR_WORKER_CONFIG';

/** Starts `entry` in a worker_thread with `config` as its workerData. */
export function startThread(entry: string, config: object): WorkerHandle {
  // stdout and stderr are passed through to the process's own, as by default.
  const worker = new Worker(entry, { workerData: config });
  let uncaught: Error | undefined;
  worker.on('error', (error) => {
    uncaught = error;
  });
  const ended = new Promise<WorkerEnd>((resolve) => {
    worker.once('exit', (code) => resolve({ code, signal: null, error: uncaught }));
  });
  return {
    id: worker.threadId,
    send: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.on('message', listener),
    ended,
    kill: () => void worker.terminate(),
  };
}

/**
 * Forks a cluster worker running `entry`, its config in the environment. The
 * primary's cluster settings are restored afterwards, so an application that
 * forks cluster workers of its own keeps its `exec`.
 */
export function startProcess(entry: string, config: object, execArgv: readonly string[]): WorkerHandle {
  // Unset settings mean cluster's defaults, which are these.
  const previous = {
    exec: cluster.settings.exec ?? process.argv[1],
    args: cluster.settings.args ?? process.argv.slice(2),
    execArgv: cluster.settings.execArgv ?? process.execArgv,
  };
  cluster.setupPrimary({ exec: entry, args: [], execArgv: [...execArgv] });
  let worker: ClusterWorker;
  try {
    worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
  } finally {
    cluster.setupPrimary(previous);
  }
  const ended = new Promise<WorkerEnd>((resolve) => {
    worker.once('exit', (code, signal) => resolve({ code, signal: (signal as NodeJS.Signals | null) ?? null }));
  });
  // An IPC write to a process that just died fails with EPIPE; its 'exit' tells the story.
  worker.on('error', () => {});
  return {
    id: worker.process.pid ?? -1,
    send: (message) => {
      if (worker.isConnected()) worker.send(message);
    },
    onMessage: (listener) => worker.on('message', listener),
    ended,
    kill: () => {
      if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill('SIGKILL');
    },
  };
}

/** The worker's side of the link: its config, and messages to and from the main thread. */
export interface PrimaryLink {
  readonly config: Record<string, unknown>;
  readonly kind: 'thread' | 'process';
  send(message: object): void;
  onMessage(listener: (message: Record<string, unknown>) => void): void;
  /**
   * Stops listening for messages, so that the worker ends once its own work
   * is done. A process leaves at once, as a cluster worker whose channel
   * closes does.
   */
  release(): void;
}

/** In a worker started by startThread or startProcess, its link; undefined anywhere else. */
export function linkToPrimary(): PrimaryLink | undefined {
  const port = parentPort;
  if (port !== null && workerData !== null && typeof workerData === 'object') {
    return {
      config: workerData as Record<string, unknown>,
      kind: 'thread',
      send: (message) => port.postMessage(message),
      onMessage: (listener) => port.on('message', listener),
      release: () => {
        port.removeAllListeners('message');
        port.unref();
      },
    };
  }
  const text = process.env[WORKER_CONFIG_ENV];
  if (text === undefined || typeof process.send !== 'function') return undefined;
  let unsent = 0;
  let releaseWhenSent = false;
  const disconnect = (): void => {
    if (process.connected) process.disconnect();
  };
  return {
    config: JSON.parse(text) as Record<string, unknown>,
    kind: 'process',
    send: (message) => {
      if (!process.connected) return;
      unsent++;
      process.send?.(message, undefined, {}, () => {
        if (--unsent === 0 && releaseWhenSent) disconnect();
      });
    },
    onMessage: (listener) => process.on('message', listener as (message: unknown) => void),
    // Disconnect only once every message is written; cluster's own
    // 'disconnect' handler then exits the worker.
    release: () => {
      releaseWhenSent = true;
      if (unsent === 0) disconnect();
    },
  };
}
