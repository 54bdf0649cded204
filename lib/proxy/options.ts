// The proxy's settings: parsed from command-line flags (node:util parseArgs)
// and an optional JSON config file with the same keys, validated so that a bad
// value is reported with the flag's name, what was expected and what came.
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';

import type { ForwardOptions } from '../index';

/** How the proxy chooses an upstream for each new client. */
export type BalanceStrategy = 'round-robin' | 'least-connections';

/** How forward() moves bytes: `'auto'`, `'splice'` or `'copy'` (see `ForwardOptions.mode`). */
export type ForwardMode = NonNullable<ForwardOptions['mode']>;

/** A TCP host and port. */
export interface HostPort {
  host: string;
  port: number;
}

/** Where the proxy listens: a TCP host and port (0 picks a free one) or a Unix socket path. */
export type ListenAddress = HostPort | { path: string };

/** Everything the proxy needs, with every default filled in. */
export interface ProxyOptions {
  /** Where clients connect. */
  listen: ListenAddress;
  /** Where clients are sent; at least one. */
  upstreams: HostPort[];
  /** How an upstream is chosen. Default `'round-robin'`. */
  balance: BalanceStrategy;
  /** How long a connect to an upstream may take before it counts as failed. Default 3000. */
  connectTimeoutMs: number;
  /**
   * Further upstreams to try after a failed connect. Default (undefined):
   * the number of upstreams in the client's pool (`upstreams`, or its
   * `sniUpstreams` name's) - 1.
   */
  retries?: number;
  /** Consecutive failures after which an upstream is skipped for `failCooldownMs`. Default 3. */
  failThreshold: number;
  /** How long a failing upstream is skipped. Default 10000. */
  failCooldownMs: number;
  /** Close a connection with no traffic either way for this long; 0 (default) never does. */
  idleTimeoutMs: number;
  /** Clients beyond this many open connections are closed at once; 0 (default) means no limit. */
  maxConnections: number;
  /** On SIGTERM/SIGINT, how long open connections may take to finish. Default 10000. */
  shutdownGraceMs: number;
  /** Print a JSON stats line to stderr this often; 0 (default) never does. */
  statsIntervalMs: number;
  /** How forwarded bytes move. Default `'auto'`. */
  mode: ForwardMode;
  /**
   * Reactor threads: each runs its own listener (SO_REUSEPORT on the same
   * port) and forwards on its own reactor. Default 1.
   */
  threads: number;
  /**
   * Terminate TLS on the listening side: clients speak TLS (handshake and
   * records on the reactor thread), upstreams get plaintext. PEM text: `cert`
   * the certificate, then its chain; `key` its private key, unencrypted.
   * The flags --tls-cert and --tls-key name the files. Default: plain TCP.
   */
  tls?: { cert: string; key: string };
  /**
   * Originate TLS to the upstreams (handshake and records on the reactor
   * thread), verifying each upstream's certificate as tls.connect does:
   * against `ca` (PEM) or node's default roots, for the name `servername`
   * (also sent as SNI) or else the upstream's host (sent as SNI when it is a
   * name, not an address). The flags: --upstream-tls, --upstream-ca FILE,
   * --upstream-servername NAME. Default: plain TCP. Each upstream's newest
   * session is offered by the next connection to it (its handshake resumes),
   * unless `reuseSessions` is false (--no-upstream-session-reuse).
   */
  upstreamTls?: { ca?: string; servername?: string; reuseSessions?: boolean };
  /**
   * With `tls`: clients are sent by the name they asked for in SNI. Each
   * entry is a host name, or `*.` and a domain for any one label before it,
   * with its own upstreams (balanced and health-checked among themselves);
   * a client whose SNI matches none, or that sent none, goes to `upstreams`.
   * The flag: --sni-upstream NAME=HOST:PORT, repeated. Default: none.
   */
  sniUpstreams?: Array<{ servername: string; upstreams: HostPort[] }>;
  /**
   * With `tls`: the certificate (and chain) and key, PEM, for clients asking
   * for `servername` by SNI (a host name, or `*.` and a domain for any one
   * label before it; names compare case-insensitively); others get `tls`'s.
   * The flag: --sni-cert NAME=CERTFILE,KEYFILE, repeated. Default: none.
   */
  sniCerts?: Array<{ servername: string; cert: string; key: string }>;
}

