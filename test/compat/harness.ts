// What every compat test file shares: a bounded time per test, exact callback
// counts, and cleanup of every server, socket and child a test started, even
// when the test fails half way (as the epoll-reactor cases are expected to
// while features are missing).
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { checkMustCalls } from '../helpers';
import { childPrelude, CreateServer, IMPLEMENTATION_ENV, ImplementationName } from './implementations';

/** Every compat test ends within this, failures included. */
export const TEST_TIMEOUT_MS = 10_000;

const servers = new Set<net.Server>();
const sockets = new Set<net.Socket>();
const children = new Set<ChildProcess>();
const temporaryDirectories = new Set<string>();
const accepted = new WeakMap<net.Server, AcceptQueue>();
// Set by useCompatHarness(), whose afterEach is what removes temporaryDirectories.
let harnessInUse = false;

interface AcceptQueue {
  sockets: net.Socket[];
  waiters: Array<() => void>;
}

/**
 * Registers the hooks every compat file needs. Call once at the top of the
 * file: sets the per-test timeout, checks mustCall counts after each test,
 * then ends what the test left open.
 */
export function useCompatHarness(): void {
  harnessInUse = true;
  jest.setTimeout(TEST_TIMEOUT_MS);
  afterEach(async () => {
    try {
      checkMustCalls();
    } finally {
      await releaseAll();
    }
  });
}

async function releaseAll(): Promise<void> {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  const closing: Array<Promise<unknown>> = [];
  for (const server of servers) {
    if (server.listening) {
      closing.push(within(new Promise((resolve) => server.close(resolve)), 2000, 'a server to close').catch(() => {}));
    }
  }
  servers.clear();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // It exited between the check and the kill.
      }
    }
  }
  children.clear();
  await Promise.all(closing);
  for (const directory of temporaryDirectories) fs.rmSync(directory, { recursive: true, force: true });
  temporaryDirectories.clear();
}

/**
 * Registers a server for cleanup and queues the sockets it accepts, so that
 * {@link acceptedSocket} can hand them to the test. Listening for
 * 'connection' does not change how a server behaves.
 */
export function trackServer<S extends net.Server>(server: S): S {
  servers.add(server);
  const queue: AcceptQueue = { sockets: [], waiters: [] };
  accepted.set(server, queue);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    queue.sockets.push(socket);
    for (const wake of queue.waiters.splice(0)) wake();
  });
  return server;
}

/** Registers a client socket for cleanup. */
export function trackSocket<S extends net.Socket>(socket: S): S {
  sockets.add(socket);
  return socket;
}

/** Listens on 127.0.0.1 with an ephemeral port; resolves with the port. */
export async function listenLocal(server: net.Server): Promise<number> {
  trackServer(server);
  server.listen(0, '127.0.0.1');
  await within(once(server, 'listening'), 2000, "'listening'");
  return (server.address() as net.AddressInfo).port;
}

/**
 * Resolves with the first socket `server` accepted (and not yet handed out)
 * that satisfies `match`, waiting up to `timeoutMs` for it.
 */
export async function acceptedSocket(server: net.Server, match: (socket: net.Socket) => boolean = () => true,
  timeoutMs = 2000): Promise<net.Socket> {
  const queue = accepted.get(server);
  if (queue === undefined) throw new Error('acceptedSocket: call trackServer() or listenLocal() first');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const index = queue.sockets.findIndex(match);
    if (index !== -1) return queue.sockets.splice(index, 1)[0];
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error(`no matching 'connection' within ${timeoutMs} ms`);
    await within(new Promise<void>((resolve) => queue.waiters.push(resolve)), remaining, "a 'connection'")
      .catch(() => undefined);
  }
}

/** Connects a node:net client to 127.0.0.1:port and resolves once it is connected. */
export async function connectClient(port: number, options: Partial<net.TcpNetConnectOpts> = {}): Promise<net.Socket> {
  const client = trackSocket(net.connect({ port, host: '127.0.0.1', ...options }));
  await within(once(client, 'connect'), 2000, "the client's 'connect'");
  return client;
}

