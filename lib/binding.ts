// The one place that loads the native addon.
import * as path from 'node:path';

/** The native reactor as the addon exposes it (src-native/reactor.h). */
export interface NativeReactor {
  listen(family: 0 | 4 | 6, address: string, port: number, backlog: number, listenFlags: number,
    connectionFlags: number, keepAliveSeconds: number, tlsContextId?: number):
    [id: number, address: string, port: number] | [errno: number, syscall: string];
  listenFd(fd: number, backlog: number, connectionFlags: number, keepAliveSeconds: number, duplicate: boolean,
    tlsContextId?: number):
    [id: number, address: string, port: number, family: 0 | 4 | 6] | [errno: number, syscall: string];
  closeListener(id: number): void;
  connect(family: 0 | 4 | 6, address: string, port: number, localAddress: string, localPort: number,
    tlsContext?: number, servername?: string, session?: Buffer, traces?: boolean, requestsOcsp?: boolean,
    /** A net.BoundSocket's fd: a duplicate of it connects, in place of a new socket (localAddress/Port unused). */
    boundFd?: number,
    /** A TLS client reports its key log lines from its first message on. */
    logsKeys?: boolean,
    /** A TLS client's plaintext bytes per record from its first message on (512 to 16384), 0 for OpenSSL's. */
    maxSendFragment?: number,
    /** A TLS client with a pskCallback: its handshake asks JS for the PSK (TlsPsk events). */
    asksPsk?: boolean):
    [id: number] | [errno: number, syscall: string];
  /**
   * Takes a duplicate of a connected stream socket. `wasConnected`: one libuv
   * had connected, taken even if it has closed both ways since (addresses '' and 0).
   */
  adoptFd(fd: number, wasConnected?: boolean):
    [id: number, remoteAddress: string, remotePort: number, localAddress: string, localPort: number] |
    [errno: number, syscall: string];
  /**
   * Queues bytes; returns their length. The kWritten event that reports them
   * all sent wakes JS, unless written `behind` the write JS waits for (then
   * {@link awaitWritten} says when JS waits for them).
   */
  write(id: number, data: Uint8Array | string, behind?: boolean): number;
  /**
   * The kWritten event that reports `total` bytes sent wakes JS (at once if they are).
   * `reportAttempt`: also a kWritten marked `attempted`, whatever the kernel took, once
   * the reactor has tried the writes handed over before (0 for `total` leaves the wake-up point).
   */
  awaitWritten(id: number, total: number, reportAttempt?: boolean): void;
  /** Stops the thread and frees everything native at once (a failed reactor, once idle). */
  destroy(): void;
  /**
   * At process exit: stops the thread, runs what JS has handed over, and
   * from then on runs every flush at once on the JS thread; nothing is
   * delivered any more. destroy() (or the environment's cleanup) still frees
   * everything.
   */
  runOnCallerFromNow(): void;
  /**
   * The write log's two views over one ArrayBuffer, made once (undefined once
   * torn down): index is [records, bytes used, then (id, length) per record],
   * bytes the records' bytes side by side. Every call that stages or flushes
   * stages the logged writes first, in order, and empties the index.
   */
  writeLog(): [index: Float64Array, bytes: Uint8Array] | undefined;
  /** Stages the logged writes now (the log is full); throws a TypeError if this or any call since the last throw found the log corrupt or detached (its writes dropped). */
  drainWriteLog(): void;
  shutdown(id: number): void;
  close(id: number): void;
  pause(id: number): void;
  /** A TLS client's server was accepted: its queued writes may be sent (lib/tls.ts). */
  tlsAllowWrites(id: number): void;
  /** A server connection's 'newSession' callback was called: what its handshake wrote may go. */
  tlsSessionStored(id: number): void;
  /** A TLS 1.2 server connection's client was judged and its listeners ran: the handshake's end may go. */
  tlsVerdictGiven(id: number): void;
  /**
   * The answer to a TlsServername event: a server context for the handshake,
   * or 0 for the listener's, and an OCSP response to staple.
   */
  tlsUseContext(id: number, contextId: number, ocspResponse?: Buffer): void;
  /** The answer to a TlsAlpn event: the index of the chosen name among those offered, -1 for none. */
  tlsChooseAlpn(id: number, index: number, keyCertContextId: number): void;
  /** The answer to a TlsResumeSession event: the session (DER) to resume, or none. */
  tlsResumeSession(id: number, session?: Buffer): void;
  /**
   * The answer to a TlsPsk event: the index of the identity a key was found
   * for and the key, or -1 for none. A client's: the identity's length in
   * bytes and the identity followed by the key.
   */
  tlsAnswerPsk(id: number, index: number, key?: Buffer): void;
  /** A TLS connection's records carry at most `size` bytes of plaintext from now on (512 to 16384). */
  tlsSetMaxSendFragment(id: number, size: number): void;
  /** The session a server connection's handshake made (DER), or undefined. */
  tlsServerSession(id: number): Buffer | undefined;
  /**
   * Asks a TLS connection's reactor thread (src-native/tls_query.h) and waits
   * for the answer: undefined when there is no such TLS connection, null when
   * the reactor thread did not answer in time, else the answer's number and
   * its byte strings.
   */
  tlsQuery(id: number, kind: number, length?: number, label?: string, context?: Buffer): [number, ...Buffer[]] | undefined | null;
  /** A TLS client connection reports its key log lines from now on. */
  tlsLogKeys(id: number): void;
  /** A TLS connection writes OpenSSL's trace of its records to stderr from now on. */
  tlsTrace(id: number): void;
  /** A server context's connections report their key log lines from now on. */
  tlsLogServerKeys(contextId: number): void;
  /** A server context's connections ask for a context by SNI name from now on. */
  tlsAskServernames(contextId: number): void;
  /** The server context a TLS listener's connections start with from now on (setSecureContext()). */
  tlsListenWith(listenerId: number, contextId: number): void;
  /** Whether a listening server's connections accepted from now on ask for an OCSP staple when their client asks for one. */
  tlsAskOcsp(contextId: number, asks: boolean): void;
  /** A listening server's external session cache from now on: bit 1 'newSession', bit 2 'resumeSession' listeners. */
  tlsAskSessions(contextId: number, asks: number): void;
  /** A context's certificate and the certificate that issued it (DER), as node's getCertificate() and getIssuer(). */
  tlsContextCertificates(contextId: number): [certificate?: Buffer, issuer?: Buffer] | undefined;
  resume(id: number): void;
  setTimeout(id: number, milliseconds: number): void;
  /** Past `limit` open connections the listener accepts and closes, reporting a drop; 0: no limit. */
  setMaxConnections(listenerId: number, limit: number): void;
  setNoDelay(id: number, enable: boolean): void;
  /**
   * Sets (tos 0-255) or reads (tos -1) a connection's IP type of service on
   * the reactor thread and waits: 0 once set, the value read, or -errno;
   * undefined without such a connection, null when not answered in 5 s.
   */
  typeOfService(id: number, tos: number): number | null | undefined;
  /** As node's TCP handle: interval 1 s and 10 probes unless given; any below 1 leaves SO_KEEPALIVE alone set. */
  setKeepAlive(id: number, enable: boolean, idleSeconds: number, intervalSeconds?: number, count?: number): void;
  /**
   * Reads a connection's TCP setting on the reactor thread (1 SO_KEEPALIVE,
   * 2 TCP_KEEPIDLE, 3 TCP_KEEPINTVL, 4 TCP_KEEPCNT, 5 TCP_NODELAY), for tests
   * and diagnostics: the value, -errno, undefined without such a connection,
   * null when not answered in 5 s.
   */
  socketOption(id: number, option: 1 | 2 | 3 | 4 | 5): number | null | undefined;
  reset(id: number): void;
  forward(forwardId: number, firstId: number, secondId: number, mode: number): void;
  forwardStart(forwardId: number): void;
  /**
   * Connects to `address` (family 4, 6, or 0 for a Unix path) on the reactor
   * thread and forwards connection `connectionId` to it; `timeoutMs` 0 for
   * none. `received`: the bytes of the connection the reactor had handed JS;
   * `held`: a copy of those JS holds unread. If the reactor read no more for
   * JS by the connect, `held` goes to the upstream first and the forward
   * starts with no round trip through JS (kForwardReady says which).
   */
  forwardTo(forwardId: number, connectionId: number, family: 0 | 4 | 6, address: string, port: number, mode: number,
    noDelay: boolean, timeoutMs: number, received: number, held: Buffer): void;
  nextId(): number;
  /** @internal Counters as of the reactor thread's last turn, for tests and diagnostics. */
  stats(): NativeReactorStats;
  /** Submits the staged commands, with the tick's acknowledgements as (id, bytes) pairs. */
  flush(acks?: Float64Array): void;
  ref(): void;
  unref(): void;
  /** Whether JS has endpoints open: only then is the dispatch function held strongly. False if not done. */
  hold(open: boolean): boolean;
  /** Builds an SSL_CTX (src-native/tls_context.h); [id] or OpenSSL's [message, library, reason]. */
  createTlsContext(options: NativeTlsContextOptions): [id: number] | [message: string, library: string, reason: string];
  releaseTlsContext(id: number): void;
  /** A server context's new session ticket keys (node's 48 bytes). */
  setTlsTicketKeys(id: number, keys: Buffer): void;
}