/** The settings a programmatic user must give; the rest have defaults. */
export type ProxyConfig = Pick<ProxyOptions, 'listen' | 'upstreams'> & Partial<ProxyOptions>;

/**
 * A bad flag or config value. `flag` names it (`--balance`); the message says
 * what was expected and what came. The command line prints the message alone
 * and exits with code 2.
 */
export class UsageError extends Error {
  /** The flag (or config key, as a flag) at fault, or '' for the command line as a whole. */
  readonly flag: string;

  constructor(flag: string, message: string) {
    super(message);
    this.name = 'UsageError';
    this.flag = flag;
  }
}

/** What {@link parseProxyArgs} found: help asked for, or settings to run with. */
export type ParsedProxyArgs = { help: true } | { help: false; options: ProxyOptions };

/** The proxy subcommand's help text. */
export const PROXY_USAGE = `Usage: epoll-reactor proxy --listen HOST:PORT --upstream HOST:PORT [--upstream HOST:PORT ...] [options]

A TCP proxy: every client connection is joined to an upstream connection and
bytes are forwarded both ways on the epoll reactor thread.

  --listen HOST:PORT|PATH     where clients connect (port 0 picks a free port;
                              a value containing '/' is a Unix socket path)
  --upstream HOST:PORT        an upstream server; repeat for several (at least one)
  --balance STRATEGY          round-robin (default) or least-connections
  --connect-timeout MS        give up on an upstream connect after MS (default 3000)
  --retries N                 upstreams to try after one refuses or times out
                              (default: the client's pool's upstreams - 1)
  --fail-threshold N          skip an upstream after N failures in a row (default 3)
  --fail-cooldown MS          ... for MS milliseconds (default 10000)
  --idle-timeout MS           close connections idle for MS, and TLS handshakes not
                              done within MS (default 0: never)
  --max-connections N         refuse clients beyond N open connections, over all
                              threads (default 0: no limit)
  --shutdown-grace MS         on SIGTERM/SIGINT, let connections finish for up to MS
                              (default 10000), then close the rest
  --stats-interval MS         print a JSON stats line to stderr every MS (default 0: off)
  --mode auto|splice|copy     how bytes are forwarded (default auto)
  --threads N                 run N reactor threads, each with its own listener on the
                              port (SO_REUSEPORT) and its own upstream choices (default 1)
  --tls-cert FILE             terminate TLS from clients with this certificate (PEM, the
                              certificate then its chain); upstreams get plaintext
  --tls-key FILE              the certificate's private key (PEM, unencrypted); both or neither
  --sni-upstream NAME=HOST:PORT
                              with --tls-cert: send clients whose SNI is NAME (or, for
                              *.DOMAIN, any name one label below DOMAIN) to HOST:PORT;
                              repeat for more names or more upstreams per name. Others
                              go to --upstream
  --sni-cert NAME=CERT,KEY    with --tls-cert: present CERT (PEM, the certificate then its
                              chain) with its key KEY to clients whose SNI is NAME (or,
                              for *.DOMAIN, any name one label below DOMAIN); repeat for
                              more names. Others get --tls-cert
  --upstream-tls              speak TLS to the upstreams, verifying their certificates
                              (node's default roots unless --upstream-ca)
  --upstream-ca FILE          trust these certificates (PEM) for the upstreams instead
  --upstream-servername NAME  the name sent as SNI and checked in upstream certificates
                              (default: the upstream's host)
  --no-upstream-session-reuse
                              a full TLS handshake with every upstream connection (by
                              default each offers its upstream's newest session)
  --config FILE               JSON object with the same keys ("listen", "upstream",
                              "connect-timeout", ...), at most 1 MiB; flags given on
                              the command line win
  -h, --help                  print this help

Status lines are JSON on stderr: {"listening":"127.0.0.1:8080"} once listening,
{"stats":{...}} every --stats-interval, {"shutdown":{...}} on a signal.
`;

