// Outbound connections: net.connect's argument forms, validation, and name
// resolution with dns.lookup, as net does them. The Socket does the rest.
import * as dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import { BlockList, getDefaultAutoSelectFamily, getDefaultAutoSelectFamilyAttemptTimeout, isIP } from 'node:net';
import * as os from 'node:os';

import {
  invalidAddressFamily, invalidArgType, invalidArgValue, invalidIpAddress, ipBlocked, missingArgs, systemError,
} from './errors';
import { hostWithNulThrows, overlongUnixPathIsEinval } from './net-version';
import { validateBoolean, validateFunction, validateInteger, validatePort } from './validate';

/** Options for {@link connect}, as for `net.connect`. */
export interface ConnectOptions {
  /** TCP port to connect to. */
  port?: number | string;
  /** Host name or address (default `'localhost'`). */
  host?: string;
  /** Unix socket path to connect to instead of a TCP port. */
  path?: string;
  /** Address family for the lookup: 0 (either), 4 or 6 (or `'IPv4'` / `'IPv6'`, as server.address() gives it). */
  family?: number | 'IPv4' | 'IPv6';
  /** dns.lookup hints. */
  hints?: number;
  /** A lookup function with dns.lookup's signature. */
  lookup?: typeof dns.lookup;
  /** Local address to bind before connecting. */
  localAddress?: string;
  /** Local port to bind before connecting. */
  localPort?: number;
  /** Idle timeout in milliseconds, as socket.setTimeout(timeout). */
  timeout?: number;
  /** Disable Nagle's algorithm once connected. */
  noDelay?: boolean;
  /** Enable TCP keep-alive once connected. */
  keepAlive?: boolean;
  /** Keep-alive idle time in milliseconds. */
  keepAliveInitialDelay?: number;
  /** Keep the writable side open after the peer ends. */
  allowHalfOpen?: boolean;
  /**
   * Try every address of the host, families alternating, as net's happy
   * eyeballs does (default `net.getDefaultAutoSelectFamily()`); false: only the first.
   */
  autoSelectFamily?: boolean;
  /**
   * Milliseconds to wait for one address before giving it up for the next
   * (default `net.getDefaultAutoSelectFamilyAttemptTimeout()`; below 10, 10).
   */
  autoSelectFamilyAttemptTimeout?: number;
  /**
   * Make it a TLS connection, its handshake and records on the reactor
   * thread: node:tls's client options (servername, ca, rejectUnauthorized,
   * ALPNProtocols, checkServerIdentity...), verifying the server by default
   * as `tls.connect` does. The connect listener then waits for 'secureConnect'.
   */
  tls?: import('./tls').ConnectTlsOptions;
}

/** A resolved address to try: family 0 means a Unix path. */
export interface ConnectTarget {
  family: 0 | 4 | 6;
  address: string;
  port: number;
}

// net's isPipeName: a string that Number() does not make a non-negative
// number names a path (so ' ' is a port, and fails as one).
function isPipeName(value: unknown): value is string {
  return typeof value === 'string' && !(Number(value) >= 0);
}

/** The size of sockaddr_un's sun_path on Linux. */
const SUN_PATH_SIZE = 108;

/**
 * Whether this Node's libuv pads an abstract socket name ('\0name') with NULs
 * to the whole sun_path, as libuv did before 1.47 (uv_pipe_bind/uv_pipe_connect
 * pass sizeof(sockaddr_un)); from 1.47 it uses the name's exact length. The
 * kernel compares names with their length, so to meet node:net's sockets the
 * reactor must do as this Node's libuv does. Checked on libuv 1.46 (Node 20)
 * and 1.52 (Node 24).
 */
const libuvPadsAbstractNames = ((): boolean => {
  const [major, minor] = (process.versions.uv ?? '1.47').split('.').map(Number);
  return major === 1 && minor < 47;
})();

/** The sun_path bytes for a Unix socket path, as this Node's libuv would give them. */
export function unixSocketAddress(path: string): string {
  if (!libuvPadsAbstractNames || !path.startsWith('\0')) return path;
  const length = Buffer.byteLength(path);
  return length >= SUN_PATH_SIZE ? path : path + '\0'.repeat(SUN_PATH_SIZE - length);
}

/**
 * The errno to report for a Unix path the reactor refused: an overlong path
 * (ENAMETOOLONG from sys.cc) is EINVAL where this Node's net says so
 * (lib/net-version.ts).
 */
