// Ends whatever a test started even when it fails half way: register servers,
// sockets, child processes and workers with `track()`, and call
// `releaseTracked()` in afterEach. A failed assertion then costs one test, not
// a jest run that never exits because a server is still listening.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';

interface Closable {
  close(callback?: (error?: Error) => void): unknown;
  listening: boolean;
  on(event: 'connection', listener: (socket: Destroyable) => void): unknown;
}

interface Destroyable {
  destroy(): unknown;
  destroyed: boolean;
}

const servers = new Set<Closable>();
const sockets = new Set<Destroyable>();
const children = new Set<ChildProcess>();
const workers = new Set<Worker>();
const directories = new Set<string>();

function isChild(value: unknown): value is ChildProcess {
  return typeof (value as ChildProcess).kill === 'function' && 'pid' in (value as object);
}

function isWorker(value: unknown): value is Worker {
  return typeof (value as Worker).terminate === 'function';
}

function isServer(value: unknown): value is Closable {
  return typeof (value as Closable).close === 'function' && 'listening' in (value as object);
}

/**
 * Registers something the current test started. A server's accepted sockets
 * are registered as they arrive. Returns its argument.
 */
export function track<T>(resource: T): T {
  if (isChild(resource)) {
    children.add(resource);
  } else if (isWorker(resource)) {
    workers.add(resource);
  } else if (isServer(resource)) {
    servers.add(resource);
    resource.on('connection', (socket) => sockets.add(socket));
  } else {
    sockets.add(resource as unknown as Destroyable);
  }
  return resource;
}

/** A fresh directory under the system's temporary one, removed by releaseTracked(). */
export function temporaryDirectory(prefix: string): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  directories.add(directory);
  return directory;
}

/**
 * Destroys every tracked socket, closes every server, kills every child by
 * pid, terminates every worker, removes every temporary directory.
 */
export async function releaseTracked(): Promise<void> {
  for (const socket of sockets) if (!socket.destroyed) socket.destroy();
  sockets.clear();
  for (const server of servers) if (server.listening) server.close();
  servers.clear();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  children.clear();
  await Promise.all([...workers].map((worker) => worker.terminate()));
  workers.clear();
  for (const directory of directories) fs.rmSync(directory, { recursive: true, force: true });
  directories.clear();
}

/** Destroys `socket` and resolves once it has closed (at once if it already has). */
export async function destroyAndWait(socket: { destroy(): unknown; closed: boolean; once(event: 'close', listener: () => void): unknown }): Promise<void> {
  if (socket.closed) return;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.destroy();
  await closed;
}