// The flags that take a value, with the config key each is also known by.
const VALUE_FLAGS = [
  'listen', 'upstream', 'balance', 'connect-timeout', 'retries', 'fail-threshold', 'fail-cooldown',
  'idle-timeout', 'max-connections', 'shutdown-grace', 'stats-interval', 'mode', 'threads', 'tls-cert', 'tls-key',
  'upstream-ca', 'upstream-servername', 'sni-upstream', 'sni-cert',
] as const;
// The flags that take no value; in a config file, true or false.
const BOOLEAN_FLAGS = ['upstream-tls', 'no-upstream-session-reuse'] as const;
type BooleanFlag = typeof BOOLEAN_FLAGS[number];
type ValueFlag = typeof VALUE_FLAGS[number];

/** Raw values by flag, as strings, before validation. */
// The flags that may be given more than once (a list in a config file).
const LIST_FLAGS = ['upstream', 'sni-upstream', 'sni-cert'] as const;
type ListFlag = typeof LIST_FLAGS[number];
type RawValues = Partial<Record<Exclude<ValueFlag, ListFlag>, string>> & Partial<Record<ListFlag, string[]>> &
  Partial<Record<BooleanFlag, boolean>>;

const DEFAULTS = {
  balance: 'round-robin',
  connectTimeoutMs: 3000,
  failThreshold: 3,
  failCooldownMs: 10000,
  idleTimeoutMs: 0,
  maxConnections: 0,
  shutdownGraceMs: 10000,
  statsIntervalMs: 0,
  mode: 'auto',
  threads: 1,
} as const;

// Timers in Node hold at most 2^31 - 1 ms (about 24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;
// Each thread is a JS thread with a reactor thread of its own; more than
// this is a typo, not a machine.
const MAX_THREADS = 256;

function quote(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
}

/**
 * Parses `HOST:PORT` or `[IPV6]:PORT`. Returns undefined when the value does
 * not have that shape; a port out of range is an error for `flag`.
 */
function parseHostPort(flag: string, value: string, minPort: number): HostPort | undefined {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:\s/[\]]+):(\d+)$/.exec(value);
  if (match === null) return undefined;
  const [, host, portText] = match;
  if (value.startsWith('[') && isIP(host) !== 6) return undefined;
  if (!value.startsWith('[') && isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(host)) {
    return undefined;
  }
  const port = Number(portText);
  if (port < minPort || port > 65535) {
    throw new UsageError(flag, `${flag} expects a port from ${minPort} to 65535; got ${quote(value)}`);
  }
  return { host, port };
}

function parseListen(value: string): ListenAddress {
  const flag = '--listen';
  if (value.includes('/')) return { path: value };
  const address = parseHostPort(flag, value, 0);
  if (address === undefined) {
    throw new UsageError(flag,
      `${flag} expects HOST:PORT (e.g. 127.0.0.1:8080, port 0 for any) or a Unix socket path containing '/'; got ${quote(value)}`);
  }
  return address;
}

function parseUpstream(value: string): HostPort {
  const flag = '--upstream';
  const address = parseHostPort(flag, value, 1);
  if (address === undefined) {
    throw new UsageError(flag, `${flag} expects HOST:PORT (e.g. 127.0.0.1:9000 or [::1]:9000); got ${quote(value)}`);
  }
  return address;
}