export function unixPathErrno(errno: number): number {
  const { ENAMETOOLONG, EINVAL } = os.constants.errno;
  return overlongUnixPathIsEinval && errno === -ENAMETOOLONG ? -EINVAL : errno;
}

/** The name of an abstract socket without the NULs libuv padded it with (see {@link unixSocketAddress}). */
export function trimAbstractPadding(path: string): string {
  return path.startsWith('\0') ? path.replace(/\0+$/, '') : path;
}

/** Turns net.connect's argument forms into options and a connect listener. */
export function normalizeConnectArgs(args: unknown[]): [ConnectOptions, (() => void) | undefined] {
  const listener = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const first = args[0];
  let options: ConnectOptions;
  if (first !== null && typeof first === 'object') {
    options = { ...(first as ConnectOptions) };
  } else if (isPipeName(first)) {
    options = { path: first };
  } else {
    options = { port: first as number | string | undefined };
    if (typeof args[1] === 'string') options.host = args[1];
  }
  // As net's socketToDnsFamily: server.address() can be passed straight on.
  if ((options.family as unknown) === 'IPv4') options.family = 4;
  else if ((options.family as unknown) === 'IPv6') options.family = 6;
  validateConnectOptions(options);
  return [options, listener];
}

function validateConnectOptions(options: ConnectOptions): void {
  if (options.port === undefined && (options.path === undefined || options.path === null)) {
    throw missingArgs(['options', 'port', 'path']);
  }
  if (options.path) {
    if (typeof options.path !== 'string') throw invalidArgType('options.path', 'of type string', options.path);
    return;
  }
  // As net (`pipe = !!path`): a falsy path ('', 0, false) is no path but TCP,
  // to port 0 if none is given, which is refused on a later tick.
  delete options.path;
  if (hostWithNulThrows && typeof options.host === 'string' && options.host.includes('\0')) {
    throw invalidArgValue('options.host', options.host, 'must be a string without null bytes');
  }
  if (options.port === undefined) options.port = 0;
  // The order of net's lookupAndConnect, so that the same input fails the same check.
  if (options.localAddress && !isIP(options.localAddress)) throw invalidIpAddress(options.localAddress);
  if (options.localPort) {
    if (typeof options.localPort !== 'number') {
      throw invalidArgType('options.localPort', 'of type number', options.localPort);
    }
    validatePort(options.localPort, 'options.localPort');
  }
  if (typeof options.port !== 'number' && typeof options.port !== 'string') {
    throw invalidArgType('options.port', 'one of type number or string', options.port);
  }
  options.port = validatePort(options.port);
  // As net, whose lookup takes `host || 'localhost'`.
  if (options.host && typeof options.host !== 'string') {
    throw invalidArgType('options.host', 'of type string', options.host);
  }
  if (options.autoSelectFamily !== undefined && options.autoSelectFamily !== null) {
    validateBoolean(options.autoSelectFamily, 'options.autoSelectFamily');
  }
  if (options.autoSelectFamilyAttemptTimeout !== undefined && options.autoSelectFamilyAttemptTimeout !== null) {
    validateInteger(options.autoSelectFamilyAttemptTimeout, 'options.autoSelectFamilyAttemptTimeout', 1, 2 ** 31 - 1);
  }
  // net looks nothing up for an IP address, and so checks neither the
  // lookup nor the family then; the family is dns.lookup's to check, so a
  // custom lookup gets it as it is.
  if (isIP(options.host || 'localhost') !== 0) return;
  if (options.lookup !== undefined && options.lookup !== null) {
    validateFunction(options.lookup, 'options.lookup');
    return;
  }
  const family = options.family as number | undefined | null;
  if (family !== undefined && family !== null && ![0, 4, 6].includes(family)) {
    throw invalidArgValue('options.family', family, 'must be one of: 0, 4, 6');
  }
}

/**
 * Resolves where to connect over TCP (a Unix path needs no resolving): an IP
 * address as is, a host name through dns.lookup (or options.lookup). As net
 * does, every address of the host is asked for unless a family or a local
 * address is given or `autoSelectFamily` is false: then only the first. `multiple` is true when
 * there is more than one address to try, which is when net takes its happy
 * eyeballs path (internalConnectMultiple) rather than its single connect.
 * Emits 'lookup' on `emitter` as net does, and checks what a custom lookup
 * answers as net does (ERR_INVALID_IP_ADDRESS, ERR_INVALID_ADDRESS_FAMILY).
 * Errors are called back on a later tick. `stillWanted`, asked when an
 * answer for every address comes: false (a socket destroyed meanwhile), and
 * neither 'lookup' nor the callback follows, as net's emitLookup in its
 * every-address path; its one-address path emits 'lookup' all the same.
 */