/** What createTlsContext takes: PEM text, already validated by lib/tls.ts. */
export interface NativeTlsContextOptions {
  /** A client context (connect({ tls })): verifies the server, offers `alpn`. */
  client?: boolean;
  keys: { pem: string; passphrase?: string }[];
  /** PKCS#12 bundles (node's `pfx`), applied after keys, certs and ca. */
  pfx?: { der: Buffer; passphrase?: Buffer }[];
  certs: string[];
  ca: string[];
  /** JS only: `ca` was not given (falsy, as node's `if (ca)`), so a peer is checked against node's roots. */
  defaultCa?: boolean;
  cipherList: string;
  cipherSuites: string;
  /** PEM certificate revocation lists (node's crl). */
  crls?: string[];
  /** node's ecdhCurve, '' for OpenSSL's choice ('auto'). */
  ecdhCurve?: string;
  /** node's sigalgs, '' for OpenSSL's. */
  sigalgs?: string;
  /** node's secureOptions: SSL_OP_* bits added to the reactor's own. */
  secureOptions?: number;
  /** node's dhparam as PEM text ('' for none): parameters for the DHE ciphers. */
  dhparam?: string;
  /** node's dhparam 'auto': OpenSSL's well-known DHE parameters. */
  dhAuto?: boolean;
  /** Read dhparam as Node 24 and later do (the first parameters that decode), not as 20 and 22 do. */
  dhparamDecoded?: boolean;
  /** node's allowPartialTrustChain: X509_V_FLAG_PARTIAL_CHAIN on the context's store. */
  partialChain?: boolean;
  /**
   * node's certificateCompression packed as node packs it (bits 0-7 the count, then one algorithm id per byte);
   * 0: none (compression off); -1: the running node has no such option (OpenSSL's default).
   */
  certCompression?: number;
  /** The lowest protocol version, 0x0301 (TLSv1) to 0x0304 (TLSv1.3); 0 for OpenSSL's lowest. */
  minVersion: number;
  maxVersion: number;
  /** ALPN names in wire format (length-prefixed), or an empty Buffer. */
  alpn: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  /** Server cipher preference (SSL_OP_CIPHER_SERVER_PREFERENCE); node's default for servers is true. */
  honorCipherOrder: boolean;
  /** Seconds a session stays resumable; absent: OpenSSL's default. */
  sessionTimeout?: number;
  /** node's 48 bytes of ticket keys (name, HMAC key, AES key); absent: random keys. */
  ticketKeys?: Buffer;
  /** What sessions are scoped to (SSL_CTX_set_session_id_context), at most 32 bytes. */
  sessionIdContext: string;
  /**
   * A context node made (tls.createSecureContext) for a server's SNI choice,
   * whose certificate, key, chain, trust store and CA names are taken, or
   * for a client's secureContext, whose settings are all taken
   * (tls_node_context.h): in lib/tls.ts its native part, passed to
   * createTlsContext as node's `_external` of it (read in that call). No
   * keys, certs, pfx, ca or crls come with it.
   */
  nodeContext?: object;
  /** Which context node made `nodeContext` is, for caches keyed by these options' JSON (lib/tls.ts). */
  nodeContextSerial?: number;
  /** A server's handshakes stop at an SNI name for JS to choose a context (SNICallback, addContext). */
  asksServername?: boolean;
  /** A server's handshakes stop at a ClientHello offering ALPN for JS to choose a name (ALPNCallback). */
  asksAlpn?: boolean;
  /** A server's handshakes stop at a client's PSK identities for JS's key (pskCallback). */
  asksPsk?: boolean;
  /** The identity hint a TLS 1.2 PSK server sends (pskIdentityHint). */
  pskIdentityHint?: string;
  /** A server's handshakes stop for an OCSP staple when the client asks for one ('OCSPRequest'). */
  asksOcsp?: boolean;
  /** A server's external session cache: bit 1 'newSession', bit 2 'resumeSession' listeners. */
  asksSessions?: number;
  /** A server whose connections report key log lines ('keylog'). */
  logsKeys?: boolean;
  /** A server whose connections trace their records to stderr from the first (enableTrace). */
  traces?: boolean;
}