function parseInteger(flag: string, value: string, min: number, what: string): number {
  const number = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(number) || number < min || (what === 'milliseconds' && number > MAX_TIMER_MS)) {
    const range = what === 'milliseconds' ? `from ${min} to ${MAX_TIMER_MS}` : `>= ${min}`;
    throw new UsageError(flag, `${flag} expects a whole number of ${what} ${range}; got ${quote(value)}`);
  }
  return number;
}

function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(flag, `${flag} expects ${choices.map((c) => `'${c}'`).join(' or ')}; got ${quote(value)}`);
  }
  return value as T;
}

/**
 * The most a --config file may hold. A proxy config is a small JSON object;
 * the cap keeps `--config /dev/zero` (or a log file given by mistake) from
 * reading without end (issue 12 item 17).
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Reads at most `limit` + 1 bytes, whatever the file is (a device or a pipe
 * has no size to check first), and fails for `flag` when there is more.
 */
function readBounded(file: string, flag: string, limit: number, what: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > limit) {
      throw new UsageError(flag, `${flag}: ${quote(file)} is larger than ${limit} bytes; ${what}`);
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    fs.closeSync(fd);
  }
}

/** The most a --tls-cert or --tls-key file may hold: PEM chains are kilobytes. */
const MAX_PEM_BYTES = 1024 * 1024;

/** Reads a PEM file for `flag`, with the flag and the file named in any error. */
function readPem(flag: string, file: string): string {
  try {
    return readBounded(file, flag, MAX_PEM_BYTES, 'a PEM certificate or key is a few kilobytes');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(flag, `${flag} cannot read ${quote(file)}: ${(error as Error).message}`);
  }
}

/**
 * Checks a certificate and key as node:tls will use them, naming the flag at
 * fault: the certificate alone first, then the key with it (a key that does
 * not match the certificate is the key's fault).
 */