export function resolveTargets(options: ConnectOptions, emitter: EventEmitter,
  callback: (error: Error | null, targets?: ConnectTarget[], multiple?: boolean) => void,
  stillWanted?: () => boolean): void {
  const port = options.port as number;
  const host = options.host || 'localhost';
  const literal = isIP(host);
  if (literal !== 0) {
    process.nextTick(callback, null, [{ family: literal as 4 | 6, address: host, port }], false);
    return;
  }
  const fail = (error: Error): void => process.nextTick(callback, error);
  const lookup = options.lookup ?? dns.lookup;
  // As net's dnsopts: the family as given ('IPv4' and 'IPv6' already made
  // 4 and 6), so a lookup sees undefined or null where none was given.
  const family = options.family as number | undefined | null;
  const hints = options.hints || (family !== 4 && family !== 6 ? dns.ADDRCONFIG : 0);
  const autoSelectFamily = options.autoSelectFamily ?? getDefaultAutoSelectFamily();
  const multiple = family !== 4 && family !== 6 && !options.localAddress && autoSelectFamily;
  const lookupOptions = multiple ? { family, hints, all: true as const } : { family, hints };
  (lookup as (host: string, options: object, callback: (...args: unknown[]) => void) => void)(host, lookupOptions,
    (error: unknown, addresses: unknown, addressFamily: unknown) => {
      if (multiple && stillWanted !== undefined && !stillWanted()) return;
      if (!multiple || error) {
        // The single-address form: (error, address, family).
        emitter.emit('lookup', error ?? null, error ? undefined : addresses, error ? undefined : addressFamily, host);
        if (error) return fail(error as Error);
        if (typeof addresses !== 'string' || !isIP(addresses)) return fail(invalidIpAddress(addresses));
        if (addressFamily !== 4 && addressFamily !== 6) return fail(invalidAddressFamily(addressFamily, options));
        return callback(null, [{ family: addressFamily, address: addresses, port }], false);
      }
      // As net, which reads the answer as a list whatever it is: a lookup
      // that ignores `all` and answers one address as a string gives a
      // 'lookup' per character, and then ERR_INVALID_IP_ADDRESS.
      const answers = (addresses ?? []) as ArrayLike<{ address?: unknown; family?: unknown } | null>;
      const targets: ConnectTarget[] = [];
      for (let i = 0; i < (answers.length ?? 0); i++) {
        const entry = answers[i];
        const address = entry?.address;
        const entryFamily = entry?.family;
        emitter.emit('lookup', null, address, entryFamily, host);
        if (typeof address === 'string' && isIP(address) && (entryFamily === 4 || entryFamily === 6) &&
            !targets.some((target) => target.address === address)) {
          targets.push({ family: entryFamily, address, port });
        }
      }
      if (targets.length === 0) {
        const first = answers[0];
        if (first === undefined || first === null) {
          return fail(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
            code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: host,
          }));
        }
        if (typeof first.address !== 'string' || !isIP(first.address)) return fail(invalidIpAddress(first.address));
        return fail(invalidAddressFamily(first.family, options));
      }
      // net alternates the families, starting with the first one answered.
      const preferred = targets.filter((target) => target.family === targets[0].family);
      const other = targets.filter((target) => target.family !== targets[0].family);
      const ordered: ConnectTarget[] = [];
      for (let i = 0; i < Math.max(preferred.length, other.length); i++) {
        if (i < preferred.length) ordered.push(preferred[i]);
        if (i < other.length) ordered.push(other[i]);
      }
      return callback(null, ordered, ordered.length > 1);
    });
}

/** net's floor for autoSelectFamilyAttemptTimeout: shorter values are raised to it. */
const MIN_ATTEMPT_TIMEOUT_MS = 10;

/** The attempt timeout for `options`, as net's lookupAndConnect computes it. */
function attemptTimeout(options: ConnectOptions): number {
  const timeout = options.autoSelectFamilyAttemptTimeout ?? getDefaultAutoSelectFamilyAttemptTimeout();
  return Math.max(timeout, MIN_ATTEMPT_TIMEOUT_MS);
}

/**
 * What {@link ConnectAttempts} needs of the socket it connects: its state,
 * its events, and one native connect at a time.
 */
