// A TCP proxy on the package's public API: a reactor server accepts clients,
// each is joined to a connection to one of several upstreams, and forward()
// moves the bytes both ways on the reactor thread (with `tls`, the server is a
// createSecureServer and forward() terminates TLS there too). Upstreams are chosen by
// round-robin or least-connections; one that refuses or times out is skipped
// for the next, and one that fails repeatedly is left alone for a cooldown.
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';

import type { SecureContext } from 'node:tls';

import { connect, createSecureContext, createSecureServer, createServer, forward, ForwardResult, Server, Socket,
  tlsAvailable } from '../index';
import { HostPort, ProxyConfig, ProxyOptions, withDefaults } from './options';

/** Whether an upstream is being chosen, or skipped after repeated failures. */
export type UpstreamHealth = 'healthy' | 'cooling';

/** One upstream's counters, as {@link Proxy.stats} reports them. */
export interface UpstreamStats {
  /** `HOST:PORT`. */
  address: string;
  /** The SNI name (or `*.domain`) whose clients it serves (`sniUpstreams`); absent for `upstreams`. */
  servername?: string;
  /** `'cooling'` while skipped after `failThreshold` failures in a row. */
  state: UpstreamHealth;
  /** Connections open to it now, counting connects in progress. */
  active: number;
  /** Connections established to it since the start. */
  total: number;
  /** Bytes sent to it (client to upstream), from finished forwards. */
  bytesUp: number;
  /** Bytes received from it (upstream to client), from finished forwards. */
  bytesDown: number;
  /** Failed connects (refused, timed out, unreachable) plus forwards that ended with an error. */
  errors: number;
  /** Failed connects since its last successful one. */
  consecutiveFailures: number;
  /** Milliseconds of cooldown left; 0 when healthy. */
  coolingForMs: number;
  /**
   * Why the last failed connect to it failed (`CODE: message`, e.g. a TLS
   * upstream's certificate verification), until a connect succeeds; absent
   * when the last one did.
   */
  lastError?: string;
}

/** The proxy's counters, as {@link Proxy.stats} reports them. */
export interface ProxyStats {
  /** Where the proxy listens, or null before start() and after stop(). */
  listening: string | null;
  /** Client connections open now. */
  active: number;
  /** Client connections accepted since the start. */
  accepted: number;
  /** Clients closed at once because `maxConnections` were open. */
  dropped: number;
  /** Clients closed because no upstream could be reached within the retries. */
  unserved: number;
  /** Connections closed by the idle timeout. */
  idleTimeouts: number;
  /** Per upstream, in the order given. */
  upstreams: UpstreamStats[];
  /** With `--threads` above 1: each reactor thread's own client counts, in thread order. */
  threads?: Array<{ active: number; accepted: number }>;
}

// A forward ending with ECANCELED was ended from JS (idle timeout, shutdown),
// not by a fault of the upstream.
const CANCELED = 'ECANCELED';

class Upstream {
  readonly address: string;
  active = 0;
  total = 0;
  bytesUp = 0;
  bytesDown = 0;
  errors = 0;
  consecutiveFailures = 0;
  coolingUntil = 0;  // Date.now() before which the upstream is skipped
  lastError: string | undefined = undefined;  // of the last failed connect, until one succeeds
  /**
   * With --upstream-tls, the newest TLS session this upstream issued: the
   * next connection offers it, so its handshake resumes (no certificate
   * sent or verified, as HAProxy reuses server sessions by default).
   */
  tlsSession: Buffer | undefined = undefined;

  constructor(readonly target: HostPort, readonly servername?: string) {
    this.address = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  }

  isCooling(now: number): boolean {
    return now < this.coolingUntil;
  }
}

/** The upstreams one set of clients is balanced over: `upstreams`, or one SNI name's. */
class UpstreamPool {
  cursor = 0;  // where the next round-robin search starts
  constructor(readonly upstreams: Upstream[]) {}
}

/**
 * What `byName` holds for a client's SNI name (an upstream pool, a
 * certificate): an exact entry first, then `*.` and the name less its first
 * label, else `fallback` (no SNI, or no match). Names compare
 * case-insensitively, as DNS names do.
 */
function forServername<T>(byName: Map<string, T>, servername: unknown, fallback: T): T {
  if (typeof servername !== 'string' || servername === '') return fallback;
  const name = servername.toLowerCase().replace(/\.$/, '');  // 'api.example.com.' is the same name
  const exact = byName.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return (dot > 0 ? byName.get(`*${name.slice(dot)}`) : undefined) ?? fallback;
}