function checkTls(tls: { cert: string; key: string }, certName: string, keyName: string,
  flags: { cert: string; key: string } = { cert: '--tls-cert', key: '--tls-key' }): { cert: string; key: string } {
  try {
    createSecureContext({ cert: tls.cert });
  } catch (error) {
    throw new UsageError(flags.cert, `${flags.cert}: node:tls rejects the certificate in ${certName}: ${(error as Error).message}`);
  }
  // node:tls takes a file with no PEM block (empty, say) for no certificate or key at all.
  if (!tls.cert.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(flags.cert, `${flags.cert}: ${certName} holds no PEM certificate`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(tls.key)) {
    throw new UsageError(flags.key, `${flags.key}: ${keyName} holds no PEM private key`);
  }
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (error) {
    throw new UsageError(flags.key, `${flags.key}: node:tls rejects the key in ${keyName} for that certificate: ${(error as Error).message}`);
  }
  return tls;
}

/** A DNS name (not an address): what SNI may carry. */
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/** Checks upstream TLS settings (a CA as node:tls reads it, a host name), naming the flag at fault. */
function checkUpstreamTls(settings: { ca?: string; servername?: string }, caName: string): { ca?: string; servername?: string } {
  if (settings.ca !== undefined) {
    try {
      createSecureContext({ ca: settings.ca });
    } catch (error) {
      throw new UsageError('--upstream-ca', `--upstream-ca: node:tls rejects the certificates in ${caName}: ${(error as Error).message}`);
    }
    if (!settings.ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new UsageError('--upstream-ca', `--upstream-ca: ${caName} holds no PEM certificate`);
    }
  }
  if (settings.servername !== undefined && (isIP(settings.servername) !== 0 || !HOST_NAME.test(settings.servername))) {
    throw new UsageError('--upstream-servername',
      `--upstream-servername expects a host name (SNI carries no addresses); got ${quote(settings.servername)}`);
  }
  return settings;
}

/** A --sni-upstream name: a host name, or `*.` before a domain; lower-cased, as names compare. */
function checkSniName(flag: string, name: string, given: string): string {
  const domain = name.startsWith('*.') ? name.slice(2) : name;
  if (isIP(domain) !== 0 || !HOST_NAME.test(domain) || domain.endsWith('.')) {
    const shape = flag === '--sni-cert' ? 'NAME=CERTFILE,KEYFILE' : 'NAME=HOST:PORT';
    throw new UsageError(flag, `${flag} expects ${shape} with NAME a host name or *.DOMAIN; got ${quote(given)}`);
  }
  return name.toLowerCase();
}

/** --sni-upstream NAME=HOST:PORT entries, grouped by name in the order first given. */
function resolveSniUpstreams(values: string[] | undefined, hasTls: boolean): ProxyOptions['sniUpstreams'] {
  if (values === undefined || values.length === 0) return undefined;
  const flag = '--sni-upstream';
  const byName = new Map<string, HostPort[]>();
  for (const value of values) {
    const at = value.indexOf('=');
    if (at <= 0) throw new UsageError(flag, `${flag} expects NAME=HOST:PORT (e.g. api.example.com=127.0.0.1:9000); got ${quote(value)}`);
    const name = checkSniName(flag, value.slice(0, at), value);
    const target = parseHostPort(flag, value.slice(at + 1), 1);
    if (target === undefined) throw new UsageError(flag, `${flag} expects NAME=HOST:PORT (e.g. api.example.com=127.0.0.1:9000); got ${quote(value)}`);
    const list = byName.get(name) ?? [];
    list.push(target);
    byName.set(name, list);
  }
  if (!hasTls) throw new UsageError(flag, `${flag} needs --tls-cert and --tls-key: SNI is read from the TLS handshake`);
  return [...byName].map(([servername, upstreams]) => ({ servername, upstreams }));
}

/** --sni-cert NAME=CERTFILE,KEYFILE entries, read and checked; a name given twice is refused. */
function resolveSniCerts(values: string[] | undefined, hasTls: boolean): ProxyOptions['sniCerts'] {
  if (values === undefined || values.length === 0) return undefined;
  const flag = '--sni-cert';
  const shape = `${flag} expects NAME=CERTFILE,KEYFILE (e.g. api.example.com=api.pem,api.key)`;
  const entries: NonNullable<ProxyOptions['sniCerts']> = [];
  for (const value of values) {
    const at = value.indexOf('=');
    const files = at <= 0 ? [] : value.slice(at + 1).split(',');
    if (files.length !== 2 || files[0] === '' || files[1] === '') throw new UsageError(flag, `${shape}; got ${quote(value)}`);
    const servername = checkSniName(flag, value.slice(0, at), value);
    if (entries.some((entry) => entry.servername === servername)) {
      throw new UsageError(flag, `${flag} gives ${quote(servername)} twice; each name has one certificate`);
    }
    const [certFile, keyFile] = files;
    const pem = { cert: readPem(flag, certFile), key: readPem(flag, keyFile) };
    checkTls(pem, quote(certFile), quote(keyFile), { cert: flag, key: flag });
    entries.push({ servername, ...pem });
  }
  if (!hasTls) throw new UsageError(flag, `${flag} needs --tls-cert and --tls-key: the certificate for clients without a listed name`);
  return entries;
}

/** --upstream-tls with its --upstream-ca and --upstream-servername, read and checked. */
function resolveUpstreamTls(raw: RawValues): { ca?: string; servername?: string; reuseSessions?: boolean } | undefined {
  if (raw['upstream-tls'] !== true) {
    for (const flag of ['upstream-ca', 'upstream-servername'] as const) {
      if (raw[flag] !== undefined) throw new UsageError(`--${flag}`, `--${flag} needs --upstream-tls`);
    }
    if (raw['no-upstream-session-reuse'] === true) {
      throw new UsageError('--no-upstream-session-reuse', '--no-upstream-session-reuse needs --upstream-tls');
    }
    return undefined;
  }
  const caFile = raw['upstream-ca'];
  return {
    ...checkUpstreamTls({
      ...(caFile === undefined ? {} : { ca: readPem('--upstream-ca', caFile) }),
      ...(raw['upstream-servername'] === undefined ? {} : { servername: raw['upstream-servername'] }),
    }, caFile === undefined ? '' : quote(caFile)),
    ...(raw['no-upstream-session-reuse'] === true ? { reuseSessions: false } : {}),
  };
}

/** --tls-cert and --tls-key: both or neither, read and checked. */
function resolveTls(certFile: string | undefined, keyFile: string | undefined): { cert: string; key: string } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) {
    throw new UsageError('--tls-cert', '--tls-key needs --tls-cert: give the certificate (PEM) that goes with the key');
  }
  if (keyFile === undefined) {
    throw new UsageError('--tls-key', "--tls-cert needs --tls-key: give the certificate's private key (PEM)");
  }
  const tls = { cert: readPem('--tls-cert', certFile), key: readPem('--tls-key', keyFile) };
  return checkTls(tls, quote(certFile), quote(keyFile));
}