export interface AttemptingSocket extends EventEmitter {
  readonly connecting: boolean;
  /** Addresses not to connect to (net's blockList option, Node 22+). */
  readonly blockList: BlockList | undefined;
  autoSelectFamilyAttemptedAddresses: string[] | undefined;
  /**
   * Whether a start reached within the call to connect() (a Unix path, or
   * a custom lookup that answered at once) waits for the next tick (it
   * otherwise starts at once, as net's): a TLS client's ClientHello goes
   * with the start, and what setSession(), setServername(), enableTrace()
   * and a 'keylog' listener do in the tick of connect() must be in it, as
   * they are in node's, whose handshake starts on 'connect'.
   */
  readonly startWaitsForConnectTick: boolean;
  /** connect() is running: a start now would be in its tick. */
  readonly inConnectCall: boolean;
  /** Starts a native connect to `target`; the errno and syscall if it failed at once, else null. */
  startAttempt(target: ConnectTarget, localAddress: string, localPort: number): [number, string] | null;
  /** Closes the native connection of the attempt in progress (its later events are dropped). */
  abandonAttempt(): void;
  /** Gives up connecting: destroys the socket with `error`. */
  failConnect(error: Error): void;
}

/** The error net builds for a failed attempt (ExceptionWithHostPort). */
function attemptError(errno: number, syscall: string, target: ConnectTarget, localAddress: string,
  localPort: number): Error {
  if (syscall === 'bind') return systemError(errno, syscall, localAddress, localPort);
  if (target.family === 0) return systemError(unixPathErrno(errno), syscall, target.address);
  const error = systemError(errno, syscall, target.address, target.port);
  if (localAddress && localPort) {
    // As net's afterConnect: the local end it had bound is named.
    error.message += ` - Local (${localAddress}:${localPort})`;
    Object.assign(error, { localAddress, localPort });
  }
  return error;
}

/**
 * One outbound connect over the addresses a lookup gave, as net does it.
 * With one address (or a Unix path), net's internalConnect: 'connectionAttempt',
 * then on failure 'connectionAttemptFailed' and that error. With several,
 * net's internalConnectMultiple ("happy eyeballs" as net does it: one attempt at
 * a time, not a race): each address in turn, 'connectionAttempt' and an entry
 * in `autoSelectFamilyAttemptedAddresses` for each; an attempt that fails emits
 * 'connectionAttemptFailed', one that is not connected within the attempt
 * timeout (all but the last) emits 'connectionAttemptTimeout', is closed and
 * counts as ETIMEDOUT; when every one has failed, an AggregateError of their
 * errors whose `code` is the first one's. Node 20, 22 and 24 do the same.
 *
 * Owned by the socket from connect() until it connects or is destroyed,
 * which call {@link connected} and {@link cancel}.
 */
export class ConnectAttempts {
  private readonly errors: Error[] = [];
  private current = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly timeout: number;
  private readonly localAddress: string;
  private readonly localPort: number;
  // cancel() was called: a start left for a later tick must not run (the
  // socket may be connecting again by then, with attempts of its own).
  private cancelled = false;

  constructor(private readonly socket: AttemptingSocket, private readonly targets: ConnectTarget[],
    private readonly multiple: boolean, options: ConnectOptions) {
    this.timeout = attemptTimeout(options);
    // As net, which binds only for a truthy localAddress or localPort.
    this.localAddress = options.localAddress || '';
    this.localPort = options.localPort || 0;
  }

  /** As net: a local port without a local address binds the target family's any-address. */
  private localAddressFor(target: ConnectTarget): string {
    if (this.localAddress || !this.localPort) return this.localAddress;
    return target.family === 6 ? '::' : '0.0.0.0';
  }

  /** Starts the first attempt. */
  start(): void {
    if (this.multiple) this.socket.autoSelectFamilyAttemptedAddresses = [];
    this.next();
  }

  private next(): void {
    this.clearTimer();
    if (!this.socket.connecting) return;
    if (this.current === this.targets.length) {
      const error = Object.assign(new AggregateError(this.errors), { code: (this.errors[0] as { code?: string })?.code });
      this.socket.failConnect(error);
      return;
    }
    const target = this.targets[this.current++];
    const localAddress = this.localAddressFor(target);
    const { port, family } = eventArguments(target);
    if (this.multiple && this.blocked(target)) {
      // As internalConnectMultiple: a blocked address is a failed attempt, before its connectionAttempt.
      const error = ipBlocked(target.address);
      this.errors.push(error);
      this.socket.emit('connectionAttemptFailed', target.address, port, family, error);
      this.next();
      return;
    }
    this.socket.emit('connectionAttempt', target.address, port, family);
    if (!this.socket.connecting) return;
    if (this.blocked(target)) {
      // As internalConnect: the socket's error, with no connectionAttemptFailed.
      this.socket.failConnect(ipBlocked(target.address));
      return;
    }
    if (this.multiple) this.socket.autoSelectFamilyAttemptedAddresses?.push(`${target.address}:${target.port}`);
    if (this.socket.inConnectCall && this.socket.startWaitsForConnectTick) {
      process.nextTick(onStartLater, this, target, localAddress);
      return;
    }
    this.begin(target, localAddress);
  }

