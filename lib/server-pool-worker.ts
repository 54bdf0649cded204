// What runs inside each worker of a server pool (lib/server-pool.ts), thread
// or cluster process: load the application's handler module, listen with
// SO_REUSEPORT on the pool's port with a reactor of this worker's own, count
// connections and bytes, and close gracefully when the main thread says so.
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

import { createServer, isNative, Server, Socket } from './index';
import { linkToPrimary } from './pool-workers';
import type { ServerPoolWorkerConfig, WorkerCounters, WorkerToPrimary } from './server-pool';
import type { ServerOptions } from './server';

/** The shapes a handler module may export, normalized. */
interface Handler {
  connectionListener: (socket: Socket) => void;
  serverOptions: ServerOptions | undefined;
  setup: ((server: Server) => void) | undefined;
}

// tsc turns import() into require() under "module": "commonjs"; this keeps a
// real dynamic import for handler modules that are ES modules.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

async function loadModule(file: string): Promise<unknown> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw error;
    return importModule(pathToFileURL(file).href);
  }
}

function asHandler(exported: unknown, file: string): Handler {
  let value = exported as Record<string, unknown> | ((socket: Socket) => void) | null | undefined;
  // An ES module's default export, or a CommonJS module compiled from one.
  if (value !== null && typeof value === 'object' && 'default' in value && !('connectionListener' in value)) {
    value = value.default as typeof value;
  }
  if (typeof value === 'function') {
    const fn = value as ((socket: Socket) => void) & Record<string, unknown>;
    return { connectionListener: fn, serverOptions: fn.serverOptions as ServerOptions | undefined,
      setup: fn.setup as Handler['setup'] };
  }
  if (value !== null && typeof value === 'object' && typeof value.connectionListener === 'function') {
    return {
      connectionListener: value.connectionListener as Handler['connectionListener'],
      serverOptions: value.serverOptions as ServerOptions | undefined,
      setup: typeof value.setup === 'function' ? value.setup as Handler['setup'] : undefined,
    };
  }
  throw Object.assign(
    new TypeError(`${file} must export a connection listener: module.exports = (socket) => {...}, ` +
      'or an object with a connectionListener function'),
    { code: 'ERR_INVALID_ARG_TYPE' });
}

function describeError(error: unknown): WorkerToPrimary {
  const { message, stack, code } = error as NodeJS.ErrnoException;
  return { type: 'start-error', message: String(message ?? error), stack, code };
}

async function main(): Promise<void> {
  const link = linkToPrimary();
  if (link === undefined) {
    throw new Error('server-pool-worker.js is started by serveOnWorkers(); it is not a program of its own');
  }
  const config = link.config as unknown as ServerPoolWorkerConfig;
  const send = (message: WorkerToPrimary): void => link.send(message);
  // Ctrl-C in a terminal signals the whole process group, and so do
  // systemd's stop and `kill -TERM -<pgid>`; the main process decides how the
  // pool shuts down (close() with its grace), and a worker whose main
  // process is gone exits with its IPC channel.
  if (link.kind === 'process') {
    process.on('SIGINT', () => {});
    process.on('SIGTERM', () => {});
  }

  let handler: Handler;
  try {
    handler = asHandler(await loadModule(config.module), config.module);
  } catch (error) {
    send(describeError(error));
    link.release();
    return;
  }

  const server = createServer(handler.serverOptions ?? {}, handler.connectionListener);
  const counters: WorkerCounters = { accepted: 0, active: 0, bytesRead: 0, bytesWritten: 0 };
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    counters.accepted++;
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      counters.bytesRead += socket.bytesRead;
      counters.bytesWritten += socket.bytesWritten;
    });
  });
  const snapshot = (): WorkerCounters => {
    let bytesRead = counters.bytesRead;
    let bytesWritten = counters.bytesWritten;
    for (const socket of open) {
      bytesRead += socket.bytesRead;
      bytesWritten += socket.bytesWritten;
    }
    return { accepted: counters.accepted, active: open.size, bytesRead, bytesWritten };
  };

  let closing = false;
  link.onMessage((message) => {
    if (message.type === 'stats') {
      send({ type: 'stats', seq: message.seq as number, counters: snapshot() });
    } else if (message.type === 'close' && !closing) {
      closing = true;
      let forced = 0;
      const deadline = setTimeout(() => {
        forced = open.size;
        for (const socket of open) socket.destroy();
      }, message.graceMs as number);
      // 'close' comes once the last connection has closed, as in net.
      server.close(() => {
        clearTimeout(deadline);
        send({ type: 'closed', forced, counters: snapshot() });
        link.release();
      });
    }
  });

  try {
    handler.setup?.(server);
  } catch (error) {
    send(describeError(error));
    link.release();
    return;
  }
  // Until it listens, an error (EADDRINUSE, EACCES) means this worker cannot
  // start. After that the server's errors are the application's, as they
  // are for a server of its own: unhandled, they end the worker, which the
  // pool restarts.
  const onStartError = (error: Error): void => {
    send(describeError(error));
    link.release();
  };
  server.once('error', onStartError);
  server.once('listening', () => {
    server.removeListener('error', onStartError);
    const address = server.address() as AddressInfo;
    send({ type: 'listening', address: address.address, port: address.port, family: address.family });
  });
  // With the native reactor each worker binds a socket of its own to the
  // port the first one got. Under node:net the workers are cluster
  // processes, and cluster shares the primary's one socket among them when
  // they all ask for the same (possibly 0) port.
  const port = isNative && config.boundPort !== undefined ? config.boundPort : config.port;
  server.listen({ port, host: config.host, backlog: config.backlog, ipv6Only: config.ipv6Only, reusePort: isNative });
}

void main();