/** Reads a --config file into raw values, naming the key at fault as its flag. */
function readConfigFile(file: string): RawValues {
  let text: string;
  try {
    text = readBounded(file, '--config', MAX_CONFIG_BYTES, 'a proxy config is a small JSON object');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError('--config', `--config cannot read ${quote(file)}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError('--config', `--config expects a JSON file; ${quote(file)} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError('--config', `--config expects a JSON object in ${quote(file)}; got ${Array.isArray(parsed) ? 'an array' : quote(parsed)}`);
  }
  const raw: RawValues = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(VALUE_FLAGS as readonly string[]).includes(key) && !(BOOLEAN_FLAGS as readonly string[]).includes(key)) {
      throw new UsageError('--config',
        `--config: unknown key ${quote(key)} in ${quote(file)}; expected keys: ${[...VALUE_FLAGS, ...BOOLEAN_FLAGS].join(', ')}`);
    }
    const flag = `--${key} (in ${file})`;
    if ((BOOLEAN_FLAGS as readonly string[]).includes(key)) {
      if (typeof value !== 'boolean') throw new UsageError(`--${key}`, `${flag} expects true or false; got ${quote(value)}`);
      raw[key as BooleanFlag] = value;
    } else if ((LIST_FLAGS as readonly string[]).includes(key)) {
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0 || !list.every((item) => typeof item === 'string')) {
        const shape = key === 'upstream' ? '"HOST:PORT"' : key === 'sni-cert' ? '"NAME=CERTFILE,KEYFILE"' : '"NAME=HOST:PORT"';
        throw new UsageError(`--${key}`, `${flag} expects a ${shape} string or an array of them; got ${quote(value)}`);
      }
      raw[key as ListFlag] = list as string[];
    } else if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) {
      raw[key as Exclude<ValueFlag, ListFlag>] = String(value);
    } else {
      throw new UsageError(`--${key}`, `${flag} expects a string or a number; got ${quote(value)}`);
    }
  }
  return raw;
}