  /** @internal A start left to this tick (startWaitsForConnectTick), unless the socket gave up meanwhile. */
  startLater(target: ConnectTarget, localAddress: string): void {
    if (!this.cancelled && this.socket.connecting) this.begin(target, localAddress);
  }

  /** The native connect of the attempt `next()` chose. */
  private begin(target: ConnectTarget, localAddress: string): void {
    const failure = this.socket.startAttempt(target, localAddress, this.localPort);
    if (failure !== null) {
      const [errno, syscall] = failure;
      if (!this.multiple && !reportedLater(target, errno, syscall)) {
        // As net's internalConnect: an error libuv returns at once is the
        // socket's error, with no connectionAttemptFailed.
        this.socket.failConnect(attemptError(errno, syscall, target, localAddress, this.localPort));
        return;
      }
      // Else, as libuv calls back with it, on a later tick.
      process.nextTick(onAttemptFailedLater, this, errno, syscall);
      return;
    }
    if (this.multiple && this.current < this.targets.length) {
      this.timer = setTimeout(onAttemptTimeout, this.timeout, this);
    }
  }

  /** The attempt in progress failed with `errno` (its native connection is already closed). */
  failed(errno: number, syscall: string): void {
    this.clearTimer();
    const target = this.targets[this.current - 1];
    const error = attemptError(errno, syscall, target, this.localAddressFor(target), this.localPort);
    const { port, family } = eventArguments(target);
    if (this.multiple) this.errors.push(error);
    this.socket.emit('connectionAttemptFailed', target.address, port, family, error);
    if (!this.multiple) {
      if (this.socket.connecting) this.socket.failConnect(error);
      return;
    }
    this.next();
  }

  private blocked(target: ConnectTarget): boolean {
    return target.family !== 0 && this.socket.blockList?.check(target.address, `ipv${target.family}`) === true;
  }

  /** @internal An immediate failure of the attempt in progress, reported on a later tick as libuv does. */
  failedLater(errno: number, syscall: string): void {
    if (this.socket.connecting) this.failed(errno, syscall);
  }

  /** @internal The attempt in progress has had its time. */
  timedOut(): void {
    this.timer = undefined;
    const target = this.targets[this.current - 1];
    const { port, family } = eventArguments(target);
    this.socket.emit('connectionAttemptTimeout', target.address, port, family);
    this.errors.push(systemError(-os.constants.errno.ETIMEDOUT, 'connect', target.address, target.port));
    this.socket.abandonAttempt();
    this.next();
  }

  /** The attempt in progress connected. */
  connected(): void {
    this.clearTimer();
  }

  /** The socket was destroyed while connecting. */
  cancel(): void {
    this.cancelled = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Whether libuv reports this immediate failure later, through the connect
 * callback (as net then emits 'connectionAttemptFailed'), rather than as
 * connect's return value: every error of a Unix connect (uv_pipe_connect2
 * keeps it as delayed_error), and ECONNREFUSED of a TCP one (uv__tcp_connect).
 */
function reportedLater(target: ConnectTarget, errno: number, syscall: string): boolean {
  if (syscall !== 'connect') return false;
  return target.family === 0 || errno === -os.constants.errno.ECONNREFUSED;
}

function onAttemptFailedLater(attempts: ConnectAttempts, errno: number, syscall: string): void {
  attempts.failedLater(errno, syscall);
}

function onStartLater(attempts: ConnectAttempts, target: ConnectTarget, localAddress: string): void {
  attempts.startLater(target, localAddress);
}

function onAttemptTimeout(attempts: ConnectAttempts): void {
  attempts.timedOut();
}

/** The port and family the connectionAttempt* events carry: none for a Unix path, as net's. */
function eventArguments(target: ConnectTarget): { port: number | undefined; family: 4 | 6 | undefined } {
  return target.family === 0 ? { port: undefined, family: undefined } : { port: target.port, family: target.family };
}