/**
 * Connects a client and resolves with it and the server's end of the same
 * connection, matched by port.
 */
export async function connectPair(server: net.Server, port: number, options: Partial<net.TcpNetConnectOpts> = {}):
  Promise<{ client: net.Socket; socket: net.Socket }> {
  const client = await connectClient(port, options);
  const socket = await acceptedSocket(server, (candidate) => candidate.remotePort === client.localPort);
  return { client, socket };
}

const netOutcomes = new Map<string, Promise<unknown>>();

/**
 * What node:net on the running Node does in `scenario`, run once per file and
 * remembered under `name`. Where net's behaviour changed between the Node
 * versions the package supports (maxConnections = 0, write callbacks on
 * destroy), a shared body runs the scenario on its implementation and
 * compares the outcome with this one, instead of pinning one version's
 * behaviour. The scenario must record what happened (no mustCall), and
 * register what it opens with the harness.
 */
export function netOutcome<T>(name: string, scenario: (createServer: CreateServer) => Promise<T>): Promise<T> {
  let outcome = netOutcomes.get(name);
  if (outcome === undefined) {
    outcome = scenario(net.createServer);
    netOutcomes.set(name, outcome);
  }
  return outcome as Promise<T>;
}

/** Rejects with a message naming `what` unless `promise` settles within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with everything `stream` emits until 'end', as one Buffer. */
export function readAll(stream: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

/**
 * A path for a Unix socket in a fresh temporary directory, removed after the
 * test by the harness's afterEach: a file that has not called
 * useCompatHarness() would leave the directory behind, so it throws.
 */
export function unixSocketPath(): string {
  if (!harnessInUse) {
    throw new Error('unixSocketPath() needs useCompatHarness() in the test file, which removes its directory');
  }
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'compat-'));
  temporaryDirectories.add(directory);
  return path.join(directory, 'server.sock');
}

/** A child process running a script, reporting JSON lines on stdout. */
export interface ServerChild {
  child: ChildProcess;
  /** Resolves with the first line for which `match` holds. */
  next(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code, or null if the child is still running after `timeoutMs`. */
  exitWithin(timeoutMs: number): Promise<number | null>;
  /** SIGKILLs the child by pid if it is still running, and waits for it. */
  kill(): Promise<void>;
}

/**
 * Runs `script` with `node -e` in a child process that has `createServer`
 * from `implementation` and `report(line)` (one JSON line on stdout) in
 * scope; `inheritedFds` become the child's fds 3, 4, ... The child is killed
 * by pid after the test if still running.
 */
export function startChild(implementation: ImplementationName, script: string, inheritedFds: number[] = []):
  ServerChild {
  const child = spawn(process.execPath, ['-e', `${childPrelude}\n${script}`], {
    env: { ...process.env, [IMPLEMENTATION_ENV]: implementation },
    stdio: ['ignore', 'pipe', 'inherit', ...inheritedFds],
  });
  children.add(child);
  const lines: Record<string, unknown>[] = [];
  const waiters: Array<() => void> = [];
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    lines.push(JSON.parse(text) as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    for (const wake of waiters.splice(0)) wake();
    resolve(code);
  }));
  return {
    child,
    // A ceiling, not a measurement: a child node under scripts/sanitize.sh (ASan
    // preloaded) on a busy machine can take several seconds to start.
    async next(match, timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = lines.find(match);
        if (line !== undefined) return line;
        const remaining = deadline - Date.now();
        if (remaining <= 0 || child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`no matching line from the child in ${timeoutMs} ms; got ${JSON.stringify(lines)}`);
        }
        await within(new Promise<void>((resolve) => waiters.push(resolve)), remaining, 'a line').catch(() => undefined);
      }
    },
    exitWithin(timeoutMs) {
      return within(exited, timeoutMs, 'the child to exit').catch(() => null);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    },
  };
}
