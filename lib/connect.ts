// Outbound connections: net.connect's argument forms, validation, and name
// resolution with dns.lookup, as net does them. The Socket does the rest.
import * as dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import { isIP } from 'node:net';

import { invalidArgType, invalidArgValue, missingArgs } from './errors';
import { validateFunction, validatePort } from './validate';

/** Options for {@link connect}, as for `net.connect`. */
export interface ConnectOptions {
  /** TCP port to connect to. */
  port?: number | string;
  /** Host name or address (default `'localhost'`). */
  host?: string;
  /** Unix socket path to connect to instead of a TCP port. */
  path?: string;
  /** Address family for the lookup: 0 (either), 4 or 6. */
  family?: number;
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
}

/** A resolved address to try: family 0 means a Unix path. */
export interface ConnectTarget {
  family: 0 | 4 | 6;
  address: string;
  port: number;
}

function isNumeric(value: string): boolean {
  return value.trim() !== '' && Number.isFinite(+value);
}

/** Turns net.connect's argument forms into options and a connect listener. */
export function normalizeConnectArgs(args: unknown[]): [ConnectOptions, (() => void) | undefined] {
  const listener = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const first = args[0];
  let options: ConnectOptions;
  if (first !== null && typeof first === 'object') {
    options = { ...(first as ConnectOptions) };
  } else if (typeof first === 'string' && !isNumeric(first)) {
    options = { path: first };
  } else {
    options = { port: first as number | string | undefined };
    if (typeof args[1] === 'string') options.host = args[1];
  }
  validateConnectOptions(options);
  return [options, listener];
}

function validateConnectOptions(options: ConnectOptions): void {
  if (options.path !== undefined && options.path !== null) {
    if (typeof options.path !== 'string') throw invalidArgType('options.path', 'of type string', options.path);
    return;
  }
  if (options.port === undefined || options.port === null) throw missingArgs(['options', 'port', 'path']);
  if (typeof options.port !== 'number' && typeof options.port !== 'string') {
    throw invalidArgType('options.port', 'one of type number or string', options.port);
  }
  options.port = validatePort(options.port);
  if (options.host !== undefined && options.host !== null && typeof options.host !== 'string') {
    throw invalidArgType('options.host', 'of type string', options.host);
  }
  if (options.localAddress !== undefined && !isIP(options.localAddress)) {
    throw Object.assign(new TypeError(`Invalid IP address: ${options.localAddress}`), { code: 'ERR_INVALID_IP_ADDRESS' });
  }
  if (options.localPort !== undefined && options.localPort !== null) validatePort(options.localPort, 'options.localPort');
  if (options.family !== undefined && options.family !== null && ![0, 4, 6].includes(options.family)) {
    throw invalidArgValue('options.family', options.family, 'must be one of: 0, 4, 6');
  }
  if (options.lookup !== undefined) validateFunction(options.lookup, 'options.lookup');
}

/**
 * Resolves where to connect: a Unix path as is, an IP address as is, a host
 * name through dns.lookup (or options.lookup) into every address it has, to
 * be tried in order. Emits 'lookup' on `emitter` as net does.
 */
export function resolveTargets(options: ConnectOptions, emitter: EventEmitter,
  callback: (error: Error | null, targets?: ConnectTarget[]) => void): void {
  if (options.path !== undefined && options.path !== null) {
    process.nextTick(callback, null, [{ family: 0, address: options.path, port: 0 }]);
    return;
  }
  const port = options.port as number;
  const host = options.host || 'localhost';
  const literal = isIP(host);
  if (literal !== 0) {
    process.nextTick(callback, null, [{ family: literal as 4 | 6, address: host, port }]);
    return;
  }
  const lookup = options.lookup ?? dns.lookup;
  const lookupOptions: dns.LookupAllOptions = { all: true, family: options.family ?? 0 };
  if (options.hints !== undefined) lookupOptions.hints = options.hints;
  lookup(host, lookupOptions, (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[] | string,
    family?: number) => {
    // A custom lookup may answer in the single-address form.
    const list: dns.LookupAddress[] = typeof addresses === 'string'
      ? [{ address: addresses, family: family ?? isIP(addresses) }]
      : addresses ?? [];
    const first = list[0];
    emitter.emit('lookup', error, first?.address, first?.family, host);
    if (error) {
      callback(error);
      return;
    }
    const targets = list
      .filter((entry) => entry.family === 4 || entry.family === 6)
      .map((entry) => ({ family: entry.family as 4 | 6, address: entry.address, port }));
    if (targets.length === 0) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
        code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: host,
      }));
      return;
    }
    callback(null, targets);
  });
}