/** Validates raw values and fills in defaults. */
function resolveOptions(raw: RawValues): ProxyOptions {
  if (raw.listen === undefined) {
    throw new UsageError('--listen', '--listen is required: give HOST:PORT (e.g. 127.0.0.1:8080) or a Unix socket path');
  }
  if (raw.upstream === undefined || raw.upstream.length === 0) {
    throw new UsageError('--upstream', '--upstream is required: give at least one HOST:PORT (e.g. --upstream 127.0.0.1:9000)');
  }
  const upstreams = raw.upstream.map(parseUpstream);
  const listen = parseListen(raw.listen);
  const threads = raw.threads === undefined ? DEFAULTS.threads : parseInteger('--threads', raw.threads, 1, 'threads');
  if (threads > MAX_THREADS) {
    throw new UsageError('--threads', `--threads expects a whole number of threads from 1 to ${MAX_THREADS}; got ${quote(raw.threads)}`);
  }
  if (threads > 1 && 'path' in listen) {
    throw new UsageError('--threads',
      '--threads above 1 needs a TCP --listen HOST:PORT: the threads share the port with SO_REUSEPORT, which Unix sockets do not have');
  }
  const tls = resolveTls(raw['tls-cert'], raw['tls-key']);
  const upstreamTls = resolveUpstreamTls(raw);
  const sniUpstreams = resolveSniUpstreams(raw['sni-upstream'], tls !== undefined);
  const sniCerts = resolveSniCerts(raw['sni-cert'], tls !== undefined);
  const ms = (flag: Exclude<ValueFlag, ListFlag>, fallback: number, min = 0): number =>
    raw[flag] === undefined ? fallback : parseInteger(`--${flag}`, raw[flag] as string, min, 'milliseconds');
  const count = (flag: Exclude<ValueFlag, ListFlag>, unit: string, fallback: number, min = 0): number =>
    raw[flag] === undefined ? fallback : parseInteger(`--${flag}`, raw[flag] as string, min, unit);
  return {
    listen,
    upstreams,
    balance: raw.balance === undefined ? DEFAULTS.balance
      : parseChoice('--balance', raw.balance, ['round-robin', 'least-connections'] as const),
    connectTimeoutMs: ms('connect-timeout', DEFAULTS.connectTimeoutMs, 1),
    ...(raw.retries === undefined ? {} : { retries: count('retries', 'retries', 0) }),
    failThreshold: count('fail-threshold', 'failures', DEFAULTS.failThreshold, 1),
    failCooldownMs: ms('fail-cooldown', DEFAULTS.failCooldownMs),
    idleTimeoutMs: ms('idle-timeout', DEFAULTS.idleTimeoutMs),
    maxConnections: count('max-connections', 'connections', DEFAULTS.maxConnections),
    shutdownGraceMs: ms('shutdown-grace', DEFAULTS.shutdownGraceMs),
    statsIntervalMs: ms('stats-interval', DEFAULTS.statsIntervalMs),
    mode: raw.mode === undefined ? DEFAULTS.mode : parseChoice('--mode', raw.mode, ['auto', 'splice', 'copy'] as const),
    threads,
    ...(tls === undefined ? {} : { tls }),
    ...(upstreamTls === undefined ? {} : { upstreamTls }),
    ...(sniUpstreams === undefined ? {} : { sniUpstreams }),
    ...(sniCerts === undefined ? {} : { sniCerts }),
  };
}

/**
 * Fills in the defaults for a programmatic configuration, validating it as
 * the flags are validated.
 *
 * @example
 * ```ts
 * const options = withDefaults({ listen: { host: '127.0.0.1', port: 0 }, upstreams: [{ host: '127.0.0.1', port: 9000 }] });
 * console.log(options.balance); // 'round-robin'
 * ```
 */