/**
 * What `stats()` reports (LoopStats in src-native/loop.h), as of the reactor's
 * last turn. Acknowledgements JS sent since may wait for the next turn; a
 * call wakes the reactor for them, so a caller polling sees them applied.
 */
export interface NativeReactorStats {
  /** Open connections. */
  connections: number;
  /** Entries in the idle-timer heap: at most one per connection with a timeout. */
  timerEntries: number;
  /** Bytes handed to JS and not yet consumed, over all connections. */
  unconsumedBytes: number;
  /** Connections parked by the unconsumed-bytes caps. */
  blockedConnections: number;
  /** Times a connection was parked by those caps, since the reactor started. */
  capParks: number;
  /** Listeners that stopped accepting until JS takes the connections accepted so far. */
  heldListeners: number;
  /** TLS server connections whose handshake's session is kept for getSession(): one per such open connection. */
  tlsServerSessions: number;
  /** TLS contexts JS holds by id (servers', SNI choices', clients'), each until JS releases it. */
  tlsContexts: number;
  /** 256 KiB Buffers lent to the reactor for bulk reads (spare, being read into, or on their way to JS): at most 32. */
  lentBuffers: number;
  /** Bulk reads handed to JS in the Buffer they were read into, without a copy, since the reactor started. */
  lentReadsHandedOver: number;
  /** The reactor thread's Linux thread id (its /proc/self/task entry); 0 before it runs, after it ends, or on the JS thread. */
  threadId: number;
}