/** One client and, once chosen, its upstream. */
interface ProxiedConnection {
  client: Socket;
  /** The connect in progress or the upstream being forwarded to. */
  upstream: Socket | undefined;
  forwarding: boolean;
  finished: boolean;
}

function ignoreError(): void {
  // Errors end the connection; the proxy counts them where they matter
  // (connect failures, forward results) and a client's reset is not news.
}

function timeoutError(upstream: Upstream, ms: number): Error {
  return Object.assign(new Error(`connect ETIMEDOUT ${upstream.address} (no answer in ${ms} ms)`), { code: 'ETIMEDOUT' });
}

function formatAddress(address: AddressInfo | string | null): string | null {
  if (address === null || typeof address === 'string') return address;
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/** Connect errors that say this host ran short, not that the upstream failed. */
const LOCAL_SHORTAGES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

/** node's tls.Server handshakeTimeout, which --idle-timeout shortens. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;

/**
 * maxConnections over the threads of `--threads`: `counts[0]` is the open
 * clients of all, `counts[1 + index]` this thread's share, which the main
 * thread takes back from the total if the thread dies (lib/proxy/threads.ts).
 */
export interface SharedLimit {
  counts: Int32Array;
  index: number;
}

/**
 * A TCP proxy. Each client accepted on `listen` is joined to a connection to
 * one of `upstreams` with {@link forward}. A connect that fails (refused,
 * timed out after `connectTimeoutMs`, unreachable) is retried on the next
 * upstream, up to `retries` times. An upstream that failed `failThreshold`
 * times in a row is skipped for `failCooldownMs`; after the cooldown one more
 * failure skips it again, one success makes it healthy. When every upstream
 * is cooling, the one whose cooldown ends first is still tried, rather than
 * turning every client away until then.
 *
 * @example
 * ```ts
 * // lib/proxy/proxy.ts is not in the package's exports; the CLI uses it.
 * const proxy = new Proxy({
 *   listen: { host: '127.0.0.1', port: 8080 },
 *   upstreams: [{ host: '10.0.0.1', port: 80 }, { host: '10.0.0.2', port: 80 }],
 * });
 * console.log('listening on', await proxy.start());
 * process.once('SIGTERM', () => proxy.stop().then(() => process.exit(0)));
 * ```
 */
export class Proxy {
  /** The settings in force, defaults filled in. */
  readonly options: ProxyOptions;
  private readonly upstreams: Upstream[];  // every pool's, in the order given (stats)
  private readonly defaultPool: UpstreamPool;
  private readonly sniPools = new Map<string, UpstreamPool>();
  private readonly connections = new Set<ProxiedConnection>();
  private server: Server | undefined;
  private accepted = 0;
  private dropped = 0;
  private unserved = 0;
  private idleTimeouts = 0;
  private stopping: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private openClients: SharedLimit | undefined;

  constructor(config: ProxyConfig) {
    this.options = withDefaults(config);
    this.defaultPool = new UpstreamPool(this.options.upstreams.map((target) => new Upstream(target)));
    this.upstreams = [...this.defaultPool.upstreams];
    for (const { servername, upstreams } of this.options.sniUpstreams ?? []) {
      const pool = new UpstreamPool(upstreams.map((target) => new Upstream(target, servername)));
      this.sniPools.set(servername, pool);
      this.upstreams.push(...pool.upstreams);
    }
  }

  /**
   * Starts listening; resolves with the address (`HOST:PORT` or the path),
   * rejects on a listen error. With `reusePort`, other proxies (threads of
   * --threads) may listen on the same port, and the kernel spreads clients;
   * `openClients` then holds maxConnections over all of them.
   */
  start(listenOptions: { reusePort?: boolean; openClients?: SharedLimit } = {}): Promise<string> {
    if (this.server !== undefined) return Promise.reject(new Error('the proxy was started already'));
    // allowHalfOpen: a client's FIN is forward()'s to pass on, not a reason to
    // end our side. pauseOnConnect: nothing is read into JS while the upstream
    // connects; the forward reads it natively. noDelay: a proxy should not add
    // Nagle's delay to small writes its peers chose to send at once.
    // With `tls`, a client is accepted once its handshake is done
    // ('secureConnection'): forward() then carries its plaintext.
    const serverOptions = { allowHalfOpen: true, pauseOnConnect: true, noDelay: true };
    const tls = this.options.tls;
    if (tls !== undefined && !tlsAvailable) {
      return Promise.reject(new Error('TLS termination needs reactor TLS, which this node does not offer (docs/tls.md)'));
    }
    if (this.options.upstreamTls !== undefined && !tlsAvailable) {
      return Promise.reject(new Error('TLS to the upstreams needs reactor TLS, which this node does not offer (docs/tls.md)'));
    }
    // Certificates by SNI name, matched as upstream pools are (forServername).
    const certificates = new Map<string, SecureContext | undefined>();
    for (const { servername, cert, key } of this.options.sniCerts ?? []) {
      certificates.set(servername, createSecureContext({ cert, key }));
    }
    const sniOptions = certificates.size === 0 ? {} : {
      SNICallback: (servername: string, callback: (error: Error | null, context?: SecureContext) => void) =>
        callback(null, forServername(certificates, servername, undefined)),
    };
    // The idle timeout starts at accept(), after the handshake: a client
    // silent before or during it is held to the same time (HAProxy's
    // `timeout client` covers the handshake too), not to node's 120 s.
    const handshakeOptions = this.options.idleTimeoutMs > 0 && this.options.idleTimeoutMs < DEFAULT_HANDSHAKE_TIMEOUT_MS
      ? { handshakeTimeout: this.options.idleTimeoutMs } : {};
    const server = tls === undefined
      ? createServer(serverOptions, (client) => this.accept(client))
      : createSecureServer({ ...serverOptions, ...sniOptions, ...handshakeOptions, cert: tls.cert, key: tls.key },
        (client) => this.accept(client));
    this.server = server;
    if (this.options.maxConnections > 0) {
      server.maxConnections = this.options.maxConnections;
      // One thread of several holds the limit with the others (accept());
      // its own listener's limit above is the most it could hold alone.
      this.openClients = listenOptions.openClients;
    }
    server.on('drop', () => { this.dropped++; });
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        this.server = undefined;
        reject(error);
      };
      server.once('error', onError);
      server.once('listening', () => {
        server.removeListener('error', onError);
        // Accept errors (EMFILE) after this are survivable: the server sheds and carries on.
        server.on('error', ignoreError);
        resolve(this.address() as string);
      });
      const listen = this.options.listen;
      if ('path' in listen) server.listen(listen.path);
      else server.listen({ port: listen.port, host: listen.host, reusePort: listenOptions.reusePort === true });
    });
  }

  /** `HOST:PORT` (with the real port when 0 was asked for) or the socket path; null when not listening. */
  address(): string | null {
    return this.server === undefined ? null : formatAddress(this.server.address());
  }

  /** Open client connections. */
  get activeConnections(): number {
    return this.connections.size;
  }

  /** The proxy's counters now. */
  stats(): ProxyStats {
    const now = Date.now();
    return {
      listening: this.address(),
      active: this.connections.size,
      accepted: this.accepted,
      dropped: this.dropped,
      unserved: this.unserved,
      idleTimeouts: this.idleTimeouts,
      upstreams: this.upstreams.map((upstream) => ({
        address: upstream.address,
        ...(upstream.servername === undefined ? {} : { servername: upstream.servername }),
        state: upstream.isCooling(now) ? 'cooling' : 'healthy',
        active: upstream.active,
        total: upstream.total,
        bytesUp: upstream.bytesUp,
        bytesDown: upstream.bytesDown,
        errors: upstream.errors,
        consecutiveFailures: upstream.consecutiveFailures,
        coolingForMs: Math.max(0, upstream.coolingUntil - now),
        ...(upstream.lastError === undefined ? {} : { lastError: upstream.lastError }),
      })),
    };
  }

  /**
   * Stops accepting, lets open connections finish for up to `graceMs`
   * (default `shutdownGraceMs`), then closes the rest. Resolves once every
   * connection has ended; resolves with the number that had to be closed.
   * Calling it again while stopping with a shorter grace shortens the wait.
   */
  stop(graceMs: number = this.options.shutdownGraceMs): Promise<number> {
    const server = this.server;
    if (server?.listening) server.close();
    let forced = 0;
    const deadline = setTimeout(() => {
      forced = this.connections.size;
      for (const connection of this.connections) this.abandon(connection);
    }, graceMs);
    const drained = this.stopping ?? new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
    this.stopping = drained;
    return drained.then(() => {
      clearTimeout(deadline);
      return forced;
    });
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.connections.size === 0) {
      const resolve = this.drained;
      this.drained = undefined;
      this.server = undefined;
      resolve();
    }
  }

  private accept(client: Socket): void {
    const limit = this.openClients;
    if (limit !== undefined) {
      if (Atomics.add(limit.counts, 0, 1) >= this.options.maxConnections) {
        Atomics.sub(limit.counts, 0, 1);
        this.dropped++;
        client.destroy();
        return;
      }
      Atomics.add(limit.counts, 1 + limit.index, 1);
      client.once('close', () => {
        Atomics.sub(limit.counts, 1 + limit.index, 1);
        Atomics.sub(limit.counts, 0, 1);
      });
    }
    this.accepted++;
    const connection: ProxiedConnection = {
      client, upstream: undefined, forwarding: false, finished: false,
    };
    this.connections.add(connection);
    client.on('error', ignoreError);
    // While the upstream connects, a client that goes away ends the attempt;
    // once forwarding, forward() reports the end.
    client.once('close', () => {
      if (!connection.forwarding) this.abandon(connection);
    });
    if (this.options.idleTimeoutMs > 0) {
      // Runs on the reactor thread and counts forwarded bytes as activity.
      client.setTimeout(this.options.idleTimeoutMs, () => {
        this.idleTimeouts++;
        this.abandon(connection);
      });
    }
    // A TLS client arrives after its handshake, with the SNI name it sent.
    const pool = forServername(this.sniPools, (client as { servername?: unknown }).servername, this.defaultPool);
    this.connectUpstream(connection, pool, 0, new Set());
  }

  /** Tries one upstream for `connection`; `attempt` counts the tries made before this one. */
  private connectUpstream(connection: ProxiedConnection, pool: UpstreamPool, attempt: number, tried: Set<Upstream>): void {
    if (connection.finished) return;
    if (tried.size === pool.upstreams.length) tried.clear();  // retries beyond one round start over
    const upstream = this.choose(pool, tried);
    tried.add(upstream);
    upstream.active++;
    const upstreamTls = this.options.upstreamTls;
    if (upstreamTls === undefined) {
      this.forwardToAddress(connection, pool, attempt, tried, upstream);
      return;
    }
    const reuseSessions = upstreamTls.reuseSessions !== false;
    const offeredSession = reuseSessions ? upstream.tlsSession : undefined;
    const { host, port } = upstream.target;
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, tls: {
        ...(upstreamTls.ca === undefined ? {} : { ca: upstreamTls.ca }),
        // SNI carries names only; an address is still what the certificate is checked for.
        ...(upstreamTls.servername !== undefined ? { servername: upstreamTls.servername }
          : isIP(host) === 0 ? { servername: host } : {}),
        session: offeredSession,
      } });
    if (reuseSessions) socket.on('session', (session: Buffer) => { upstream.tlsSession = session; });
    connection.upstream = socket;
    let settled = false;
    const timer = setTimeout(() => {
      socket.destroy(timeoutError(upstream, this.options.connectTimeoutMs));
    }, this.options.connectTimeoutMs);
    // A TLS upstream is ready once its certificate is verified; one that
    // fails verification is destroyed with the error, and counts as a failed connect.
    socket.once('secureConnect', () => {
      settled = true;
      clearTimeout(timer);
      this.connected(upstream);
      if (connection.finished) {
        // The client went away while this connect was in progress.
        upstream.active--;
        socket.destroy();
        return;
      }
      connection.forwarding = true;
      forward(connection.client, socket, { mode: this.options.mode })
        .then((result) => this.forwarded(connection, upstream, result));
    });
    let connectError: NodeJS.ErrnoException | undefined;
    socket.on('error', (error: NodeJS.ErrnoException) => { connectError ??= error; });
    socket.once('close', () => {
      clearTimeout(timer);
      if (settled) return;
      // Closed before connecting: refused, timed out, unreachable, or
      // destroyed because the client went away.
      settled = true;
      upstream.active--;
      // As HAProxy: a session offered to a connect that failed is not
      // offered again, in case it was the cause.
      if (offeredSession !== undefined && upstream.tlsSession === offeredSession) upstream.tlsSession = undefined;
      if (connection.finished) return;
      this.connectFailed(connection, pool, attempt, tried, upstream, connectError);
    });
  }

  /**
   * A plain upstream: forward() to its address connects it on the reactor
   * thread, with no socket object or event in JS, so a connection costs JS
   * little more than its client socket (docs/benchmarks.md, "Session 52").
   * A connect that fails leaves the client as it was, for the next upstream.
   */
  private forwardToAddress(connection: ProxiedConnection, pool: UpstreamPool, attempt: number, tried: Set<Upstream>,
    upstream: Upstream): void {
    const { host, port } = upstream.target;
    connection.forwarding = true;
    const target = { host, port, noDelay: true, timeout: this.options.connectTimeoutMs };
    forward(connection.client, target, { mode: this.options.mode, onConnect: () => this.connected(upstream) })
      .then((result) => {
        if (result.connected !== false) {
          this.forwarded(connection, upstream, result);
          return;
        }
        connection.forwarding = false;
        upstream.active--;
        // Not reached because the client went away (destroyed, reset): the
        // upstream is not at fault.
        if (connection.finished || connection.client.destroyed) {
          this.finish(connection);
          return;
        }
        this.connectFailed(connection, pool, attempt, tried, upstream, result.error);
      });
  }

  private connected(upstream: Upstream): void {
    upstream.total++;
    upstream.consecutiveFailures = 0;
    upstream.coolingUntil = 0;
    upstream.lastError = undefined;
  }

  /** `upstream` was not reached for `connection`: the next one, or give up. */
  private connectFailed(connection: ProxiedConnection, pool: UpstreamPool, attempt: number, tried: Set<Upstream>,
    upstream: Upstream, error?: NodeJS.ErrnoException): void {
    // Out of fds, memory or local ports: this host's shortage, not the
    // upstream's fault, so it does not count toward cooling it.
    if (!LOCAL_SHORTAGES.has(error?.code ?? '')) {
      this.failed(upstream);
      if (error !== undefined) upstream.lastError = `${error.code ?? 'ERROR'}: ${error.message}`;
    }
    if (attempt < (this.options.retries ?? pool.upstreams.length - 1)) {
      this.connectUpstream(connection, pool, attempt + 1, tried);
    } else {
      this.unserved++;
      this.abandon(connection);
    }
  }

  /**
   * The next upstream not tried yet for this client: the next healthy one in
   * round-robin order, or the healthy one with the fewest active connections
   * (ties in round-robin order). When all untried ones are cooling, the one
   * whose cooldown ends first.
   */
  private choose(pool: UpstreamPool, tried: Set<Upstream>): Upstream {
    const now = Date.now();
    const count = pool.upstreams.length;
    let chosen = -1;
    let soonest = -1;
    for (let step = 0; step < count; step++) {
      const index = (pool.cursor + step) % count;
      const upstream = pool.upstreams[index];
      if (tried.has(upstream)) continue;
      if (upstream.isCooling(now)) {
        if (soonest < 0 || upstream.coolingUntil < pool.upstreams[soonest].coolingUntil) soonest = index;
        continue;
      }
      if (chosen < 0) {
        chosen = index;
        if (this.options.balance === 'round-robin') break;
      } else if (upstream.active < pool.upstreams[chosen].active) {
        chosen = index;
      }
    }
    if (chosen < 0) chosen = soonest;
    pool.cursor = (chosen + 1) % count;
    return pool.upstreams[chosen];
  }

  private failed(upstream: Upstream): void {
    upstream.errors++;
    upstream.consecutiveFailures++;
    if (upstream.consecutiveFailures >= this.options.failThreshold) {
      upstream.coolingUntil = Date.now() + this.options.failCooldownMs;
    }
  }

  private forwarded(connection: ProxiedConnection, upstream: Upstream, result: ForwardResult): void {
    upstream.active--;
    upstream.bytesUp += result.bytesFirstToSecond;
    upstream.bytesDown += result.bytesSecondToFirst;
    if (result.error !== undefined && result.error.code !== CANCELED) upstream.errors++;
    connection.forwarding = false;
    this.finish(connection);
  }

  /** Ends a connection from our side: closes the client and the upstream, whatever stage they are in. */
  private abandon(connection: ProxiedConnection): void {
    if (connection.forwarding) {
      // forward() resolves once both are closed, and finishes the connection.
      connection.client.destroy();
      return;
    }
    this.finish(connection);
  }

  private finish(connection: ProxiedConnection): void {
    if (connection.finished) return;
    connection.finished = true;
    connection.client.destroy();
    connection.upstream?.destroy();
    this.connections.delete(connection);
    this.checkDrained();
  }
}