export function withDefaults(config: ProxyConfig): ProxyOptions {
  const raw: RawValues = {
    listen: 'path' in config.listen ? config.listen.path
      : config.listen.host.includes(':') ? `[${config.listen.host}]:${config.listen.port}` : `${config.listen.host}:${config.listen.port}`,
    upstream: config.upstreams.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)),
  };
  const numeric: Array<[Exclude<ValueFlag, ListFlag | 'listen' | 'balance' | 'mode' | 'tls-cert' | 'tls-key' |
    'upstream-ca' | 'upstream-servername'>, number | undefined]> = [
    ['connect-timeout', config.connectTimeoutMs], ['retries', config.retries], ['fail-threshold', config.failThreshold],
    ['fail-cooldown', config.failCooldownMs], ['idle-timeout', config.idleTimeoutMs],
    ['max-connections', config.maxConnections], ['shutdown-grace', config.shutdownGraceMs],
    ['stats-interval', config.statsIntervalMs], ['threads', config.threads],
  ];
  for (const [flag, value] of numeric) if (value !== undefined) raw[flag] = String(value);
  if (config.balance !== undefined) raw.balance = config.balance;
  if (config.mode !== undefined) raw.mode = config.mode;
  const options = resolveOptions(raw);
  if (config.tls !== undefined) options.tls = checkTls({ cert: config.tls.cert, key: config.tls.key }, 'tls.cert', 'tls.key');
  if (config.sniUpstreams !== undefined && config.sniUpstreams.length > 0) {
    options.sniUpstreams = resolveSniUpstreams(config.sniUpstreams.flatMap(({ servername, upstreams }) =>
      upstreams.map(({ host, port }) => `${servername}=${host.includes(':') ? `[${host}]` : host}:${port}`)),
    options.tls !== undefined);
  }
  if (config.sniCerts !== undefined && config.sniCerts.length > 0) {
    const flag = '--sni-cert';
    if (options.tls === undefined) throw new UsageError(flag, `sniCerts needs tls: the certificate for clients without a listed name`);
    const seen = new Set<string>();
    options.sniCerts = config.sniCerts.map(({ servername, cert, key }) => {
      const name = checkSniName(flag, String(servername), String(servername));
      if (seen.has(name)) throw new UsageError(flag, `sniCerts gives ${quote(name)} twice; each name has one certificate`);
      seen.add(name);
      return { servername: name, ...checkTls({ cert, key }, `sniCerts[${quote(name)}].cert`, `sniCerts[${quote(name)}].key`,
        { cert: flag, key: flag }) };
    });
  }
  if (config.upstreamTls !== undefined) {
    const { ca, servername, reuseSessions } = config.upstreamTls;
    if (reuseSessions !== undefined && typeof reuseSessions !== 'boolean') {
      throw new UsageError('--no-upstream-session-reuse', `upstreamTls.reuseSessions expects true or false; got ${quote(String(reuseSessions))}`);
    }
    options.upstreamTls = {
      ...checkUpstreamTls({
        ...(ca === undefined ? {} : { ca }), ...(servername === undefined ? {} : { servername }),
      }, 'upstreamTls.ca'),
      ...(reuseSessions === false ? { reuseSessions: false } : {}),
    };
  }
  return options;
}

/**
 * Parses the proxy subcommand's arguments (without `proxy` itself). Throws a
 * {@link UsageError} naming the flag for anything malformed, unknown or
 * missing.
 *
 * @example
 * ```ts
 * const parsed = parseProxyArgs(['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:9000']);
 * if (!parsed.help) console.log(parsed.options.upstreams);
 * ```
 */
export function parseProxyArgs(argv: readonly string[]): ParsedProxyArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(VALUE_FLAGS.map((flag) => [flag,
          { type: 'string' as const, multiple: (LIST_FLAGS as readonly string[]).includes(flag) }])),
        ...Object.fromEntries(BOOLEAN_FLAGS.map((flag) => [flag, { type: 'boolean' as const }])),
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs's messages already name the option ("Unknown option '--foo'",
    // "Option '--listen <value>' argument missing"); keep them, minus the
    // advice about '--' that does not apply since there are no positionals.
    const message = (error as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '');
    const flag = /'(-{1,2}[^ ']+)/.exec(message)?.[1] ?? '';
    throw new UsageError(flag, message);
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (values.help === true) return { help: true };

  const fromFile: RawValues = typeof values.config === 'string' ? readConfigFile(values.config) : {};
  const raw: RawValues = { ...fromFile };
  for (const flag of VALUE_FLAGS) {
    const value = values[flag];
    if (value === undefined) continue;
    if ((LIST_FLAGS as readonly string[]).includes(flag)) raw[flag as ListFlag] = value as string[];
    else raw[flag as Exclude<ValueFlag, ListFlag>] = value as string;
  }
  for (const flag of BOOLEAN_FLAGS) if (values[flag] === true) raw[flag] = true;
  return { help: false, options: resolveOptions(raw) };
}