/** Bits of `listenFlags` (src-native/reactor.cc). */
export const enum ListenFlag {
  Ipv6Only = 1,
  ReusePort = 2,
}

/** Bits of `connectionFlags` (Command::kPauseOnConnect and friends in loop.h). */
export const enum ConnectionFlag {
  PauseOnConnect = 1,
  NoDelay = 2,
  KeepAlive = 4,
}

/**
 * Takes one batch: its records are the first `recordCount` entries of `records` (reused per batch).
 * A data record's bytes are `chunks[a]`, or, when a is -1, `inbox` from offset b (reused per batch).
 */
export type BatchDispatcher = (records: Float64Array, recordCount: number, chunks: Buffer[] | undefined,
  strings: string[], inbox: Uint8Array | undefined) => void;

export interface NativeReactorOptions {
  readBudgetPerTurn?: number;
  unackedCapPerSocket?: number;
  unackedCapTotal?: number;
  shortReadDrains?: boolean;
  edgeTriggered?: boolean;
  hangupEndsShortRead?: boolean;
  /** false: the loop runs its turns on the JS thread (lib/configure.ts `thread`). */
  ownThread?: boolean;
}

/** The bridge protocol this lib speaks: src-native/reactor.h kBridgeProtocol, bumped with it. */
export const BRIDGE_PROTOCOL = 17;

interface NativeBinding {
  available: boolean;
  /** The addon's kBridgeProtocol (absent before there was one). */
  protocol?: number;
  /** Whether the running node exports the OpenSSL functions the addon calls (docs/tls.md). */
  tlsAvailable?: boolean;
  /** OpenSSL's version text, as the running node carries it. */
  tlsVersion?: string;
  /** Whether reactor TLS servers bind sessions to their SNI name, as the running node's own (lib/session-binding.ts). */
  tlsBindSessionsToServername?(bound: boolean, probed: boolean): void;
  Reactor?: new (dispatch: BatchDispatcher, options?: NativeReactorOptions) => NativeReactor;
}

/** The package folder: build/Release (a local compile) and prebuilds/ (shipped in the tarball) are in it. */
const packageRoot = path.join(__dirname, '..');

/**
 * Loads the addon the way node-gyp-build finds it: build/Release if this
 * install compiled one, else the prebuild in prebuilds/<platform>-<arch>/
 * that fits (N-API, glibc or musl). The addon uses only N-API (NAPI_VERSION
 * in binding.gyp), so one build serves every supported Node version.
 */
function load(): NativeBinding {
  if (process.platform !== 'linux') return { available: false };
  let addonPath = '';
  let loaded: NativeBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    addonPath = nodeGypBuild.path(packageRoot);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(addonPath) as NativeBinding;
  } catch (cause) {
    const what = addonPath
      ? `could not load the native reactor from ${addonPath}.`
      : `found no native reactor for linux-${process.arch}: no build/Release in ${packageRoot} and no prebuilt ` +
        'binary that fits in its prebuilds/ (the package ships them for linux-x64 and linux-arm64 with glibc).';
    const error = new Error(
      `epoll-reactor: ${what}\n` +
        'Build it with `npm rebuild epoll-reactor` (needs python3, make and a C++17 compiler), ' +
        'or run `npm install` again in the package folder.',
    );
    (error as Error & { cause: unknown }).cause = cause;
    throw error;
  }
  checkProtocol(loaded, addonPath);
  return loaded;
}

/**
 * @internal Refuses an addon that speaks another bridge protocol than this
 * lib: one built from other sources, such as a build/ left from before a
 * pull, would have its events misread.
 */
export function checkProtocol(loaded: NativeBinding, addonPath: string): void {
  if (loaded.protocol === BRIDGE_PROTOCOL) return;
  throw new Error(
    `epoll-reactor: the native reactor at ${addonPath} speaks bridge protocol ${loaded.protocol ?? 0}, ` +
      `and this JavaScript speaks ${BRIDGE_PROTOCOL}: it was built from other sources. ` +
      'Rebuild it with `npm run build` in a checkout, or `npm rebuild epoll-reactor`.',
  );
}

export const binding: NativeBinding = load();
