// TLS servers whose handshakes and records run on the reactor thread
// (src-native/tls_context.h, tls_session.h): node:tls's server options,
// checked as node:tls checks them, and sockets with TLSSocket's surface.
import { constants as cryptoConstants, createHash, randomBytes, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { types } from 'node:util';

import { binding } from './binding';
import type { NativeTlsContextOptions } from './binding';
import { codedError, codedTypeError, invalidArgType, invalidArgValue, NodeStyleError, opensslError, outOfRange, systemError, tlsStreamError } from './errors';
import type { Reactor } from './reactor';
import {
  addContextIgnoresCase, ephemeralKeyInfoNamesGroups, contextsCheckedForCertificate, systemCaHintOnVerifyErrors,
  ipServernameThrows, listenerWriteSendsFinished, pskHintErrorCode, serversNeedClientCertificates,
  tlsSessionsCarryServerIdentity,
} from './net-version';
import { getReactor } from './reactor';
import { nodeOptionValue } from './node-options';
import { bindSessionsAsNodeDoes } from './session-binding';
import { Server, ServerOptions } from './server';
import { Socket, SocketOptions } from './socket';
import { validateFunction, validateInteger, validateObject, validateString } from './validate';

/**
 * Whether reactor TLS works in this process: the native addon is loaded and
 * the running node exports the OpenSSL functions it calls (docs/tls.md).
 * Where it does not, {@link createSecureServer} returns node:tls's server.
 */
export const tlsAvailable: boolean = binding.available && binding.tlsAvailable === true;

/**
 * node:tls server options the reactor does not implement yet; passing one
 * throws. (`secureContext` is not one: tls.Server ignores it, and so does
 * SecureServer.)
 */
const unsupportedOptions = [
  'privateKeyEngine', 'privateKeyIdentifier', 'clientCertEngine',
] as const;


/**
 * Options createSecureServer takes but serveHttp leaves to node:tls on an
 * https.Server's own listener: HTTPS with PSK (docs/tls.md).
 */
const leftToNodeByServeHttp = ['pskCallback'] as const;

/** node:tls client options the reactor does not implement yet; passing one throws. */
const unsupportedClientOptions = [
  'privateKeyEngine', 'privateKeyIdentifier',
  'minDHSize', 'socket',
] as const;

const protocolVersions: Record<string, number> = {
  'TLSv1': 0x0301, 'TLSv1.1': 0x0302, 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304,
};

/**
 * The parts of a `secureProtocol` method name reactor TLS takes for a server
 * (or a client): the versions' name and the side, or null. A server given a
 * client's method (or a client a server's) fails every handshake in node;
 * reactor TLS refuses it instead, and serveHttp leaves such a server to node:tls.
 */
function methodParts(method: string, client: boolean): RegExpExecArray | null {
  const parts = /^(SSLv23|TLS|TLSv1|TLSv1_1|TLSv1_2)_(?:(server|client)_)?method$/.exec(method);
  return parts === null || parts[2] === (client ? 'server' : 'client') ? null : parts;
}

/**
 * The protocol versions a `secureProtocol` method name stands for, as node's
 * SecureContext::Init sets them, once node has checked the name (and refused
 * it beside minVersion or maxVersion): TLS_method any version (0: OpenSSL's
 * lowest), SSLv23_method the default minimum up to TLSv1.2, TLSv1_2_method
 * only TLSv1.2.
 */
function secureProtocolVersions(method: string, client: boolean, defaultMin: number): [number, number] {
  const parts = methodParts(method, client);
  if (parts === null) {
    throw codedError(`epoll-reactor: the TLS option 'secureProtocol' ${JSON.stringify(method)} is not supported by ` +
      `reactor TLS for a ${client ? 'client' : 'server'} (docs/tls.md)`, 'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED');
  }
  switch (parts[1]) {
    case 'SSLv23': return [defaultMin, 0x0303];
    case 'TLS': return [0, 0x0304];
    case 'TLSv1': return [0x0301, 0x0301];
    case 'TLSv1_1': return [0x0302, 0x0302];
    default: return [0x0303, 0x0303];
  }
}

// Which block of a dhparam text node uses differs between Node 22 (the first
// DH block) and 24 (the first parameters that decode, which must be DH); the
// native context reads it as the running node does (tls_context.cc).
const DHPARAM_DECODED = Number(process.versions.node.split('.')[0]) >= 24;

// OpenSSL's ids of the certificate compression algorithms (TLSEXT_comp_cert_*).
const certificateCompressionIds: Record<string, number> = { zlib: 1, brotli: 2, zstd: 3 };
let nodeTakesCertificateCompression: boolean | undefined;

/**
 * node's certificateCompression packed as node packs it for its context
 * (bits 0-7 the count, then an algorithm id per byte), once node's
 * createSecureContext has checked it: 0 when none is given (node's contexts
 * then have compression off), -1 when the running node has no such option
 * (before Node 24: its contexts keep OpenSSL's default, and so do ours).
 */
function certificateCompressionOf(algorithms: unknown): number {
  if (nodeTakesCertificateCompression === undefined) {
    try {
      // `ca: []` spares node loading its root store for the probe.
      tls.createSecureContext({ ca: [], certificateCompression: 'not a list' } as unknown as tls.SecureContextOptions);
      nodeTakesCertificateCompression = false;
    } catch {
      nodeTakesCertificateCompression = true;
    }
  }
  if (!nodeTakesCertificateCompression) return -1;
  if (!Array.isArray(algorithms)) return 0;
  let packed = algorithms.length;
  algorithms.forEach((name, i) => { packed |= (certificateCompressionIds[String(name)] ?? 0) << (8 * (i + 1)); });
  return packed;
}

// node's default handshakeTimeout for tls.Server.
const DEFAULT_HANDSHAKE_TIMEOUT = 120_000;

/** OpenSSL's X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: node's verdict on a peer that sent no certificate. */
const X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2;

// OpenSSL 3's X509_V_ERR_* numbers (INVALID_CA is 79; 1.1.1's 24 is now
// NO_ISSUER_PUBLIC_KEY, UNSPECIFIED to node) and the names node gives them as
// `authorizationError` (src/crypto/crypto_common.cc).
const verifyErrorNames: Record<number, string> = {
  2: 'UNABLE_TO_GET_ISSUER_CERT', 3: 'UNABLE_TO_GET_CRL', 4: 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  5: 'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 6: 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 7: 'CERT_SIGNATURE_FAILURE',
  8: 'CRL_SIGNATURE_FAILURE', 9: 'CERT_NOT_YET_VALID', 10: 'CERT_HAS_EXPIRED', 11: 'CRL_NOT_YET_VALID',
  12: 'CRL_HAS_EXPIRED', 13: 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 14: 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  15: 'ERROR_IN_CRL_LAST_UPDATE_FIELD', 16: 'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 17: 'OUT_OF_MEM',
  18: 'DEPTH_ZERO_SELF_SIGNED_CERT', 19: 'SELF_SIGNED_CERT_IN_CHAIN', 20: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  21: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 22: 'CERT_CHAIN_TOO_LONG', 23: 'CERT_REVOKED',
  25: 'PATH_LENGTH_EXCEEDED', 26: 'INVALID_PURPOSE', 27: 'CERT_UNTRUSTED', 28: 'CERT_REJECTED',
  62: 'HOSTNAME_MISMATCH', 79: 'INVALID_CA',
};

// The verify errors (X509_V_ERR_*) after whose message node adds SYSTEM_CA_HINT
// (lib/net-version.ts): a root the system store might hold was missing.
const rootMissingErrors = new Set([2, 18, 21]);
const SYSTEM_CA_HINT = '; if the root CA is installed locally, try running Node.js with --use-system-ca';

// Sessions a client holds back until its server is accepted, as many as the
// reactor keeps between two reports (TlsSession::kMaxNewSessions).
const MAX_PENDING_SESSIONS = 4;

// The most keying material one export makes (kMaxExportBytes, src-native/tls_query.h).
const MAX_EXPORT_BYTES = 64 * 1024;

// What tlsQuery asks (TlsQueryKind, src-native/tls_query.h).
const enum TlsQuery {
  Certificate = 0,
  PeerChain = 1,
  EphemeralKey = 2,
  SharedSigalgs = 3,
  Ticket = 4,
  ExportKeyingMaterial = 5,
}

// Bits of NativeTlsContextOptions.asksSessions (src-native/tls_context.h).
const ASKS_NEW_SESSION = 1;
const ASKS_RESUME_SESSION = 2;
// Bits of a secure event's flags (src-native/tls_session.cc).
const SECURE_HAS_PEER_CERT = 1;
const SECURE_SESSION_REUSED = 2;
const SECURE_VERDICT_HELD = 4;
// TlsErrorKind (src-native/tls_session.h).
const TLS_ERROR_PEER_CLOSED = 1;
// When a kTlsError came (its a, src-native/batch.h).
const TLS_ERROR_DURING_HANDSHAKE = 1;
const TLS_ERROR_LEFT_OPEN = 2;

/** Options of {@link createSecureServer}: node:tls's server options that the reactor implements, and net's. */
export interface SecureServerOptions extends ServerOptions {
  key?: string | Buffer | Array<string | Buffer | { pem: string | Buffer; passphrase?: string }>;
  cert?: string | Buffer | Array<string | Buffer>;
  ca?: string | Buffer | Array<string | Buffer>;
  /** PKCS#12 bundles (key, certificate and chain), as node:tls's `pfx`; with `passphrase` or each its own. */
  pfx?: string | Buffer | Array<string | Buffer | { buf: string | Buffer; passphrase?: string }>;
  passphrase?: string;
  ciphers?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ALPNProtocols?: string[] | Uint8Array[] | Uint8Array;
  /**
   * Chooses the ALPN protocol for a client that offers some, as node:tls's:
   * called with the SNI name (false when none was sent) and the names
   * offered, in the client's order; returns one of them, or undefined to
   * refuse the client with a no_application_protocol alert. Anything else,
   * or a throw, fails the handshake ('tlsClientError'). Not with
   * `ALPNProtocols`. The handshake waits on the reactor thread meanwhile.
   */
  ALPNCallback?: (arg: { servername: string; protocols: string[] }) => string | undefined;
  /**
   * TLS-PSK, as node:tls's: called with the socket and the identity a client
   * offers (TLS 1.3's pre_shared_key, or TLS 1.2's ClientKeyExchange for a
   * PSK cipher, which `ciphers` must enable, e.g. `'PSK+HIGH'`); returns the
   * key (a Buffer, TypedArray or DataView, or `{ psk }`), or null/undefined
   * for none, which OpenSSL refuses as node's server does. A throw, or a
   * value of another type, fails the handshake ('tlsClientError'). The
   * handshake waits on the reactor thread meanwhile.
   */
  pskCallback?: (socket: SecureSocket, identity: string) => NodeJS.ArrayBufferView | { psk: NodeJS.ArrayBufferView } | null | undefined;
  /** The identity hint a TLS 1.2 PSK server offers clients, as node:tls's (with `pskCallback`). */
  pskIdentityHint?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  /** Prefer the server's cipher order (default true, as node's tls.Server). */
  honorCipherOrder?: boolean;
  /** Certificate revocation lists (PEM), as node:tls's: a client certificate's whole chain is checked against them. */
  crl?: string | Buffer | Array<string | Buffer>;
  /** Key-exchange groups, as node:tls's (default `tls.DEFAULT_ECDH_CURVE`; 'auto': OpenSSL's). */
  ecdhCurve?: string;
  /** Signature algorithms offered and accepted, as node:tls's (OpenSSL's list when not given). */
  sigalgs?: string;
  /** OpenSSL `SSL_OP_*` flags (`crypto.constants`), as node:tls's: added to the reactor's own. */
  secureOptions?: number;
  /**
   * A legacy method name that sets the protocol versions, as node:tls's
   * (`'TLSv1_2_method'`: TLSv1.2 only; `'TLS_method'`: any); not with
   * minVersion or maxVersion. A client method (`*_client_method`) is refused.
   */
  secureProtocol?: string;
  /** Diffie-Hellman parameters (PEM) for the DHE ciphers, or 'auto' for OpenSSL's, as node:tls's. */
  dhparam?: string | Buffer;
  /** Ignored, as tls.createServer ignores it (createSecureContext and connect take it). */
  allowPartialTrustChain?: boolean;
  /** Certificate compression algorithms in order of preference, as node:tls's (Node 24 and later; ignored before, as there). */
  certificateCompression?: Array<'zlib' | 'brotli' | 'zstd'>;
  /** Milliseconds a client has to finish its handshake (default 120000, as node). */
  handshakeTimeout?: number;
  /** Seconds a session stays resumable (as node: OpenSSL's default when not given). */
  sessionTimeout?: number;
  /**
   * Writes OpenSSL's trace of every connection's records to stderr, from
   * the ClientHello on, as node:tls's `enableTrace`; the default is node's
   * `--trace-tls` flag.
   */
  enableTrace?: boolean;
  /**
   * 48 bytes of session ticket keys in node's layout, so that servers given the
   * same keys and session id context (reactor or node:tls) resume each other's
   * sessions; random when not given, as node's.
   */
  ticketKeys?: Buffer;
  /**
   * What sessions are scoped to: only a server with the same context resumes
   * them. node's default when not given (a hash of `process.argv`), so reactor
   * and node:tls servers of one process match.
   */
  sessionIdContext?: string;
  /**
   * Chooses the context for the SNI name a client sent, as node:tls's: called
   * with the name (never without one) and a callback taking an error, or a
   * context from {@link createSecureContext} or node's
   * `tls.createSecureContext` (undefined: this server's own). The handshake
   * waits for the answer. As in node, the context gives the certificate,
   * key, chain, trust store and CA names; ciphers and the rest stay the server's.
   */
  SNICallback?: (servername: string, callback: (error: Error | null, context?: tls.SecureContext) => void) => void;
}

/**
 * What {@link SecureSocket.getPeerCertificate} returns: node's object for the
 * certificate (X509ToObject, as TLSSocket's getPeerCertificate() builds it);
 * `issuerCertificate` links the chain when asked for in detail.
 */
export interface PeerCertificate {
  /** The issuer's certificate (getPeerCertificate(true) only); a self-issued root's is itself. */
  issuerCertificate?: PeerCertificate;
  subject: Record<string, string | string[]>;
  issuer: Record<string, string | string[]>;
  valid_from: string;
  valid_to: string;
  fingerprint256: string;
  serialNumber: string;
  raw: Buffer;
  /** "DNS:a.example, IP Address:127.0.0.1", as node gives it; absent when the certificate has none. */
  subjectaltname?: string;
  /** SHA-1 and SHA-512 fingerprints, as node's. */
  fingerprint?: string;
  fingerprint512?: string;
  /** Whether it is a CA certificate. */
  ca?: boolean;
  /** The public key: DER (`pubkey`), and its size and parameters (RSA's modulus and exponent, EC's curve). */
  pubkey?: Buffer;
  bits?: number;
  modulus?: string;
  exponent?: string;
  asn1Curve?: string;
  nistCurve?: string;
  /** Extended key usage OIDs, and the authority information access entries, when present. */
  ext_key_usage?: string[];
  infoAccess?: Record<string, string[]>;
}

/**
 * Options of `connect({ tls })`: node:tls's client options that the reactor
 * implements. Verification is on by default, exactly as for `tls.connect`.
 */
export interface ConnectTlsOptions {
  /** The SNI name to send (none unless given, as tls.connect); also the name the certificate must match. */
  servername?: string;
  /** Certificates to trust instead of node's default root store. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** A client certificate and its key, for servers that ask for one. */
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer | { pem: string | Buffer; passphrase?: string }>;
  /** A client certificate and key as PKCS#12 bundles, as tls.connect's `pfx`. */
  pfx?: string | Buffer | Array<string | Buffer | { buf: string | Buffer; passphrase?: string }>;
  passphrase?: string;
  /** Fail the connection when the server's certificate is not verified (default true, as tls.connect). */
  rejectUnauthorized?: boolean;
  /** Protocols to offer with ALPN, most preferred first. */
  ALPNProtocols?: string[] | Uint8Array[] | Uint8Array;
  /**
   * A context made by this package's {@link createSecureContext}, used
   * instead of one built from the options, as tls.connect uses its
   * `secureContext`: the context's own key, certificate, CA, ciphers and
   * versions apply, and the options' are ignored. One made by node's
   * `tls.createSecureContext` cannot be read by the reactor and throws
   * ERR_EPOLL_REACTOR_TLS_UNSUPPORTED.
   */
  secureContext?: tls.SecureContext;
  /** Checks the certificate against the host name (default `tls.checkServerIdentity`). */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  ciphers?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** Certificate revocation lists (PEM), as tls.connect's: the server's whole chain is checked against them. */
  crl?: string | Buffer | Array<string | Buffer>;
  /** Key-exchange groups, as tls.connect's (default `tls.DEFAULT_ECDH_CURVE`). */
  ecdhCurve?: string;
  /** Signature algorithms offered and accepted, as tls.connect's. */
  sigalgs?: string;
  /** Writes OpenSSL's trace of the connection's records to stderr, as tls.connect's; default: node's `--trace-tls`. */
  enableTrace?: boolean;
  /**
   * Asks the server to staple an OCSP response to its certificate, as
   * tls.connect's: 'OCSPResponse' comes before 'secureConnect' with it, or
   * with null when the server stapled none. It is not checked.
   */
  requestOCSP?: boolean;
  /** OpenSSL `SSL_OP_*` flags (`crypto.constants`), as tls.connect's. */
  secureOptions?: number;
  /** A legacy method name that sets the protocol versions, as tls.connect's; a server method is refused. */
  secureProtocol?: string;
  /** Taken as tls.connect takes it (Diffie-Hellman parameters matter to servers only). */
  dhparam?: string | Buffer;
  /** Accept a chain that ends at any certificate in `ca`, not only at a self-signed root, as tls.connect's. */
  allowPartialTrustChain?: boolean;
  /** Certificate compression algorithms in order of preference, as tls.connect's (Node 24 and later). */
  certificateCompression?: Array<'zlib' | 'brotli' | 'zstd'>;
  /**
   * A session to resume, as saved from 'session' or getSession() (of this
   * package's sockets or of node:tls's). Bytes that are no session are
   * ignored and a full handshake follows, as with tls.connect.
   */
  session?: Buffer | NodeJS.ArrayBufferView | string;
  /**
   * TLS-PSK, as tls.connect's: called with the socket as `this` and the
   * server's identity hint (null when it sent none, and always in TLS 1.3,
   * where it is asked before the ClientHello); returns `{ psk, identity }`,
   * or null/undefined for none. TLS 1.2 needs a PSK cipher in `ciphers`
   * (e.g. `'PSK+HIGH'`). A throw, or an answer of the wrong shape, destroys
   * the socket with that error, as node's.
   */
  pskCallback?: (this: SecureSocket, hint: string | null) =>
    { psk: NodeJS.ArrayBufferView; identity: string } | null | undefined;
}

/** What a client SecureSocket carries from connect({ tls }) to its handshake's end. */
interface TlsClientState {
  /** What its native context is built from, and the key it is cached under. */
  readonly context: NativeTlsContextOptions;
  readonly contextKey: string;
  /** The SNI name, or '' for none. */
  readonly servername: string;
  /** The name the certificate must match (servername, host or 'localhost', as node). */
  readonly hostname: string;
  readonly rejectUnauthorized: boolean;
  readonly checkServerIdentity: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /** For the error of a server that left mid-handshake, as node's. */
  readonly host: string | undefined;
  readonly port: number | string | undefined;
  readonly path: string | undefined;
  readonly localAddress: string | undefined;
  /** The session to offer (a copy of the option's bytes), or undefined. */
  readonly session: Buffer | undefined;
  /** Its records are traced to stderr (enableTrace, or node's --trace-tls). */
  readonly traces: boolean;
  /** It asks for an OCSP staple (requestOCSP): 'OCSPResponse' is emitted. */
  readonly requestsOcsp: boolean;
  /** Its pskCallback: the handshake asks it for the PSK (onReactorPsk). */
  readonly pskCallback: ((this: SecureSocket, hint: string | null) => unknown) | undefined;
}

/** The peer's certificate as the handshake reported it: its DER, and the SHA-256 node's object is kept by. */
interface PeerCertificateSource {
  fingerprint256: string;
  raw: Buffer;
}

interface SecureInfo {
  protocol: string;
  cipher: { name: string; standardName: string; version: string };
  certificate: PeerCertificateSource | undefined;
  sessionReused: boolean;
  /** The Finished messages sent and received, base64 ('' for none). */
  finished: string;
  peerFinished: string;
}

/**
 * A connection accepted by a {@link SecureServer}: a Socket whose bytes are
 * plaintext (the reactor thread encrypts and decrypts), with TLSSocket's
 * surface for what the handshake settled.
 */
export class SecureSocket extends Socket {
  /** Always true, as TLSSocket's. */
  readonly encrypted = true;
  /** Whether the client's certificate was verified (only with requestCert). */
  authorized = false;
  /** Why the client's certificate was not verified, as node's code, or null. */
  authorizationError: string | null = null;
  /** The ALPN protocol chosen, false when none was, null before the handshake. */
  alpnProtocol: string | false | null = null;
  /** The SNI name the client sent, false when none, null before the handshake. */
  servername: string | false | null = null;
  /** @internal */
  secureInfo: SecureInfo | undefined = undefined;
  /** @internal */
  handshakeTimer: NodeJS.Timeout | undefined = undefined;
  /**
   * @internal A server socket's pskCallback, as node's socket takes it when
   * accepted (a later setSecureContext() does not change it), or null when
   * the connection fails for the server's hint instead.
   */
  pskCallback: SecureServerOptions['pskCallback'] | null = undefined;
  /** @internal The server that accepted it; undefined for a client (connect({ tls })). */
  readonly secureServer: SecureServer | undefined;
  /** @internal A client's options; undefined for an accepted socket. */
  readonly tlsClient: TlsClientState | undefined;

  /** @internal Made by a SecureServer or by connect({ tls }), never directly. */
  constructor(options: SocketOptions, server: SecureServer | undefined, client?: TlsClientState) {
    // As tls.connect, whose TLSSocket is made without them: a TLS socket's
    // sides start open whatever readable/writable say (a handshake must read).
    super(options.readable === undefined && options.writable === undefined ? options
      : { ...options, readable: undefined, writable: undefined });
    this.secureServer = server;
    this.tlsClient = client;
    // As node's server-side TLSSocket, which carries an 'error' listener of
    // its own for life: a failed handshake is reported once, as
    // 'tlsClientError' (failHandshake), and any 'error' is never unhandled.
    // https.Server's 'tlsClientError' listener calls destroy(error) when
    // nobody listens for 'clientError'; a client that leaves mid-handshake
    // must not take the process down. A client's errors are its own, as
    // tls.connect's.
    if (server !== undefined) {
      this.on('error', ignoreServerSocketError);
      this.on('close', onServerSocketClose);
    } else if (client !== undefined) this.on('newListener', this.onNewListener);
    // As TLSSocket's under node's --tls-keylog: every connection's lines
    // go to the file (a client's from its start; a server's sockets log by
    // their server's context, which that flag turns on).
    if (tlsKeylogFile() !== undefined) {
      warnOfTlsKeylog();
      if (client !== undefined) this.logsKeys = true;
    }
  }

  /** @internal A client's server passed verification (or need not): its writes may go. */
  private serverVerified = false;

  /**
   * OpenSSL failed after the handshake (failAfterHandshake), and JS has
   * heard: a write made since fails with EPROTO, as node's TLSWrap::DoWrite
   * fails one once its SSL is gone. The reactor completes, unsent, every
   * write that reached it after the failure: each was made before JS heard,
   * when node would have encrypted and sent it.
   */
  private opensslFailed = false;

  protected override writeFailure(): Error | undefined {
    return this.opensslFailed ? systemError(-os.constants.errno.EPROTO, 'write') : super.writeFailure();
  }

  /** @internal A client holds writes and end() until the server is verified. */
  protected override writesOnHold(): boolean {
    return super.writesOnHold() || (this.tlsClient !== undefined && !this.serverVerified);
  }

  /**
   * @internal And what the server sent: as with tls.connect, whose data
   * flows only after the handshake callback accepted the server, no byte of
   * an unverified server reaches 'data' or onread.
   */
  /** As node's TLSSocket, whose TLS handle has no type-of-service option: the value is kept, never applied. */
  protected override typeOfServiceReachesKernel(): boolean {
    return false;
  }

  protected override readsOnHold(): boolean {
    return super.readsOnHold() || (this.tlsClient !== undefined && !this.serverVerified);
  }

  /**
   * @internal Whether plaintext may flow: a server's socket once its handshake
   * is done, a client's once its server was accepted (forward() checks it).
   */
  get secureReady(): boolean {
    return this.tlsClient === undefined ? this.secureInfo !== undefined : this.serverVerified;
  }

  /**
   * @internal A client's connect reached within connect() (a Unix path, a
   * lookup that answered at once) starts in the next tick, as a TCP one
   * does after dns.lookup: the ClientHello goes with the start, and
   * setSession(), setServername(), enableTrace() and a 'keylog' listener in
   * the tick of connect() must reach it (node's handshake starts on 'connect').
   */
  override get startWaitsForConnectTick(): boolean {
    return this.tlsClient !== undefined;
  }

  /**
   * @internal node:tls completes a write once its record is written to the
   * socket underneath, later than the FIN read with the bytes before it is
   * emitted, so its 'end' comes first (and node:https drops a pipelined
   * request sent with a half-close); so does this socket's.
   */
  override get endWaitsForWriteTry(): boolean {
    return false;
  }

  /** @internal A client's key log lines that came before 'connect' was emitted (onReactorKeylog). */
  private keylogAwaitingConnect: string[] = [];

  /** @internal 'connect' has been emitted: the key log lines that waited for it go first. */
  override connectEmitted(): void {
    const lines = this.keylogAwaitingConnect;
    if (lines.length > 0) {
      this.keylogAwaitingConnect = [];
      for (const line of lines) this.emitKeylog(line);
    }
    super.connectEmitted();
  }

  /** @internal Each connect (a reconnect too) starts with nothing settled and verifies anew. */
  protected override beginConnect(): void {
    this.keylogAwaitingConnect = [];
    this.opensslFailed = false;
    if (this.tlsClient === undefined) return;
    this.serverVerified = false;
    this.secureInfo = undefined;
    this.currentSession = undefined;
    this.sessionToOffer = undefined;
    this.servernameToSend = undefined;
    this.pendingSessions = [];
    this.authorized = false;
    this.authorizationError = null;
    this.alpnProtocol = null;
    this.servername = null;
  }

  /** @internal */
  protected override tlsConnectArguments(reactor: Reactor):
    [number, string, Buffer | undefined, boolean, boolean, boolean, number, boolean] | undefined {
    const client = this.tlsClient;
    if (client === undefined) return undefined;
    this.serverVerified = false;  // every attempt's handshake is judged on its own
    let id = 0;
    try {
      id = clientContextFor(reactor, client);
    } catch {
      // id 0: the native connect fails with EINVAL; it never connects in plaintext.
    }
    // In the start itself: the connection is handed to the reactor before
    // anything staged in this tick, and its ClientHello may go at once.
    return [id, this.servernameToSend ?? client.servername, this.sessionToOffer ?? client.session,
      this.wantsTrace || client.traces, client.requestsOcsp, this.logsKeys, this.maxSendFragment ?? 0,
      client.pskCallback !== undefined];
  }

  /**
   * The peer's certificate as node's object, as TLSSocket's
   * getPeerCertificate(): `{}` when it sent none, null once destroyed. With
   * `detailed`, each object's `issuerCertificate` is its issuer's, as node
   * links them: from the certificates the peer sent, then from the trust
   * store, and a root that issued itself is its own issuer.
   */
  getPeerCertificate(detailed?: boolean): PeerCertificate | Record<string, never> | null {
    if (this.destroyed) return null;
    if (detailed) {
      const chain = this.peerCertificateChain();
      if (chain !== undefined) return chain;
    }
    return this.peerCertificateObject() ?? {};
  }

  /** @internal The detailed peer certificate, or undefined when the reactor could not say. */
  private peerCertificateChain(): PeerCertificate | Record<string, never> | undefined {
    const answer = this.tlsQuery(TlsQuery.PeerChain);
    if (answer === undefined) return undefined;
    const [selfIssuedLast, ...ders] = answer;
    if (ders.length === 0) return {};
    const chain: PeerCertificate[] = [];
    for (const der of ders) {
      const object = nodeCertificateObject(der, fingerprint256Of(der));
      if (object === undefined) return undefined;
      chain.push(object);
    }
    for (let i = 0; i + 1 < chain.length; i++) chain[i].issuerCertificate = chain[i + 1];
    if (selfIssuedLast === 1) chain[chain.length - 1].issuerCertificate = chain[chain.length - 1];
    return chain[0];
  }

  /**
   * This end's certificate as node's object, as TLSSocket's
   * getCertificate(): `{}` when it has none, null once destroyed.
   */
  getCertificate(): PeerCertificate | Record<string, never> | null {
    if (this.destroyed) return null;
    const der = this.tlsQuery(TlsQuery.Certificate)?.[1];
    return (der === undefined ? undefined : nodeCertificateObject(der, fingerprint256Of(der))) ?? {};
  }

  /** This end's certificate as a `crypto.X509Certificate`, as TLSSocket's: undefined when it has none. */
  getX509Certificate(): X509Certificate | undefined {
    if (this.destroyed) return undefined;
    const der = this.tlsQuery(TlsQuery.Certificate)?.[1];
    return der === undefined ? undefined : new X509Certificate(der);
  }

  /**
   * The key exchange's parameters, as TLSSocket's getEphemeralKeyInfo(): on
   * a client, `{ type: 'ECDH', name, size }` or `{ type: 'DH', size }` (and,
   * on Node 24 and later, `{ type: 'TLSGroup', name }` for a hybrid group),
   * `{}` before the handshake; null on a server's socket and once destroyed.
   */
  getEphemeralKeyInfo(): { type: string; name?: string; size?: number } | Record<string, never> | null {
    if (this.destroyed || this.tlsClient === undefined) return null;
    const answer = this.tlsQuery(TlsQuery.EphemeralKey);
    if (answer === undefined) return null;
    if (answer.length < 4) return {};
    const [type, name, group] = textsOf(answer);
    const size = answer[0];
    // node 24's objects have all three keys, what does not apply undefined.
    if (type === 'DH') return ephemeralKeyInfoNamesGroups ? { type, name: undefined, size } : { type, size };
    if (type === 'ECDH') return { type, name, size };
    if (ephemeralKeyInfoNamesGroups && group !== '') return { type: 'TLSGroup', name: group, size: undefined };
    return {};
  }

  /**
   * The signature algorithms both ends accept, most preferred first, as
   * TLSSocket's getSharedSigalgs() (`'ECDSA+SHA256'`, ...); null once destroyed.
   */
  getSharedSigalgs(): string[] | null {
    if (this.destroyed) return null;
    const answer = this.tlsQuery(TlsQuery.SharedSigalgs);
    return answer === undefined ? null : textsOf(answer);
  }

  /**
   * The session ticket of a client's current session, as TLSSocket's
   * getTLSTicket() (a TLS 1.3 server's come after the handshake); undefined
   * when it has none and on a server's socket, null once destroyed.
   */
  getTLSTicket(): Buffer | undefined | null {
    if (this.destroyed) return null;
    return this.tlsQuery(TlsQuery.Ticket)?.[1] as Buffer | undefined;
  }

  /**
   * Keying material derived from the connection's secrets (RFC 5705), as
   * TLSSocket's exportKeyingMaterial(): `length` bytes for `label` and the
   * optional `context`, at most 65536 (node takes any uint32: a longer
   * export would hold the reactor thread). The arguments are checked as node checks them; a
   * socket whose handshake has not finished (or is destroyed) throws
   * ERR_TLS_INVALID_STATE, and OpenSSL's refusal comes as its error.
   */
  exportKeyingMaterial(length: number, label: string, context?: NodeJS.ArrayBufferView): Buffer {
    validateInteger(length, 'length', 1, 4294967295);
    // node takes any uint32; a long TLS 1.2 export would hold the reactor
    // thread, and every connection on it, while it runs.
    if (length > MAX_EXPORT_BYTES) throw outOfRange('length', `>= 1 && <= ${MAX_EXPORT_BYTES}`, length);
    validateString(label, 'label');
    if (context !== undefined && !ArrayBuffer.isView(context)) {
      throw invalidArgType('context', 'an instance of Buffer, TypedArray, or DataView', context);
    }
    const contextBytes = context === undefined ? undefined : Buffer.from(context.buffer, context.byteOffset, context.byteLength);
    const answer = this.destroyed || this.secureInfo === undefined ? undefined
      : this.tlsQuery(TlsQuery.ExportKeyingMaterial, length, label, contextBytes);
    if (answer === undefined) throw codedError('TLS socket connection must be securely established', 'ERR_TLS_INVALID_STATE');
    if (answer[0] === -1) {
      const [message, library, reason] = textsOf(answer);
      throw opensslError(message, library, reason);
    }
    return answer[1] as Buffer;
  }

  /** @internal The peer's certificate as node's object (a copy of its own), or undefined when it sent none. */
  private peerCertificateObject(): PeerCertificate | undefined {
    const certificate = this.peerLeaf();
    return certificate === undefined ? undefined : nodeCertificateObject(certificate.raw, certificate.fingerprint256);
  }

  /**
   * The peer's leaf certificate as the handshake reported it. A client's
   * resumed session has none, as node's client reads it from the chain the
   * server sent, which a resumption does not send (a server reads the
   * client's from the session).
   */
  private peerLeaf(): SecureInfo['certificate'] {
    const info = this.secureInfo;
    return this.tlsClient !== undefined && info?.sessionReused === true ? undefined : info?.certificate;
  }

  /**
   * The Finished message this end sent in the handshake (a fresh Buffer),
   * as TLSSocket's getFinished(): undefined before the handshake, null once
   * destroyed. With getPeerFinished(), what channel bindings such as
   * tls-unique are made of.
   */
  getFinished(): Buffer | undefined {
    return this.finishedMessage(this.secureInfo?.finished);
  }

  /** The Finished message the peer sent, as TLSSocket's getPeerFinished() (see getFinished()). */
  getPeerFinished(): Buffer | undefined {
    return this.finishedMessage(this.secureInfo?.peerFinished);
  }

  /**
   * Limits the plaintext in each TLS record this end sends from now on, as
   * TLSSocket's setMaxSendFragment(): smaller records let a peer decrypt the
   * first bytes sooner. True when `size` is within 512 to 16384 (OpenSSL's
   * range), false otherwise; a size set before the connection exists
   * applies once it does.
   */
  setMaxSendFragment(size: number): boolean {
    validateInteger(size, 'size', -(2 ** 31), 2 ** 31 - 1);
    if (size < 512 || size > 16384) return false;
    this.maxSendFragment = size;
    this.tlsSetMaxSendFragment(size);
    return true;
  }

  /**
   * Sets the certificate and key this server socket's handshake sends, as
   * TLSSocket's setKeyCert(): `context` is a SecureContext (node's or one
   * from {@link createSecureContext}) or the options to make one. Called in
   * the server's ALPNCallback (an ACME TLS-ALPN challenge's certificate), it
   * takes the place of the server's certificate, and of one an SNI choice
   * gave, for this handshake. At any other point it is checked and does
   * nothing, as node's has nothing left to change there; a client's socket
   * and a destroyed one ignore it.
   */
  setKeyCert(context: tls.SecureContext | tls.SecureContextOptions): void {
    if (this.destroyed) return;
    const secureContext = isNodeSecureContext(context) ? context : createSecureContext(context as tls.SecureContextOptions);
    if (this.tlsClient !== undefined) return;
    const options = knownContextOptions(secureContext)!;
    // As node's: no certificate to use, or a certificate without its key.
    if (!hasCertificate(options)) throw setKeyCertWithoutCertificate();
    const keyless = options.nodeContext === undefined && options.keys.length === 0 && (options.pfx?.length ?? 0) === 0;
    // node has taken a keyless certificate when it throws (the reactor does
    // the same: OpenSSL may then have no key that fits, and fail the handshake).
    if (this.choosingAlpn && this.secureServer !== undefined) {
      // Built now, so that a context the reactor cannot take throws here.
      this.secureServer.namedContextId(secureContext);
      this.keyCertContext = secureContext;
    }
    if (keyless) throw opensslNullParameter();
  }

  /** @internal What a failed handshake reports in place of OpenSSL's error (Node 20's queued one, chooseContext). */
  handshakeFailureReport: (() => Error) | undefined = undefined;

  /** @internal The ALPNCallback runs: setKeyCert() applies to the answer. */
  choosingAlpn = false;
  /** @internal The context setKeyCert() chose during the ALPNCallback, sent with the answer. */
  keyCertContext: tls.SecureContext | undefined = undefined;

  /**
   * As TLSSocket's disableRenegotiation(): renegotiation is off on reactor
   * TLS connections always (SSL_OP_NO_RENEGOTIATION: a peer's attempt is
   * refused by OpenSSL), so there is nothing more to turn off.
   */
  disableRenegotiation(): void {}

  /**
   * As TLSSocket's renegotiate() where OpenSSL refuses to renegotiate, which
   * it always does on reactor TLS: false, and `callback` gets OpenSSL's
   * error on the next tick — 'wrong ssl version' on TLSv1.3 (which has no
   * renegotiation), 'no renegotiation' before it. False and no callback once
   * destroyed. The arguments are checked as node checks them.
   */
  renegotiate(options: { rejectUnauthorized?: boolean; requestCert?: boolean },
    callback?: (error: Error | null) => void): boolean {
    validateObject(options, 'options');
    if (callback !== undefined) validateFunction(callback, 'callback');
    if (this.destroyed) return false;
    if (callback !== undefined) {
      const error = this.secureInfo?.protocol === 'TLSv1.3'
        ? opensslError('error:0A00010A:SSL routines::wrong ssl version', 'SSL routines', 'wrong ssl version')
        : opensslError('error:0A000153:SSL routines::no renegotiation', 'SSL routines', 'no renegotiation');
      process.nextTick(callback, error);
    }
    return false;
  }

  /** @internal A record size to apply when the socket gets its connection (attach). */
  private maxSendFragment: number | undefined = undefined;
  /** @internal A client's 'keylog' listener: its connections report their key log lines. */
  private logsKeys = false;
  /** @internal enableTrace() was called: a server's socket, or a client's next connect, traces from its start. */
  private wantsTrace = false;

  /** @internal */
  override attach(...args: Parameters<Socket['attach']>): void {
    super.attach(...args);
    // A client's connect carried these (tlsConnectArguments): its handshake
    // may be under way before a command sent now would arrive. (A server's
    // sockets log keys by their context.)
    if (this.tlsClient !== undefined) return;
    if (this.maxSendFragment !== undefined) this.tlsSetMaxSendFragment(this.maxSendFragment);
    if (this.wantsTrace) this.tlsTrace();
  }

  /**
   * Writes OpenSSL's trace of this connection's records to stderr from now
   * on, as TLSSocket's enableTrace() (a debugging aid: it shows handshake
   * messages and record headers). Where the running node's OpenSSL has no
   * trace, it does nothing, as node's.
   */
  enableTrace(): void {
    if (this.destroyed) return;
    this.wantsTrace = true;
    this.tlsTrace();
  }

  /**
   * @internal A client's first 'keylog' listener turns its key log on, as
   * TLSSocket's does (a server's sockets log when their server listens).
   */
  private onNewListener(event: string | symbol): void {
    if (event !== 'keylog' || this.logsKeys) return;
    this.logsKeys = true;
    this.tlsLogKeys();
  }

  /**
   * @internal A line of the NSS key log, as node emits it: a Buffer ending
   * in a newline, on the server as `'keylog'` (line, socket) for its
   * sockets, on the socket itself for a client.
   */
  onReactorKeylog(line: string): void {
    if (this.tlsClient !== undefined && this.connectEmitPending) {
      // node's client handshakes after 'connect', so its lines come after
      // it: they wait for connectEmitted(), which runs even when an error
      // in the same batch destroyed the socket (its 'error' comes later,
      // as node's does after the lines of a handshake that failed).
      this.keylogAwaitingConnect.push(line);
      return;
    }
    this.emitKeylog(line);
  }

  private emitKeylog(line: string): void {
    const bytes = Buffer.from(`${line}\n`, 'latin1');
    const file = tlsKeylogFile();
    if (file !== undefined) appendTlsKeylog(file, bytes);
    if (this.secureServer !== undefined) this.secureServer.emit('keylog', bytes, this);
    else this.emit('keylog', bytes);
  }

  private finishedMessage(base64: string | undefined): Buffer | undefined {
    // null once destroyed, as TLSSocket's (its handle gone; node's typings say undefined).
    if (this.destroyed) return null as unknown as undefined;
    return !base64 ? undefined : Buffer.from(base64, 'base64');
  }

  /**
   * The peer's certificate as a `crypto.X509Certificate`, as TLSSocket's:
   * undefined when it sent none, before the handshake and once destroyed.
   */
  getPeerX509Certificate(): X509Certificate | undefined {
    const raw = this.destroyed ? undefined : this.peerLeaf()?.raw;
    return raw === undefined || raw.length === 0 ? undefined : new X509Certificate(raw);
  }

  // As TLSSocket's handle methods, these answer null once the socket is
  // destroyed (its handle gone).

  /** `{ name, standardName, version }` of the cipher in use, or null before the handshake and once destroyed. */
  getCipher(): { name: string; standardName: string; version: string } | null {
    return this.destroyed ? null : this.secureInfo?.cipher ?? null;
  }

  /** `'TLSv1.3'` or `'TLSv1.2'` (and so on), or null before the handshake and once destroyed. */
  getProtocol(): string | null {
    return this.destroyed ? null : this.secureInfo?.protocol ?? null;
  }

  /** Whether the client resumed an earlier session; null once destroyed. */
  isSessionReused(): boolean {
    // (node's typings say boolean; its method answers null without a handle.)
    return this.destroyed ? null as unknown as boolean : this.secureInfo?.sessionReused ?? false;
  }

  /**
   * A client's session, to pass as `session` to a later connect (or to
   * tls.connect): the handshake's from 'secureConnect' on, then the newest
   * the server issued (under TLS 1.3 they come after the handshake, each
   * with a 'session' event). On a server's socket, as TLSSocket's, the
   * session its handshake made, as OpenSSL's DER. Undefined before the
   * handshake; null once destroyed, as TLSSocket's.
   */
  getSession(): Buffer | undefined | null {
    if (this.destroyed) return null;
    const client = this.tlsClient;
    // A server's is kept natively and encoded when asked for, as node's (it
    // holds the connection's secret: not copied into the heap unasked).
    // null once the connection is gone, as node's once its handle is.
    if (client === undefined) return this.secureInfo === undefined ? undefined : this.tlsServerSession() ?? null;
    if (this.currentSession === undefined) return undefined;
    // A Buffer of its own each time, as TLSSocket's.
    return sessionForJs(this.currentSession, client.hostname);
  }

  /**
   * The session a client offers when it connects, as TLSSocket's
   * setSession(): called in the tick of `connect({ tls })` (before the
   * handshake starts: the connection is made in a later tick, to a Unix
   * path too), it takes the place of the `session`
   * option. The bytes are read as the running Node's setSession reads
   * them: a session saved for another server identity, or bytes that are no
   * session, mean a full handshake; a string is read as latin1; anything
   * else that is not a buffer throws node's TypeError (undefined too on
   * Node 20; later Nodes take it as no session). Later calls change
   * nothing, as a session set on node's socket once its handshake has begun
   * does nothing; a destroyed socket ignores it (node's throws, having no
   * handle); on a server's socket it only checks its argument, as node's.
   */
  setSession(session: Buffer | NodeJS.ArrayBufferView | string): void {
    let offered: unknown = session;
    // Later Nodes take undefined as no session; Node 20's refuses it too.
    if (offered === undefined && tlsSessionsCarryServerIdentity) return;
    if (typeof offered === 'string') offered = Buffer.from(offered, 'latin1');
    if (!ArrayBuffer.isView(offered)) throw sessionNotABuffer();
    const client = this.tlsClient;
    const bytes = sessionOption(offered, client?.hostname ?? '', client?.rejectUnauthorized ?? false);
    if (client !== undefined && bytes !== undefined) this.sessionToOffer = bytes;
  }

  /** @internal setSession()'s bytes for the connect in progress, in place of the option's. */
  private sessionToOffer: Buffer | undefined = undefined;

  /**
   * The SNI name a client sends, as TLSSocket's setServername() (which
   * tls.connect uses for its `servername` option): called in the tick of
   * `connect({ tls })`, it takes the place of the option's name in the
   * ClientHello. The certificate is still checked against the option's
   * name (or host), as node's is. A name OpenSSL refuses (empty, or over
   * 255 bytes) means no SNI at all, as with node's (OpenSSL drops the old
   * name first); one with a NUL is cut at it, as node passes a C string. A
   * name that is not a string throws
   * `ERR_INVALID_ARG_TYPE`; a server's socket throws
   * `ERR_TLS_SNI_FROM_SERVER`. Once the handshake has begun it changes
   * nothing (node's aborts the process then).
   */
  setServername(name: string): void {
    validateString(name, 'name');
    if (this.tlsClient === undefined) {
      throw codedError('Cannot issue SNI from a TLS server-side socket', 'ERR_TLS_SNI_FROM_SERVER');
    }
    const cut = name.includes('\0') ? name.slice(0, name.indexOf('\0')) : name;
    const bytes = Buffer.byteLength(cut);
    // OpenSSL drops the name it had before it refuses the new one.
    this.servernameToSend = bytes > 0 && bytes <= 255 ? cut : '';
  }

  /** @internal setServername()'s name for the connect in progress, in place of the option's. */
  private servernameToSend: string | undefined = undefined;

  /** @internal The session getSession() returns (base64: a proxy's upstream sockets never decode it). */
  private currentSession: string | undefined = undefined;
  /** @internal Sessions issued before the server was accepted: their 'session' events wait for 'secureConnect'. */
  private pendingSessions: string[] = [];

  /** @internal A client's session (tls_session.cc ReportSession): `issued` by the server, or the handshake's own. */
  onReactorSession(der: string, issued: boolean): void {
    // Counted against the flow-control caps like data until taken (Loop::ChargeTlsReports).
    this.acknowledge(der.length);
    this.currentSession = der;
    if (!issued) return;
    // As node's onnewsessionclient: only a server that was accepted hears of it.
    if (this.serverVerified) this.emitSession(der);
    else if (this.pendingSessions.length < MAX_PENDING_SESSIONS) this.pendingSessions.push(der);
    else this.pendingSessions[MAX_PENDING_SESSIONS - 1] = der;
  }

  private emitSession(der: string): void {
    if (this.listenerCount('session') > 0) this.emit('session', sessionForJs(der, this.tlsClient!.hostname));
  }

  /** @internal */
  onReactorSecure(flags: number, strings: string[], first: number, verifyResult: number): void {
    if (this.tlsClient !== undefined && this.connectEmitPending) {
      // The connect and the handshake's end came in one batch: 'connect' is
      // emitted on the next tick, and 'secureConnect' must come after it.
      // The verdict is about this connection: a socket destroyed and
      // connected again meanwhile has another handshake to judge.
      const id = this.id;
      process.nextTick(() => {
        if (!this.destroyed && this.id === id) this.onReactorSecure(flags, strings, first, verifyResult);
      });
      return;
    }
    clearHandshakeTimer(this);
    // The order tls_session.cc ReportSecure pushes them in.
    const [protocol, name, standardName, version, alpn, servername, verifyMessage, finished, peerFinished] =
      strings.slice(first, first + 9);
    let certificate: PeerCertificateSource | undefined;
    if ((flags & SECURE_HAS_PEER_CERT) !== 0) {
      const [fingerprint256, raw] = strings.slice(first + 9, first + 11);
      certificate = { fingerprint256, raw: Buffer.from(raw, 'base64') };
    }
    this.secureInfo = {
      protocol, cipher: { name, standardName, version }, certificate,
      sessionReused: (flags & SECURE_SESSION_REUSED) !== 0, finished, peerFinished,
    };
    this.alpnProtocol = alpn === '' ? false : alpn;
    this.servername = servername === '' ? false : servername;
    const server = this.secureServer;
    if (server === undefined) {
      this.onClientSecure(verifyResult, verifyMessage);
      return;
    }
    if (server.requestCert) {
      // The reactor judged a client without a certificate by node's client
      // rule (PSK, or a resumed TLS 1.3 session, needs none).
      if (certificate === undefined && serversNeedClientCertificates) verifyResult = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
      if (verifyResult === 0) {
        this.authorized = true;
      } else {
        this.authorizationError = verifyErrorNames[verifyResult] ?? 'UNSPECIFIED';
        // As node's server: an unauthorized client is dropped, and its
        // 'close', before the socket was handed over, is a 'tlsClientError'
        // of ECONNRESET 'socket hang up' (onServerSocketClose).
        if (server.rejectUnauthorized) {
          this.destroy();
          return;
        }
      }
    }
    this.verdictHeld = (flags & SECURE_VERDICT_HELD) !== 0;
    // As node's server: a TLS 1.2 session's 'newSession' callback is waited
    // for before the handshake counts as done, and the handshake's end
    // waits for that callback only (node writes it at newSessionDone).
    if (this.newSessionPending) {
      this.giveVerdict();
      this.securePending = true;
      return;
    }
    this.finishServerSecure(server);
  }

  private finishServerSecure(server: SecureServer): void {
    // Queued before the listeners run, so before any immediate they queue:
    // a destroy() there comes after the flight left, as node's does.
    if (this.verdictHeld) setImmediate(() => this.giveVerdict());
    this.emit('secure');
    this.controlReleased = true;
    server.emit('secureConnection', this);
  }

  /**
   * The reactor holds a TLS 1.2 server handshake's last flight (its
   * Finished) from the handshake's end until this socket's verdict: node
   * writes it once the callback that reported the handshake returns, after
   * the verdict, the 'secureConnection' listeners and the ticks and
   * microtasks they queued, so a client rejected or destroyed by then never
   * gets 'secureConnect'. Let go in the next immediate (the first point
   * after those) or, on the Nodes whose write or end() in a listener sends
   * it at once, by such a write or end() (listenerWriteSendsFinished); a
   * destroy() drops it.
   */
  private verdictHeld = false;

  private giveVerdict(): void {
    if (!this.verdictHeld) return;
    this.verdictHeld = false;
    if (!this.destroyed) this.tlsVerdictGiven();
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (listenerWriteSendsFinished) this.giveVerdict();
    super._write(chunk, encoding, callback);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    if (listenerWriteSendsFinished) this.giveVerdict();
    super._writev(chunks, callback);
  }

  /**
   * @internal A server socket was handed to the app ('secureConnection'), as
   * node's _controlReleased: from here its failures are its own 'error's.
   */
  controlReleased = false;
  /** @internal Its 'tlsClientError' was emitted (node's kErrorEmitted): once only. */
  clientErrorReported = false;

  /**
   * end() before the handshake is done, on a server socket: what node's
   * 'connection' listener does to the TCP socket under the TLS one, where
   * the only end() there is. The FIN leaves the handshake unfinished: the
   * client fails, and the server reports 'tlsClientError' as the socket
   * closes (onServerSocketClose).
   */
  override _final(callback: (error?: Error | null) => void): void {
    if (this.secureServer === undefined || this.controlReleased) {
      if (listenerWriteSendsFinished) this.giveVerdict();
      super._final(callback);
      return;
    }
    callback(null);
    this.destroy();
  }

  /** @internal A 'newSession' callback waited for (node's _newSessionPending). */
  newSessionPending = false;
  /** @internal The handshake ended while it was waited for (node's _securePending). */
  private securePending = false;

  /**
   * @internal A 'newSession' callback was called: the reactor sends what it
   * held back since (the handshake's last flight, TLS 1.3's tickets and what
   * followed), and the handshake's end is emitted if it waited.
   */
  newSessionDone(): void {
    this.tlsSessionStored();
    this.newSessionPending = false;
    if (!this.securePending) return;
    this.securePending = false;
    if (!this.destroyed && this.secureServer !== undefined) this.finishServerSecure(this.secureServer);
  }

  /**
   * A client's verdict, as node's onConnectSecure: OpenSSL's verification,
   * then (when that passed and the session is new) checkServerIdentity; a
   * failure destroys the socket with it when rejectUnauthorized is set, and
   * is only recorded otherwise. 'secureConnect' follows either way.
   */
  private onClientSecure(verifyResult: number, verifyMessage: string): void {
    const client = this.tlsClient!;
    let verifyError: (Error & { code?: string }) | undefined;
    if (verifyResult !== 0) {
      const hint = systemCaHintOnVerifyErrors && rootMissingErrors.has(verifyResult) ? SYSTEM_CA_HINT : '';
      verifyError = codedError(verifyMessage + hint, verifyErrorNames[verifyResult] ?? 'UNSPECIFIED');
    } else if (!this.isSessionReused()) {
      // node's whole object with its issuers, as tls.connect passes it
      // (pinning reads pubkey, the fingerprints, or an issuer's). node's own
      // check reads none of the issuers: it is spared the reactor's answer.
      const nodeCheck = client.checkServerIdentity === tls.checkServerIdentity;
      const certificate = nodeCheck ? this.peerCertificateObject() ?? {} : this.getPeerCertificate(true) ?? {};
      try {
        verifyError = client.checkServerIdentity(client.hostname, certificate as unknown as tls.PeerCertificate) ?? undefined;
        // The error node's check returns carries the object it was given,
        // which under tls.connect is the detailed one (issuerCertificate).
        if (nodeCheck && verifyError !== undefined && 'cert' in verifyError) {
          (verifyError as { cert?: unknown }).cert = this.getPeerCertificate(true) ?? {};
        }
      } catch (error) {
        // As with tls.connect the exception is the user's (it is rethrown);
        // the connection, whose server was never accepted, is closed first.
        this.destroy(error as Error);
        throw error;
      }
    }
    if (verifyError) {
      this.authorized = false;
      this.authorizationError = verifyError.code || verifyError.message;
      if (client.rejectUnauthorized) {
        this.destroy(verifyError);
        return;
      }
    } else {
      this.authorized = true;
    }
    // Writes made so far go now, after the verdict, as node's TLSSocket
    // sends its queued cleartext only once the handshake callback accepted the
    // server. The reactor holds them too until told (kTlsAllowWrites).
    this.serverVerified = true;
    this.allowTlsWrites();
    this.releaseWrites();
    try {
      this.emit('secureConnect');
      const sessions = this.pendingSessions;
      this.pendingSessions = [];
      for (const der of sessions) this.emitSession(der);
    } finally {
      // Whatever a listener throws, what the server sent is not left held.
      this.releaseReads();
    }
  }

  /** @internal A client that asked for a staple: the server's OCSP response (hex), or none. */
  onReactorOcspResponse(stapled: boolean, response: string): void {
    this.emit('OCSPResponse', stapled ? Buffer.from(response, 'hex') : null);
  }

  /**
   * @internal The handshake waits for a context for the SNI name the client
   * sent (flag 1) and an OCSP staple (flag 2), as native's kTlsServername.
   */
  onReactorServername(servername: string, asked: number): void {
    // As node's SNI callback sets it: there from the client's hello on, so a
    // 'tlsClientError' (an SNICallback's error) sees it too.
    if ((asked & 1) !== 0) this.servername = servername;
    this.secureServer?.chooseContext(this, (asked & 1) !== 0 ? servername : undefined, (asked & 2) !== 0);
  }

  /**
   * @internal The answer to onReactorServername: the native context to go
   * on with, 0 for the server's, and the OCSP response to staple.
   */
  answerServername(contextId: number, ocspResponse?: Buffer): void {
    this.useTlsContext(contextId, ocspResponse);
  }

  /**
   * @internal The handshake waits for a PSK: a server's for a key for one of
   * the identities (hex) the client offered, a client's for its identity
   * and key, given the server's hint (hex; none: null).
   */
  onReactorPsk(identities: string[], atKeyExchange = false): void {
    if (this.tlsClient !== undefined) {
      if (atKeyExchange && this.connectEmitPending) {
        // node's ClientKeyExchange question comes a round trip after
        // 'connect' (its ClientHello one, before it): this one waits for it.
        const id = this.id;
        process.nextTick(() => {
          if (!this.destroyed && this.id === id) this.onReactorPsk(identities, atKeyExchange);
        });
        return;
      }
      this.answerClientPsk(this.tlsClient, identities.length === 0 ? null : identities[0]);
      return;
    }
    this.secureServer?.answerPsk(this, identities);
  }

  /**
   * A client's pskCallback, as node's onPskClientCallback calls it: with
   * the socket as `this` and the hint as node makes its string of OpenSSL's
   * (UTF-8); a throw, or an answer of the wrong shape, destroys the socket
   * with that error and the handshake goes no further.
   */
  private answerClientPsk(client: TlsClientState, hintHex: string | null): void {
    if (this.destroyed) return;
    const hint = hintHex === null ? null : Buffer.from(hintHex, 'hex').toString('utf8');
    let answer: { identity: Buffer; psk: Buffer } | undefined;
    try {
      answer = client.pskCallback === undefined ? undefined : clientPskAnswer(client.pskCallback.call(this, hint));
    } catch (error) {
      this.destroy(error as Error);
      return;
    }
    if (this.destroyed) {
      answer?.psk.fill(0);
      return;
    }
    if (answer === undefined) {
      this.answerTlsPsk(-1);
      return;
    }
    // The reactor copies it at once; this copy is cleansed, as the key's
    // copies on the native side are.
    const identityThenKey = Buffer.concat([answer.identity, answer.psk]);
    this.answerTlsPsk(answer.identity.length, identityThenKey);
    identityThenKey.fill(0);
    answer.psk.fill(0);
  }

  /** @internal The answer to onReactorPsk: the index of the identity a key was found for, and it; -1 for none. */
  answerPsk(index: number, key?: Buffer): void {
    this.answerTlsPsk(index, key);
  }

  /** @internal The handshake waits for an ALPN name to be chosen from those the client offered. */
  onReactorAlpn(servername: string | false, offered: string): void {
    this.secureServer?.chooseAlpn(this, servername, offered);
  }

  /** @internal The handshake waits for the session with this id (hex) from the server's external cache. */
  onReactorResumeSession(id: string): void {
    this.secureServer?.resumeSession(this, Buffer.from(id, 'hex'));
  }

  /** @internal The answer to onReactorResumeSession: the session to resume, or none. */
  answerResumeSession(session?: Buffer): void {
    this.resumeTlsSession(session);
  }

  /** @internal A session the handshake made (id in hex, DER in base64), for the server's external cache. */
  onReactorNewSession(id: string, der: string): void {
    if (this.secureServer === undefined) this.tlsSessionStored();
    else this.secureServer.newSession(this, Buffer.from(id, 'hex'), Buffer.from(der, 'base64'));
  }

  /**
   * @internal The answer to onReactorAlpn: the index of the chosen name, -1
   * for none, and the native context whose certificate setKeyCert() chose
   * meanwhile, 0 for none.
   */
  answerAlpn(index: number, keyCertContextId = 0): void {
    this.chooseTlsAlpn(index, keyCertContextId);
  }

  /** @internal */
  onReactorTlsError(when: number, kind: number, strings: string[], first: number): void {
    const duringHandshake = when === TLS_ERROR_DURING_HANDSHAKE;
    const client = this.tlsClient;
    let error: Error;
    const report = duringHandshake ? this.handshakeFailureReport : undefined;
    if (report !== undefined && kind !== TLS_ERROR_PEER_CLOSED) error = report();
    else if (kind !== TLS_ERROR_PEER_CLOSED) error = tlsStreamError(strings[first], strings[first + 1], strings[first + 2]);
    else if (client !== undefined) {
      error = clientDisconnected(client);
      if (duringHandshake && !this.readableEnded) {
        // As tls.connect: the server's FIN is the socket's 'end' first, and
        // that 'end''s listener (node's onConnectEnd) destroys with the error.
        // (Not through onReactorEnd, whose end waits for 'secureConnect'; no
        // plaintext came before the handshake failed.)
        const disconnected = error;
        this.once('end', () => this.destroy(disconnected));
        this.push(null);
        this.read(0);
        return;
      }
    } else error = connectionReset();
    if (duringHandshake && client === undefined) failHandshake(this, error);
    else if (when === TLS_ERROR_LEFT_OPEN) this.failAfterHandshake(error);
    else this.destroy(error);
  }

  /**
   * OpenSSL failed after the handshake, and the reactor left the socket open
   * (src-native/tls_session.h broken_). As node's TLSSocket once secure
   * (_tls_wrap.js onerror, _emitTLSError): the error without destroying;
   * the peer that sent the fatal alert closes, and its FIN is 'end', then
   * 'close' without error; writes made before it complete, a later one
   * fails with EPROTO (opensslFailed). Before the
   * handshake counts as done in JS, as node's before _secureEstablished:
   * a server's socket still waiting for its 'newSession' callback fails as
   * a handshake does; a client's error waits for its 'secureConnect'.
   */
  private failAfterHandshake(error: Error): void {
    if (this.tlsClient !== undefined && this.connectEmitPending) {
      const id = this.id;
      process.nextTick(() => {
        if (!this.destroyed && this.id === id) this.failAfterHandshake(error);
      });
      return;
    }
    if (this.securePending) {
      this.securePending = false;
      failHandshake(this, error);
      return;
    }
    if (this.destroyed) return;
    this.opensslFailed = true;
    this.emit('error', error);
  }

  /** @internal */
  override onReactorError(errno: number, syscall: string): void {
    if (this.secureInfo === undefined && this.tlsClient === undefined) failHandshake(this, systemError(errno, syscall));
    else super.onReactorError(errno, syscall);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearHandshakeTimer(this);
    super._destroy(error, callback);
  }
}

/** Events whose listeners a node TLSSocket looks for on its server as it is made (SecureServer.onHandedStream). */
const handedStreamCallbackEvents = ['keylog', 'newSession', 'resumeSession', 'OCSPRequest'] as const;

/**
 * As node's onSocketClose: a server socket that closes without an error
 * before it was handed to the app (destroy() in 'connection', a client
 * dropped for its certificate, end() before the handshake) is a
 * 'tlsClientError' of ECONNRESET 'socket hang up', unless one was reported.
 */
function onServerSocketClose(this: SecureSocket, hadError: boolean): void {
  if (hadError || this.controlReleased || this.clientErrorReported) return;
  this.clientErrorReported = true;
  this.secureServer?.emit('tlsClientError', connectionReset(), this);
}

function ignoreServerSocketError(): void {
  // Reported already ('tlsClientError'), or the socket's own listeners hear it.
}

/** node's error for a server that closed before the handshake was done (tls.connect's onConnectEnd). */
function clientDisconnected(client: TlsClientState): NodeStyleError {
  const error = codedError('Client network socket disconnected before secure TLS connection was established',
    'ECONNRESET') as NodeStyleError & Record<string, unknown>;
  error.path = client.path;
  error.host = client.host;
  error.port = client.port;
  error.localAddress = client.localAddress;
  return error;
}

/**
 * A Map of at most `limit` entries: a lookup makes an entry the most recently
 * used, and a new entry past the limit drops the least recently used
 * (`dropped` hears of it). The bounded caches below are all of this kind.
 */
class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();
  constructor(private readonly limit: number, private readonly dropped?: (value: V) => void) {}

  has(key: K): boolean {
    return this.entries.has(key);
  }

  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    if (!this.entries.has(key) && this.entries.size >= this.limit) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [K, V];
      this.entries.delete(oldestKey);
      this.dropped?.(oldest);
    }
    this.entries.delete(key);
    this.entries.set(key, value);
  }
}

// node's object for a certificate (X509Certificate's toLegacyObject: the
// X509ToObject TLSSocket's getPeerCertificate() uses), by its SHA-256
// fingerprint: parsing one costs 200-350 µs here, and a client meets the
// same server certificate on every connection, a server the same client
// certificates. Least recently used goes first; each caller gets a copy.
const certificatesByFingerprint = new RecentMap<string, PeerCertificate>(64);
const MAX_CACHED_CERTIFICATE_BYTES = 16 * 1024;

/** The byte strings of a tlsQuery answer (after its number) as text: names, OpenSSL's messages. */
function textsOf(answer: [number, ...Buffer[]]): string[] {
  return answer.slice(1).map((bytes) => (bytes as Buffer).toString('latin1'));
}

/** A certificate's SHA-256 as node writes fingerprint256 ("AB:CD:..."), the key certificates are kept by. */
function fingerprint256Of(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

/** node's object for the certificate `raw` (a copy), or undefined when node cannot read it. */
function nodeCertificateObject(raw: Buffer, fingerprint256: string): PeerCertificate | undefined {
  let object = certificatesByFingerprint.get(fingerprint256);
  if (object === undefined) {
    try {
      object = new X509Certificate(raw).toLegacyObject() as unknown as PeerCertificate;
    } catch {
      return undefined;
    }
    // Only a certificate a fingerprint names, and of a size that keeps the cache small whatever peers send.
    if (fingerprint256 !== '' && raw.length <= MAX_CACHED_CERTIFICATE_BYTES) certificatesByFingerprint.set(fingerprint256, object);
  }
  return copyOfCertificate(object);
}

/** A copy of node's certificate object, down to its name objects, lists and bytes, prototypes kept. */
function copyOfCertificate(object: PeerCertificate): PeerCertificate {
  const copyValue = (value: unknown): unknown => {
    // Not Buffer.from: a small copy would share node's pool, and `.buffer` show other bytes.
    if (Buffer.isBuffer(value)) {
      const copy = Buffer.allocUnsafeSlow(value.length);
      value.copy(copy);
      return copy;
    }
    if (Array.isArray(value)) return value.map(copyValue);
    if (value !== null && typeof value === 'object') {
      const copy = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
      for (const [key, inner] of Object.entries(value)) copy[key] = copyValue(inner);
      return copy;
    }
    return value;
  };
  return copyValue(object) as PeerCertificate;
}

/** As node's connResetException('socket hang up'): the client left mid-handshake. */
function connectionReset(): NodeStyleError {
  return codedError('socket hang up', 'ECONNRESET');
}

/**
 * A callback the handshake waits for, as node's loadSNI and requestOCSP
 * make theirs: a second call destroys the socket with ERR_MULTIPLE_CALLBACK
 * (as node's socket.destroy(error): 'tlsClientError' while the handshake
 * runs), an error fails the handshake with it, and `go` takes the first
 * answer for a socket that still waits.
 */
function handshakeCallback<T>(socket: SecureSocket, go: (value: T | undefined) => void):
  (error: Error | null, value?: T) => void {
  const id = socket.id;
  let called = false;
  return (error, value) => {
    if (called) {
      const twice = codedError('Callback called multiple times', 'ERR_MULTIPLE_CALLBACK');
      if (socket.secureInfo === undefined) failHandshake(socket, twice);
      else socket.destroy(twice);
      return;
    }
    called = true;
    if (error) {
      failHandshake(socket, error);
      return;
    }
    if (socket.destroyed || socket.id !== id) return;
    go(value);
  };
}

// OpenSSL's PSK_MAX_IDENTITY_LEN and PSK_MAX_PSK_LEN (3.x, as in every node this supports).
const PSK_MAX_IDENTITY_LENGTH = 256;
const PSK_MAX_KEY_LENGTH = 512;

/**
 * A client's pskCallback answer as node's onPskClientCallback reads it:
 * undefined for none; `{ psk, identity }` checked with node's errors. The
 * key is copied, as node's C++ copies it.
 */
function clientPskAnswer(answer: unknown): { identity: Buffer; psk: Buffer } | undefined {
  if (answer === null || answer === undefined) return undefined;
  validateObject(answer, 'ret');
  const { psk, identity } = answer as { psk?: unknown; identity?: unknown };
  if (!ArrayBuffer.isView(psk)) throw invalidArgType('psk', 'an instance of Buffer, TypedArray, or DataView', psk);
  // node compares the view's `length` (a DataView has none, and passes).
  if ((psk as unknown as { length?: number }).length! > PSK_MAX_KEY_LENGTH) {
    throw invalidArgValue('psk', psk, `Pre-shared key exceeds ${PSK_MAX_KEY_LENGTH} bytes`);
  }
  validateString(identity, 'identity');
  if (Buffer.byteLength(identity) > PSK_MAX_IDENTITY_LENGTH) {
    throw invalidArgValue('identity', identity, `PSK identity exceeds ${PSK_MAX_IDENTITY_LENGTH} bytes`);
  }
  return { identity: Buffer.from(identity), psk: Buffer.from(psk.buffer.slice(psk.byteOffset, psk.byteOffset + psk.byteLength)) };
}

/** A pskCallback's answer as node's server reads it: the key, or undefined for none; throws as node's for a wrong type or length. */
function pskKeyOf(answer: unknown): Buffer | undefined {
  if (answer === null || answer === undefined) return undefined;
  let psk: unknown = answer;
  if (!ArrayBuffer.isView(answer)) {
    if (typeof answer !== 'object') {
      throw invalidArgType('ret', 'an instance of Buffer, TypedArray, DataView, or Object', answer);
    }
    psk = (answer as { psk?: unknown }).psk;
    if (!ArrayBuffer.isView(psk)) throw invalidArgType('psk', 'an instance of Buffer, TypedArray, or DataView', psk);
  }
  const view = psk as ArrayBufferView;
  // node compares `psk.length` (a DataView has none, and passes).
  if ((view as unknown as { length?: number }).length! > PSK_MAX_KEY_LENGTH) {
    throw invalidArgValue('psk', view, `Pre-shared key exceeds ${PSK_MAX_KEY_LENGTH} bytes`);
  }
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** Ends a connection whose handshake failed: 'tlsClientError' on the server, as node:tls. */
function failHandshake(socket: SecureSocket, error: Error): void {
  if (socket.destroyed) return;
  clearHandshakeTimer(socket);
  if (socket.secureServer !== undefined && !socket.clientErrorReported) {
    socket.clientErrorReported = true;
    socket.secureServer.emit('tlsClientError', error, socket);
  }
  socket.destroy();
}

function clearHandshakeTimer(socket: SecureSocket): void {
  if (socket.handshakeTimer !== undefined) {
    clearTimeout(socket.handshakeTimer);
    socket.handshakeTimer = undefined;
  }
}

function onHandshakeTimeout(socket: SecureSocket): void {
  socket.handshakeTimer = undefined;
  failHandshake(socket, codedError('TLS handshake timeout', 'ERR_TLS_HANDSHAKE_TIMEOUT'));
}

function pemText(value: unknown, name: string): string {
  if (typeof value === 'string') return value;
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', value);
}

function pemList(value: unknown, name: string): string[] {
  // As node's configSecureContext, where a falsy ca, cert or key is none
  // (a falsy crl other than null has thrown there already).
  if (!value) return [];
  return (Array.isArray(value) ? value : [value]).map((item) => pemText(item, name));
}

/**
 * node's processCiphers: TLS_* (and !TLS_*) names are TLSv1.3 suites, the
 * rest TLSv1.2 ciphers; an empty string is the default list.
 */
function splitCiphers(ciphers: string): { cipherList: string; cipherSuites: string } {
  const names = (ciphers || tls.DEFAULT_CIPHERS).split(':').filter((name) => name.length > 0);
  const isSuite = (name: string): boolean => name.startsWith('TLS_') || name.startsWith('!TLS_');
  const cipherList = names.filter((name) => !isSuite(name)).join(':');
  const cipherSuites = names.filter(isSuite).join(':');
  if (cipherList === '' && cipherSuites === '') throw invalidArgValue('options.ciphers', ciphers);
  return { cipherList, cipherSuites };
}

/**
 * An ALPN option as node's convertALPNProtocols makes it (length-prefixed
 * names), checked as there; empty when none. That ignores what is not an
 * array or a byte view; tls.connect then throws on a truthy one (a string, a
 * number, an object) when it hands it to its TLS handle, and so do we, for a
 * client. A server ignores it, as tls.Server does.
 */
function alpnWireFormat(protocols: unknown, client: boolean): Buffer {
  const out: { ALPNProtocols?: Buffer } = {};
  if (protocols !== undefined) {
    (tls as unknown as { convertALPNProtocols(protocols: unknown, out: object): void }).convertALPNProtocols(protocols, out);
  }
  if (client && protocols && out.ALPNProtocols === undefined) throw new TypeError('Must give a Buffer as first argument');
  return out.ALPNProtocols ?? Buffer.alloc(0);
}

function refuseUnsupported(options: object, client: boolean): void {
  for (const name of client ? unsupportedClientOptions : unsupportedOptions) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw codedError(`epoll-reactor: the TLS option '${name}' is not supported by reactor TLS yet (docs/tls.md)`,
        'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED');
    }
  }
}

/**
 * The contexts a tls.Server was given with addContext(), each with node's own
 * pattern (node keeps a context's native part): made by
 * {@link createSecureContext}, by tls.createSecureContext, or by node from
 * options. Undefined for an entry that is none of these.
 */
export function namedContextsOf(server: tls.Server): [RegExp, NativeTlsContextOptions][] | undefined {
  const added = (server as unknown as { _contexts?: unknown })._contexts;
  if (!Array.isArray(added)) return [];
  const named: [RegExp, NativeTlsContextOptions][] = [];
  for (const entry of added) {
    // types.isRegExp: node's pattern may come from another realm (a vm context, jest's).
    const known = Array.isArray(entry) && types.isRegExp(entry[0]) && entry[1] !== null && typeof entry[1] === 'object'
      ? knownContextOptions(entry[1] as object) : undefined;
    if (known === undefined) return undefined;
    named.push([entry[0] as RegExp, known]);
  }
  return named;
}

/**
 * Marks server options read off a tls.Server (secureOptionsOf): node built
 * that server's context from them, so they need no second check.
 */
const checkedByNode = Symbol('epoll-reactor options checked by node');

/**
 * Checks `options` as node:tls does (node's own createSecureContext parses
 * the keys and certificates and throws its errors) and returns what the
 * native context is built from. Throws before anything is created.
 */
function prepareContext(given: SecureServerOptions | ConnectTlsOptions, client = false,
  made?: { secureContext?: tls.SecureContext }): NativeTlsContextOptions {
  // Each option read once: node checks the same values that are then used
  // (a getter could otherwise hand node one value and the reactor another).
  const options: SecureServerOptions = { ...given } as SecureServerOptions;
  refuseUnsupported(options, client);
  if (options.ciphers != null && typeof options.ciphers !== 'string') {
    throw invalidArgType('options.ciphers', 'of type string', options.ciphers);
  }
  if (options.sessionIdContext != null && typeof options.sessionIdContext !== 'string') {
    throw invalidArgType('options.sessionIdContext', 'of type string', options.sessionIdContext);
  }
  // Throws node's own errors for bad keys, certificates, passphrases,
  // ciphers, protocol versions, curves, signature algorithms and
  // secureOptions (SecureServer's constructor defaults honorCipherOrder first,
  // as tls.Server does, which makes node accept any secureOptions: below).
  // Not again for options node made its own context from (an https.Server's,
  // serveHttp): it has thrown already, and warned (a small dhparam's
  // SecurityWarning came twice).
  if (!(options as Record<symbol, unknown>)[checkedByNode]) {
    const secureContext = tls.createSecureContext(options as tls.SecureContextOptions);
    if (made !== undefined) made.secureContext = secureContext;
  }
  const alpn = alpnWireFormat(options.ALPNProtocols, client);
  const passphrase = options.passphrase;
  // As node's configSecureContext: a falsy key is none; in a list, an
  // entry's own passphrase unless it has none (undefined).
  const keys = (!options.key ? [] : Array.isArray(options.key) ? options.key : [options.key])
    .map((key) => {
      if (key !== null && typeof key === 'object' && !ArrayBuffer.isView(key)) {
        const entry = key as { pem: unknown; passphrase?: string };
        const keyPassphrase = entry.passphrase !== undefined ? entry.passphrase : passphrase;
        return { pem: pemText(entry.pem, 'options.key.pem'), ...(keyPassphrase == null ? {} : { passphrase: keyPassphrase }) };
      }
      return { pem: pemText(key, 'options.key'), ...(passphrase == null ? {} : { passphrase }) };
    });
  const pfx = pfxList(options.pfx, passphrase);
  const requestCert = !client && options.requestCert === true;
  // As node's `if (ca) addCACerts(...) else addRootCerts()`: a falsy `ca`
  // means node's root store (for a client always, for a server only when it
  // asks for certificates); a given one, even an empty list, only itself.
  const defaultCa = !options.ca;
  let ca = defaultCa ? [] : pemList(options.ca, 'options.ca');
  if (defaultCa && (requestCert || client)) ca = defaultCertificates();
  const { cipherList, cipherSuites } = splitCiphers(options.ciphers ?? '');
  let minVersion = protocolVersions[options.minVersion ?? tls.DEFAULT_MIN_VERSION];
  let maxVersion = protocolVersions[options.maxVersion ?? tls.DEFAULT_MAX_VERSION];
  if (options.secureProtocol) {
    [minVersion, maxVersion] = secureProtocolVersions(String(options.secureProtocol), client, minVersion);
  }
  // As node's configSecureContext (Node 20 and later): no TLSv1.2 ciphers
  // means TLSv1.3 only; no TLSv1.3 suites keeps OpenSSL's (native: an empty
  // cipherSuites is not set), and TLSv1.3 with them.
  if (cipherList === '' && minVersion < 0x0304 && maxVersion > 0x0303) minVersion = 0x0304;
  // As node's configSecureContext, which checked them above: the curves
  // (tls.DEFAULT_ECDH_CURVE when not given; 'auto' is OpenSSL's choice),
  // signature algorithms when given, and the SSL_OP_* bits when truthy.
  const ecdhCurve = options.ecdhCurve === undefined ? tls.DEFAULT_ECDH_CURVE : options.ecdhCurve;
  // As node's createSecureContext: honorCipherOrder adds its flag with `|=`,
  // which also makes any value a 32-bit integer.
  let secureOptions = options.secureOptions;
  if (options.honorCipherOrder) secureOptions = (secureOptions as number) | cryptoConstants.SSL_OP_CIPHER_SERVER_PREFERENCE;
  const shaping = {
    // node's createSecureContext parsed each ("Failed to parse CRL").
    crls: pemList(options.crl, 'options.crl'),
    ecdhCurve: ecdhCurve === 'auto' ? '' : ecdhCurve,
    sigalgs: options.sigalgs ?? '',
    secureOptions: secureOptions || 0,
    // node's setDHParam: the string 'auto' is OpenSSL's parameters; other
    // text or bytes are PEM, dropped natively when they do not parse.
    dhAuto: options.dhparam === 'auto',
    dhparam: options.dhparam === undefined || options.dhparam === null || options.dhparam === 'auto'
      ? '' : pemText(options.dhparam, 'options.dhparam'),
    dhparamDecoded: DHPARAM_DECODED,
    // node's setAllowPartialTrustChain: a trusted certificate ends a chain
    // even when it is not a self-signed root.
    partialChain: Boolean(options.allowPartialTrustChain),
    certCompression: certificateCompressionOf(options.certificateCompression),
  };
  if (client) {
    return {
      client: true, keys, pfx, certs: pemList(options.cert, 'options.cert'), ca, defaultCa, cipherList, cipherSuites, minVersion,
      maxVersion, ...shaping, alpn, requestCert: false, rejectUnauthorized: true,
      honorCipherOrder: false, sessionIdContext: '',
    };
  }
  return {
    keys,
    pfx,
    certs: pemList(options.cert, 'options.cert'),
    ca,
    defaultCa,
    cipherList,
    cipherSuites,
    minVersion,
    maxVersion,
    ...shaping,
    alpn,
    requestCert,
    rejectUnauthorized: options.rejectUnauthorized !== false,
    honorCipherOrder: options.honorCipherOrder !== false,
    // node's createSecureContext, above, checked both (an int32; 48 bytes).
    // As tls.Server, which keeps only truthy ones: 0 and null mean "not given".
    ...(options.sessionTimeout ? { sessionTimeout: options.sessionTimeout } : {}),
    // Random keys when none are given, as node's server makes: getTicketKeys() returns them.
    ticketKeys: options.ticketKeys ? copyOfView(options.ticketKeys) : randomBytes(48),
    sessionIdContext: options.sessionIdContext || defaultSessionIdContext(),
  };
}

type PfxOption = string | ArrayBufferView | { buf: string | ArrayBufferView; passphrase?: string | ArrayBufferView };

/**
 * `pfx` as node's createSecureContext reads it (which, above, has already
 * parsed each with node's errors): one bundle, or a list of bundles or of
 * { buf, passphrase }, each with its own passphrase or else `passphrase`.
 */
function pfxList(pfx: unknown, passphrase: unknown): { der: Buffer; passphrase?: Buffer }[] {
  if (pfx === undefined || pfx === null) return [];
  // node's toBuf: a string as UTF-8, any other view's bytes as they are (a passphrase too).
  const bytes = (value: unknown): Buffer => (typeof value === 'string' ? Buffer.from(value) : copyOfView(value as ArrayBufferView));
  if (!Array.isArray(pfx)) {
    return [{ der: bytes(pfx), ...(passphrase ? { passphrase: bytes(passphrase) } : {}) }];
  }
  return (pfx as PfxOption[]).map((entry) => {
    const object = entry !== null && typeof entry === 'object' && !ArrayBuffer.isView(entry) ? entry : undefined;
    const pass = object?.passphrase || passphrase;
    return { der: bytes(object ? object.buf : entry), ...(pass === undefined || pass === null ? {} : { passphrase: bytes(pass) }) };
  });
}

let defaultCertificateList: string[] | undefined;

/**
 * node's default trust store: its bundled roots, plus NODE_EXTRA_CA_CERTS and
 * the system's where this node's tls.getCACertificates('default') includes
 * them (Node 22.15 and later); tls.rootCertificates before that.
 */
function defaultCertificates(): string[] {
  if (defaultCertificateList === undefined) {
    const getCACertificates = (tls as unknown as { getCACertificates?(type: string): string[] }).getCACertificates;
    defaultCertificateList = typeof getCACertificates === 'function'
      ? [...getCACertificates('default')]
      : [...tls.rootCertificates, ...extraCertificates()];
  }
  return defaultCertificateList;
}

/**
 * What node (without tls.getCACertificates, Node 20) adds to its roots from
 * the file NODE_EXTRA_CA_CERTS names: read once, as node reads it at start;
 * an unreadable file adds nothing (node warns and goes on).
 */
function extraCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return fs.readFileSync(file, 'latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  } catch {
    return [];
  }
}

/** tls.connect's DEP0123 (an address as servername) is emitted once per process. */
let ipServernameWarned = false;

/**
 * Checks connect({ tls })'s options as tls.connect does (before anything is
 * created) and returns what the client socket needs.
 */
export function prepareTlsClient(connectOptions: { host?: string; port?: number | string; path?: string;
  localAddress?: string }, given: ConnectTlsOptions): TlsClientState {
  validateObject(given, 'options.tls');
  const options: ConnectTlsOptions = { ...given };
  const checkServerIdentity = options.checkServerIdentity ?? tls.checkServerIdentity;
  validateFunction(checkServerIdentity, 'options.checkServerIdentity');
  // In tls.connect's order: the context's options, enableTrace, the session, then the name.
  const { context, contextKey } = preparedClientContext(options);
  const traces = traceOption(options.enableTrace);
  // As TLSSocket takes it: any truthy value must be a function.
  const pskCallback = options.pskCallback || undefined;
  if (pskCallback !== undefined) validateFunction(pskCallback, 'pskCallback');
  const servername = options.servername || '';
  const hostname = servername || connectOptions.host || 'localhost';
  // As tls.connect: anything given but false verifies (undefined too: node
  // spreads the options over its default); NODE_TLS_REJECT_UNAUTHORIZED=0
  // turns the default off.
  const rejectUnauthorized = Object.prototype.hasOwnProperty.call(options, 'rejectUnauthorized')
    ? options.rejectUnauthorized !== false : process.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0';
  const session = sessionOption(options.session, hostname, rejectUnauthorized);
  if (options.servername !== undefined && options.servername !== null && typeof options.servername !== 'string') {
    throw invalidArgType('options.servername', 'of type string', options.servername);
  }
  // What SNI can carry (RFC 6066: 1 to 255 bytes, no NUL); OpenSSL refuses the rest.
  if (typeof options.servername === 'string' &&
      (Buffer.byteLength(options.servername) > 255 || options.servername.includes('\0'))) {
    throw invalidArgValue('options.servername', options.servername, 'must be a host name of at most 255 bytes');
  }
  if (servername !== '' && isIP(servername) !== 0) {
    if (ipServernameThrows) {
      throw invalidArgValue('options.servername', servername, 'Setting the TLS ServerName to an IP address is not permitted.');
    }
    if (!ipServernameWarned) {
      // tls.connect's warning, once per process.
      ipServernameWarned = true;
      process.emitWarning('Setting the TLS ServerName to an IP address is not permitted by RFC 6066. ' +
        'This will be ignored in a future version.', 'DeprecationWarning', 'DEP0123');
    }
  }
  return {
    context, contextKey, servername, hostname, rejectUnauthorized,
    checkServerIdentity: checkServerIdentity as TlsClientState['checkServerIdentity'],
    host: connectOptions.host, port: connectOptions.port, path: connectOptions.path,
    localAddress: connectOptions.localAddress, session, traces,
    // As tls.connect: any truthy value asks.
    requestsOcsp: Boolean(options.requestOCSP),
    pskCallback: pskCallback as TlsClientState['pskCallback'],
  };
}

let traceWarned = false;

/**
 * Whether a socket traces its records: its `enableTrace` option, checked
 * as node's TLSSocket checks it, or when not given node's `--trace-tls`
 * flag, with node's warning once.
 */
function traceOption(value: unknown): boolean {
  if (value !== undefined && value !== null) {
    if (typeof value !== 'boolean') throw invalidArgType('options.enableTrace', 'of type boolean', value);
    return value;
  }
  const flagged = process.execArgv.includes('--trace-tls') ||
    (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes('--trace-tls');
  if (flagged && !traceWarned) {
    traceWarned = true;
    process.emitWarning('Enabling --trace-tls can expose sensitive data in the resulting log.');
  }
  return flagged;
}

/**
 * The file of node's `--tls-keylog` (on its command line or in
 * NODE_OPTIONS), or undefined: node appends every TLS connection's key log
 * lines to it, and so does the package for reactor TLS connections.
 */
function tlsKeylogFile(): string | undefined {
  if (tlsKeylog === null) tlsKeylog = nodeOptionValue('--tls-keylog');
  return tlsKeylog;
}
let tlsKeylog: string | undefined | null = null;

let tlsKeylogWarned = false;
let tlsKeylogErrorWarned = false;
const TLS_KEYLOG_WARNING = 'Using --tls-keylog makes TLS connections insecure by writing secret key material to file ';

// node warns once, at its first TLSSocket; one made before any reactor TLS
// socket has warned for the process. (One made after a reactor socket warns
// again: node's flag is its own.)
if (tlsKeylogFile() !== undefined) {
  process.on('warning', (warning: Error) => {
    if (warning.message.startsWith(TLS_KEYLOG_WARNING)) tlsKeylogWarned = true;
  });
}

/** node's warning at the first TLS socket under --tls-keylog. */
function warnOfTlsKeylog(): void {
  if (tlsKeylogWarned) return;
  tlsKeylogWarned = true;
  process.emitWarning(`${TLS_KEYLOG_WARNING}${tlsKeylogFile()}`);
}

/** Appends a key log line as node does (mode 0600, one warning for the first failure). */
function appendTlsKeylog(file: string, line: Buffer): void {
  fs.appendFile(file, line, { mode: 0o600 }, (error) => {
    if (error && !tlsKeylogErrorWarned) {
      tlsKeylogErrorWarned = true;
      process.emitWarning(`Failed to write TLS keylog (this warning will not be repeated): ${error}`);
    }
  });
}

// What prepareContext made of a client's options, by the option values it
// read (clientOptionsKey): node's createSecureContext, which checks them,
// costs about 300 µs a connect, and a proxy connects with the same options
// every time. Values that checked out once check out again.
const preparedClientContexts = new RecentMap<string, { context: NativeTlsContextOptions; contextKey: string }>(32);
// Client options that do not shape the context.
const optionsBesideContext = new Set(['servername', 'checkServerIdentity', 'rejectUnauthorized', 'session', 'enableTrace']);

/** prepareContext's result for a client's options, and the key its native context is cached under. */
function preparedClientContext(options: ConnectTlsOptions): { context: NativeTlsContextOptions; contextKey: string } {
  // As tls.connect: `options.secureContext || tls.createSecureContext(options)`.
  if (options.secureContext) return clientContextFromSecureContext(options);
  let key: string | undefined;
  try {
    key = clientOptionsKey(options);
  } catch {
    key = undefined;  // a value the key cannot read (a detached view...): node's checks say what is wrong
  }
  const cached = key === undefined ? undefined : preparedClientContexts.get(key);
  if (cached !== undefined) return cached;
  const prepared = withContextKey(prepareContext(options, true));
  if (key !== undefined) preparedClientContexts.set(key, prepared);
  return prepared;
}

function withContextKey(context: NativeTlsContextOptions): { context: NativeTlsContextOptions; contextKey: string } {
  // The context is cached under what builds it; node's default roots by name, not by their 200 KiB.
  const contextKey = createHash('sha1')
    .update(JSON.stringify({ ...context, ca: context.defaultCa ? 'default' : context.ca, alpn: context.alpn.toString('hex') }))
    .digest('hex');
  return { context, contextKey };
}

// Client contexts made from a createSecureContext result, by its ALPN list.
const clientContextsBySecureContext = new WeakMap<object, Map<string, { context: NativeTlsContextOptions; contextKey: string }>>();

/**
 * A client context from `options.secureContext`, made by createSecureContext:
 * its key, certificates, CA (node's roots when it was given none), ciphers
 * and versions; the ALPN list is the connect's own, as node sets it on the
 * connection. The other options are not read, as tls.connect does not read them.
 */
function clientContextFromSecureContext(options: ConnectTlsOptions): { context: NativeTlsContextOptions; contextKey: string } {
  refuseUnsupported(options, true);
  const secureContext = options.secureContext as unknown;
  // As tls.connect, which takes a SecureContext's `context`, never the native part itself.
  const inner = typeof secureContext === 'object' && secureContext !== null ? (secureContext as { context?: unknown }).context : undefined;
  const made = typeof inner === 'object' && inner !== null
    ? reactorContexts.get(secureContext as object) ?? nodeClientContextOptions(secureContext as object) : undefined;
  if (made === undefined) {
    // As tls.connect, whose handle checks what it is given.
    throw codedTypeError('context must be a SecureContext', 'ERR_TLS_INVALID_CONTEXT');
  }
  const alpn = alpnWireFormat(options.ALPNProtocols, true);
  let byAlpn = clientContextsBySecureContext.get(made);
  if (byAlpn === undefined) {
    byAlpn = new Map();
    clientContextsBySecureContext.set(made, byAlpn);
  }
  const cached = byAlpn.get(alpn.toString('hex'));
  if (cached !== undefined) return cached;
  const prepared = withContextKey({
    client: true, keys: made.keys, pfx: made.pfx, certs: made.certs,
    ca: made.defaultCa ? defaultCertificates() : made.ca, defaultCa: made.defaultCa,
    cipherList: made.cipherList, cipherSuites: made.cipherSuites, minVersion: made.minVersion, maxVersion: made.maxVersion,
    crls: made.crls, ecdhCurve: made.ecdhCurve, sigalgs: made.sigalgs, secureOptions: made.secureOptions,
    dhparam: made.dhparam, dhAuto: made.dhAuto, dhparamDecoded: made.dhparamDecoded, partialChain: made.partialChain,
    certCompression: made.certCompression, alpn, requestCert: false, rejectUnauthorized: true, honorCipherOrder: false, sessionIdContext: '',
    nodeContext: made.nodeContext, nodeContextSerial: made.nodeContextSerial,
  });
  // A connection offers a handful of ALPN lists at most; bounded all the same.
  if (byAlpn.size >= 8) byAlpn.clear();
  byAlpn.set(alpn.toString('hex'), prepared);
  return prepared;
}

/**
 * A key naming every value of `options` that shapes a client context
 * (strings and numbers as they are, bytes by their SHA-256, arrays and plain
 * objects by their parts), or undefined when a value cannot be named so
 * (then the options are checked anew).
 */
function clientOptionsKey(options: object): string | undefined {
  // node's defaults, which users may change between connects, shape it too.
  const defaults = tls as unknown as Record<string, unknown>;
  const parts = ['DEFAULT_CIPHERS', 'DEFAULT_MIN_VERSION', 'DEFAULT_MAX_VERSION', 'DEFAULT_ECDH_CURVE']
    .map((name) => `${name.length}:${name}=${optionValueKey(defaults[name], 0)}`);
  for (const name of Object.keys(options).sort()) {
    if (optionsBesideContext.has(name)) continue;
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const named = optionValueKey(value, 0);
    if (named === undefined) return undefined;
    parts.push(`${name.length}:${name}=${named}`);
  }
  return parts.join(',');
}

/**
 * A value's part of the key, self-delimiting; undefined for anything whose
 * every read might not give the same answer (accessors, non-enumerable or
 * inherited properties, holes, objects other than arrays and plain ones).
 */
function optionValueKey(value: unknown, depth: number): string | undefined {
  if (typeof value === 'string') return `s${value.length}:${value}`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return `p${String(value)}`;
  }
  if (ArrayBuffer.isView(value)) {
    // A SharedArrayBuffer can change under another thread between reads.
    if (!(value.buffer instanceof ArrayBuffer)) return undefined;
    return `b${createHash('sha256').update(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)).digest('hex')}`;
  }
  if (depth >= 3 || typeof value !== 'object') return undefined;
  const isArray = Array.isArray(value);
  if (!isArray && Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  const descriptors = Object.getOwnPropertyDescriptors(value) as Record<string, PropertyDescriptor>;
  const names = Object.keys(descriptors).filter((name) => !(isArray && name === 'length'));
  if (isArray && names.length !== (value as unknown[]).length) return undefined;  // holes
  const named: string[] = [];
  for (const name of names.sort()) {
    const descriptor = descriptors[name];
    if (!('value' in descriptor) || !descriptor.enumerable) return undefined;
    const itemKey = optionValueKey(descriptor.value, depth + 1);
    if (itemKey === undefined) return undefined;
    named.push(`${name.length}:${name}=${itemKey}`);
  }
  return `${isArray ? 'a' : 'o'}${named.length}[${named.join(',')}]`;
}

/**
 * The session bytes connect({ tls }) offers for `session`, copied now, as
 * tls.connect reads them: a falsy value offers none, anything but a buffer
 * (or, where sessions carry the server identity, a latin1 string) throws
 * node's error. Where sessions carry the identity (tlsSessionsCarryServerIdentity),
 * a wrapped one is offered only to the identity it was verified for, and a
 * raw Buffer only when the server is not verified; either is otherwise
 * ignored, as node ignores it: a full handshake, with checkServerIdentity.
 */
function sessionOption(session: unknown, identity: string, rejectUnauthorized: boolean): Buffer | undefined {
  if (!session) return undefined;
  if (typeof session === 'string' && tlsSessionsCarryServerIdentity) session = Buffer.from(session, 'latin1');
  if (!ArrayBuffer.isView(session)) throw sessionNotABuffer();
  if (tlsSessionsCarryServerIdentity && Buffer.isBuffer(session)) {
    const wrapped = unwrapSession(session);
    if (wrapped !== undefined) return wrapped.identity === identity ? copyOfView(wrapped.der) : undefined;
    if (rejectUnauthorized) return undefined;
  }
  return copyOfView(session);
}

/** node's error for a session that is not a buffer. */
function sessionNotABuffer(): TypeError {
  return Object.assign(new TypeError('Session must be a buffer'), { code: 'ERR_INVALID_ARG_TYPE' });
}

// What node (where tlsSessionsCarryServerIdentity) puts before a client
// session's DER: this prefix, the identity's length (16 bits) and the identity.
const SESSION_PREFIX = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');

/** The identity and DER of a session in node's wrapping, or undefined when it is not one. */
function unwrapSession(session: Buffer): { identity: string; der: Buffer } | undefined {
  const start = SESSION_PREFIX.length;
  if (session.length < start + 2 || !session.subarray(0, start).equals(SESSION_PREFIX)) return undefined;
  const end = start + 2 + session.readUInt16BE(start);
  if (session.length < end) return undefined;
  return { identity: session.toString('utf8', start + 2, end), der: session.subarray(end) };
}

/** A session as this node's tls.connect hands it out: the DER, wrapped with the identity where node wraps it. */
function sessionForJs(der: string, identity: string): Buffer {
  const bytes = Buffer.from(der, 'base64');
  if (!tlsSessionsCarryServerIdentity) return bytes;
  const name = Buffer.from(identity, 'utf8');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(name.length);
  return Buffer.concat([SESSION_PREFIX, length, name, bytes]);
}

// Client contexts per reactor, by TlsClientState.contextKey: building one
// parses every root certificate, so connections with the same options share
// it. Bounded; an evicted context lives on in the connections using it.
// Those read from contexts node made are kept apart, so that a program
// making such a context per connect does not evict the others.
const clientContexts = new WeakMap<Reactor, RecentMap<string, number>>();
const nodeClientContextsOnReactor = new WeakMap<Reactor, RecentMap<string, number>>();

/** The native client context for `client` on `reactor`; throws OpenSSL's error if it cannot be built. */
function clientContextFor(reactor: Reactor, client: TlsClientState): number {
  const byReactor = client.context.nodeContext === undefined ? clientContexts : nodeClientContextsOnReactor;
  let contexts = byReactor.get(reactor);
  if (contexts === undefined) {
    contexts = new RecentMap(32, (id) => reactor.native.releaseTlsContext(id));
    byReactor.set(reactor, contexts);
  }
  const cached = contexts.get(client.contextKey);
  if (cached !== undefined) return cached;
  const { nodeContext } = client.context;
  // A context node made is read natively, in this call, from its `_external`.
  const result = reactor.native.createTlsContext(nodeContext === undefined ? client.context
    : { ...client.context, nodeContext: nodeSslContext(nodeContext) });
  if (result.length !== 1 && result[2] === 'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED') {
    throw codedError(`epoll-reactor: reactor TLS cannot use this tls.createSecureContext context as tls.connect would: ` +
      `its ${result[0]} cannot be read from OpenSSL; make it with epoll-reactor's createSecureContext (docs/tls.md)`,
    'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED');
  }
  if (result.length !== 1) throw opensslError(result[0], result[1], result[2]);
  contexts.set(client.contextKey, result[0]);
  return result[0];
}

/**
 * A client socket for connect({ tls }), its context built on the reactor
 * now, so that OpenSSL's refusal throws here as tls.connect's would.
 */
export function createTlsClientSocket(options: SocketOptions, client: TlsClientState): SecureSocket {
  let reactor: Reactor | undefined;
  try {
    reactor = getReactor();
  } catch {
    // A reactor thread that cannot start fails the connect itself, as for a plain socket.
  }
  if (reactor !== undefined) clientContextFor(reactor, client);
  return new SecureSocket(options, undefined, client);
}

/**
 * node's default session id context (lib/_tls_wrap.js), computed as node
 * does for each server, from `process.argv` as it is then.
 */
function defaultSessionIdContext(): string {
  return createHash('sha1').update(process.argv.join(' ')).digest('hex').slice(0, 32);
}

/** The bytes of any ArrayBufferView (a SharedArrayBuffer's too) in a Buffer of their own. */
function copyOfView(view: ArrayBufferView): Buffer {
  const copy = Buffer.alloc(view.byteLength);
  copy.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return copy;
}

// What each context made by createSecureContext was built from, found by the
// SecureContext and by its native `context` (what node's addContext keeps).
const reactorContexts = new WeakMap<object, NativeTlsContextOptions>();

let nodeSecureContextClass: Function | undefined;

// node's getter of a native SecureContext's SSL_CTX (`_external`, an
// External), taken from node's own prototype: its receiver check (V8's
// signature) throws for anything that is not a native SecureContext.
let sslContextGetter: ((this: object) => unknown) | null | undefined;

/**
 * The native part of a context node made (a tls.SecureContext's `context`,
 * or that part itself, as node's `context.context || context`), or undefined
 * for anything else.
 */
function nodeNativeContextOf(value: object): object | undefined {
  if (sslContextGetter === undefined) {
    const made = tls.createSecureContext();
    sslContextGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(made.context), '_external')?.get ?? null;
    if (sslContextGetter === null) nodeSecureContextClass = made.constructor;
  }
  if (sslContextGetter === null) {
    // Every node from 20 to 26 has the getter; one without it gets a reason.
    if (value instanceof nodeSecureContextClass!) {
      throw codedError('epoll-reactor: this node does not expose the OpenSSL context of tls.createSecureContext\'s ' +
        'contexts; make them with epoll-reactor\'s createSecureContext (docs/tls.md)', 'ERR_EPOLL_REACTOR_TLS_UNSUPPORTED');
    }
    return undefined;
  }
  const inner = (value as { context?: unknown }).context;
  const candidate = inner !== null && typeof inner === 'object' ? inner : value;
  try {
    return sslContextGetter.call(candidate) ? candidate : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a context for SNI choices has a certificate: one node made is asked (its native getCertificate()). */
function hasCertificate(options: NativeTlsContextOptions): boolean {
  if (options.nodeContext === undefined) return options.certs.length > 0 || (options.pfx?.length ?? 0) > 0;
  const native = options.nodeContext as { getCertificate?: () => unknown };
  return typeof native.getCertificate !== 'function' || native.getCertificate() !== null;
}

let secureContextClass: Function | undefined;

/** Whether `value` is a SecureContext (node's class; createSecureContext makes them too), as node's setKeyCert asks. */
function isNodeSecureContext(value: unknown): value is tls.SecureContext {
  secureContextClass ??= tls.createSecureContext().constructor;
  return value instanceof secureContextClass;
}

/** OpenSSL's error for a certificate or key that is not there, as node throws it from setKeyCert. */
function opensslNullParameter(): Error {
  return opensslError('error:0A0C0102:SSL routines::passed a null parameter', 'SSL routines', 'passed a null parameter');
}

/** Whether an SNI choice is a context (one node or the package made) without a certificate. */
function lacksCertificate(given: unknown): boolean {
  if (!given || (typeof given !== 'object' && typeof given !== 'function')) return false;
  const options = knownContextOptions(given as object);
  return options !== undefined && !hasCertificate(options);
}

/** What node's setKeyCert throws for a context without a certificate (lib/net-version.ts). */
function setKeyCertWithoutCertificate(): Error {
  return contextsCheckedForCertificate ? new Error('SetKeyCert') : opensslNullParameter();
}

/** node's SSL_CTX of a native SecureContext, as an External, for createTlsContext to read in the same call. */
function nodeSslContext(native: object): object {
  const external = sslContextGetter!.call(native);
  if (typeof external !== 'object' || external === null) throw codedTypeError('context must be a SecureContext', 'ERR_TLS_INVALID_CONTEXT');
  return external;
}

// What a server's SNI choice builds from a context node made, by its native part.
const nodeContexts = new WeakMap<object, NativeTlsContextOptions>();

/** Options naming a context node made, for {@link SecureServer}'s SNI choices (the keys are taken from it natively). */
function nodeContextOptions(native: object): NativeTlsContextOptions {
  let options = nodeContexts.get(native);
  if (options === undefined) {
    options = {
      keys: [], certs: [], ca: [], cipherList: '', cipherSuites: '', minVersion: 0, maxVersion: 0, alpn: Buffer.alloc(0),
      requestCert: false, rejectUnauthorized: true, honorCipherOrder: true, sessionIdContext: '', nodeContext: native,
    };
    nodeContexts.set(native, options);
  }
  return options;
}

// Client contexts from one node made, by its native part; each numbered,
// as the native contexts built from them are cached by what JSON makes of
// their options, and every native part looks the same there.
const nodeClientContexts = new WeakMap<object, NativeTlsContextOptions>();
let nodeClientContextsMade = 0;

/**
 * What connect({ tls: { secureContext } }) builds from a context node made
 * (or its native part): everything is read from node's OpenSSL context
 * (tls_node_context.cc); undefined for anything that is no such context.
 */
function nodeClientContextOptions(context: object): NativeTlsContextOptions | undefined {
  const native = nodeNativeContextOf(context);
  if (native === undefined) return undefined;
  let options = nodeClientContexts.get(native);
  if (options === undefined) {
    options = {
      keys: [], certs: [], ca: [], cipherList: '', cipherSuites: '', minVersion: 0, maxVersion: 0, alpn: Buffer.alloc(0),
      requestCert: false, rejectUnauthorized: true, honorCipherOrder: false, sessionIdContext: '', nodeContext: native,
      nodeContextSerial: ++nodeClientContextsMade,
      // As node's contexts: no certificate compression unless asked for,
      // which the ClientHello comparison then finds.
      certCompression: certificateCompressionOf(undefined),
    };
    nodeClientContexts.set(native, options);
  }
  return options;
}

/**
 * Makes a context, as `tls.createSecureContext` does: the result is node's
 * own SecureContext (it works wherever node:tls takes one). Servers' SNI
 * choices take node's contexts as well; this one is also what
 * `connect({ tls: { secureContext } })` takes. Options are checked as node
 * checks them; options reactor TLS does not implement throw
 * ERR_EPOLL_REACTOR_TLS_UNSUPPORTED.
 *
 * @example
 * ```ts
 * import { createSecureContext, createSecureServer } from 'epoll-reactor';
 * const contexts = { 'a.example': createSecureContext({ key: keyA, cert: certA }) };
 * const server = createSecureServer({ key, cert, SNICallback: (name, cb) => cb(null, contexts[name]) });
 * ```
 */
export function createSecureContext(options?: tls.SecureContextOptions): tls.SecureContext {
  if (!tlsAvailable) return tls.createSecureContext(options);
  // As node's: no options (null too) is an empty context; anything else must be an object.
  if (options !== undefined && options !== null) validateObject(options, 'options');
  const made: { secureContext?: tls.SecureContext } = {};
  const prepared = prepareContext((options ?? {}) as SecureServerOptions, false, made);
  const secureContext = made.secureContext!;
  reactorContexts.set(secureContext, prepared);
  const native = (secureContext as { context?: unknown }).context;
  if (native !== null && typeof native === 'object') reactorContexts.set(native, prepared);
  return secureContext;
}

/**
 * What a context given for an SNI name is built from: one made by
 * createSecureContext (or its native part), one node made, or options to
 * build one from, as node's addContext takes.
 */
export function contextOptionsOf(context: unknown): NativeTlsContextOptions {
  const known = context !== null && typeof context === 'object' ? knownContextOptions(context) : undefined;
  return known ?? prepareContext((context ?? {}) as SecureServerOptions);
}

/**
 * What a context made by createSecureContext or by node (or the native part
 * of either, as node's `context.context || context`) is built from;
 * undefined for anything else.
 */
function knownContextOptions(context: object): NativeTlsContextOptions | undefined {
  const inner = (context as { context?: unknown }).context;
  const ours = reactorContexts.get(context) ??
    (inner !== null && typeof inner === 'object' ? reactorContexts.get(inner) : undefined);
  if (ours !== undefined) return ours;
  const native = nodeNativeContextOf(context);
  return native === undefined ? undefined : nodeContextOptions(native);
}

/** node's addContext pattern: '*' stands for one label; letter case as the running node matches it. */
function servernamePattern(servername: string): RegExp {
  return new RegExp(`^${servername.replace(/([.^$+?\-\\[\]{}])/g, '\\$1').replaceAll('*', '[^.]*')}$`,
    addContextIgnoresCase() ? 'i' : '');
}

/** node's default SNICallback: the last context added whose name matches, else the server's own. */
function contextsByName(this: SecureSocket, servername: string,
  callback: (error: Error | null, context?: NativeTlsContextOptions) => void): void {
  const contexts = this.secureServer!.namedContexts;
  for (let i = contexts.length - 1; i >= 0; --i) {
    if (contexts[i][0].test(servername)) {
      callback(null, contexts[i][1]);
      return;
    }
  }
  callback(null, undefined);
}

// Native contexts chosen by SNI name are released when what they were built
// from is collected (or when their server closes): a callback that makes a
// context per handshake does not grow the reactor's.
interface NamedNativeContext { reactor: Reactor; id: number; live: Set<number> }
const namedContextRegistry = new FinalizationRegistry<NamedNativeContext>(({ reactor, id, live }) => {
  if (live.delete(id)) reactor.native.releaseTlsContext(id);
});

function netOptions(options: SecureServerOptions): ServerOptions {
  const { allowHalfOpen, highWaterMark, pauseOnConnect, noDelay, keepAlive, keepAliveInitialDelay } = options;
  return { allowHalfOpen, highWaterMark, pauseOnConnect, noDelay, keepAlive, keepAliveInitialDelay };
}

/**
 * A TLS server whose handshakes and records run on the reactor thread. It
 * behaves like `tls.Server`: 'secureConnection' with each connection once its
 * handshake is done, 'tlsClientError' for a client whose handshake failed,
 * and net.Server's listen(), close(), address().
 *
 * @example
 * ```ts
 * import { createSecureServer } from 'epoll-reactor';
 * const server = createSecureServer({ key, cert }, (socket) => socket.end('hello\n'));
 * server.listen(8443, '127.0.0.1');
 * ```
 */
export class SecureServer extends Server {
  /** Whether clients are asked for a certificate. */
  readonly requestCert: boolean;
  /** Whether a client whose certificate fails verification is dropped. */
  readonly rejectUnauthorized: boolean;
  private contextOptions: NativeTlsContextOptions;
  private readonly handshakeTimeout: number;
  // What stays through setSecureContext() unless given again, as tls.Server's
  // `sessionTimeout` and `ticketKeys` fields (not keys set with setTicketKeys()).
  private givenSessionTimeout: number | undefined;
  private givenTicketKeys: Buffer | undefined;
  private context: { reactor: Reactor; id: number } | undefined;
  private readonly sniCallback: SecureServerOptions['SNICallback'];
  private readonly alpnCallback: SecureServerOptions['ALPNCallback'];
  // As tls.Server's, which setSecureContext() may replace.
  private pskCallback: SecureServerOptions['pskCallback'];
  private pskIdentityHint: string | undefined;
  /** @internal addContext()'s names and contexts, searched from the last, as node's `_contexts`. */
  readonly namedContexts: [RegExp, NativeTlsContextOptions][] = [];
  // The native contexts built for SNI choices on this.context's reactor, by
  // what they were built from, and the ids still held.
  private nativeNamedContexts = new WeakMap<NativeTlsContextOptions, number>();
  private readonly liveNamedContexts = new Set<number>();

  constructor(secureConnectionListener?: (socket: SecureSocket) => void);
  constructor(options?: SecureServerOptions | null, secureConnectionListener?: (socket: SecureSocket) => void);
  constructor(optionsOrListener?: SecureServerOptions | null | ((socket: SecureSocket) => void),
    secureConnectionListener?: (socket: SecureSocket) => void) {
    // As tls.Server: the listener may come first, in place of the options.
    let options: SecureServerOptions;
    if (typeof optionsOrListener === 'function') {
      secureConnectionListener = optionsOrListener;
      options = {};
    } else if (optionsOrListener === undefined || optionsOrListener === null) {
      options = {};
    } else {
      validateObject(optionsOrListener, 'options');
      options = optionsOrListener;
    }
    // As tls.Server, which adds a listener only if one is given (truthy).
    if (secureConnectionListener) validateFunction(secureConnectionListener, 'listener');
    // As tls.Server: any falsy timeout (0 and NaN too) is the default; below 0, none.
    const handshakeTimeout = options.handshakeTimeout || DEFAULT_HANDSHAKE_TIMEOUT;
    if (typeof handshakeTimeout !== 'number') {
      throw invalidArgType('options.handshakeTimeout', 'of type number', options.handshakeTimeout);
    }
    // As tls.Server: any truthy SNICallback must be a function.
    const sniCallback = options.SNICallback;
    if (sniCallback) validateFunction(sniCallback, 'options.SNICallback');
    // node checks that it is a function only when a client offers ALPN (and
    // throws from its connection handler); here before anything is made.
    const alpnCallback = options.ALPNCallback;
    if (alpnCallback) {
      validateFunction(alpnCallback, 'options.ALPNCallback');
      if (options.ALPNProtocols) {
        throw codedTypeError('The ALPNCallback and ALPNProtocols TLS options are mutually exclusive',
          'ERR_TLS_ALPN_CALLBACK_WITH_PROTOCOLS');
      }
    }
    // As tls.Server: any truthy pskCallback must be a function, and a
    // truthy hint a string.
    const pskCallback = options.pskCallback;
    if (pskCallback) validateFunction(pskCallback, 'options.pskCallback');
    const pskIdentityHint = options.pskIdentityHint;
    if (pskIdentityHint) validateString(pskIdentityHint, 'options.pskIdentityHint');
    // As tls.Server, which makes its context with its cipher order preferred
    // unless told otherwise.
    // As tls.Server, which does not pass allowPartialTrustChain on to its context.
    const contextOptions = prepareContext({ ...options, honorCipherOrder: options.honorCipherOrder !== false,
      allowPartialTrustChain: undefined });
    // node checks it as each connection comes (and throws from its
    // connection handler); here before anything is made.
    const traces = traceOption(options.enableTrace);
    super(netOptions(options));
    this.contextOptions = contextOptions;
    this.givenSessionTimeout = (options.sessionTimeout as number | undefined) || undefined;
    this.givenTicketKeys = options.ticketKeys ? contextOptions.ticketKeys : undefined;
    this.traces = traces;
    this.handshakeTimeout = handshakeTimeout;
    this.requestCert = contextOptions.requestCert;
    this.rejectUnauthorized = contextOptions.rejectUnauthorized;
    this.context = undefined;
    this.sniCallback = (sniCallback || undefined) as SecureServerOptions['SNICallback'];
    this.alpnCallback = (alpnCallback || undefined) as SecureServerOptions['ALPNCallback'];
    this.pskCallback = (pskCallback || undefined) as SecureServerOptions['pskCallback'];
    this.pskIdentityHint = pskIdentityHint || undefined;
    if (secureConnectionListener) this.on('secureConnection', secureConnectionListener);
    this.givenOptions = { ...options };
    // First, as tls.Server's own connection listener: a stream handed in
    // with emit('connection', stream) gets node's TLS (onHandedStream).
    this.on('connection', this.onHandedStream);
    this.on('close', releaseContext);
    this.on('newListener', this.onNewListener);
    this.on('removeListener', this.onRemoveListener);
  }

  /** @internal */
  protected override tlsContextFor(reactor: Reactor): number {
    if (this.context !== undefined && this.context.reactor === reactor) return this.context.id;
    releaseContext.call(this);
    bindSessionsAsNodeDoes((bound, probed) => binding.tlsBindSessionsToServername?.(bound, probed));
    const result = reactor.native.createTlsContext(this.listenerContextOptions(this.contextOptions));
    if (result.length !== 1) {
      // node's createSecureContext accepted the same options, so this is rare
      // (out of memory); it fails the listen as a bind error would.
      process.nextTick(emitError, this, opensslError(result[0], result[1], result[2]));
      return -1;
    }
    this.context = { reactor, id: result[0] };
    return result[0];
  }

  /** What the native context connections are accepted with is built from: `options`, and what the server asks JS now. */
  private listenerContextOptions(options: NativeTlsContextOptions): NativeTlsContextOptions {
    return {
      ...options, asksServername: this.asksServername(), asksAlpn: this.alpnCallback !== undefined,
      asksOcsp: this.asksOcsp, asksSessions: this.asksSessions, logsKeys: this.logsKeys, traces: this.traces,
      asksPsk: this.pskCallback !== undefined,
      // One OpenSSL would refuse fails each connection instead (createSocket).
      pskIdentityHint: this.pskCallback !== undefined && this.pskHintFits() ? this.pskIdentityHint : undefined,
    };
  }

  /** The options the server was made with; setSecureContext()'s latest, for a node server made later. */
  private readonly givenOptions: SecureServerOptions;
  private latestContextOptions: SecureServerOptions | undefined;
  private readonly addedContexts: [string, tls.SecureContextOptions | tls.SecureContext][] = [];
  /**
   * node's own tls.Server, never listening, for streams handed in with
   * `emit('connection', stream)` (a net.Socket, a Duplex): their TLS runs
   * in JS as node's does, and their events are this server's. Made on
   * first use.
   */
  private nodeServer: tls.Server | undefined;

  private readonly onHandedStream = (stream: unknown): void => {
    if (stream instanceof SecureSocket && stream.secureServer === this) return;  // accepted here
    const nodeServer = this.nodeServer ?? (this.nodeServer = this.makeNodeServer());
    // node's TLSSocket asks its server for these listeners as it is made.
    for (const event of handedStreamCallbackEvents) {
      const wanted = this.listenerCount(event) > 0;
      if (wanted !== nodeServer.listenerCount(event) > 0) {
        if (wanted) nodeServer.on(event, (...args: unknown[]) => this.emit(event, ...args));
        else nodeServer.removeAllListeners(event);
      }
    }
    nodeServer.emit('connection', stream);
  };

  private makeNodeServer(): tls.Server {
    const server = new tls.Server({
      ...this.givenOptions,
      SNICallback: this.sniCallback, ALPNCallback: this.alpnCallback, handshakeTimeout: this.handshakeTimeout,
    } as tls.TlsOptions);
    if (this.latestContextOptions !== undefined) server.setSecureContext(this.latestContextOptions);
    server.setTicketKeys(this.getTicketKeys());
    for (const [servername, context] of this.addedContexts) server.addContext(servername, context);
    server.on('secureConnection', (socket: tls.TLSSocket) => this.emit('secureConnection', socket));
    server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => this.emit('tlsClientError', error, socket));
    return server;
  }

  /**
   * With `events.captureRejections`, a rejected async 'secureConnection'
   * listener destroys that socket with the error, as tls.Server does; other
   * events go as on a plain server.
   */
  override [EventEmitter.captureRejectionSymbol](error: Error, event: string, ...args: unknown[]): void {
    if (event === 'secureConnection') (args[0] as SecureSocket).destroy(error);
    else super[EventEmitter.captureRejectionSymbol](error, event, ...args);
  }

  /**
   * Replaces the server's key, certificates, CA, ciphers, versions and the
   * rest of its secure context for the connections accepted from now on, as
   * tls.Server's setSecureContext(): connections made before keep theirs.
   * As there, each option not given goes back to its default, except
   * `sessionTimeout` and `ticketKeys`, which stay as last given (keys not
   * given are new random ones); ALPN, requestCert, rejectUnauthorized and
   * the callbacks are the server's and stay. Bad options throw node's
   * errors and change nothing.
   */
  setSecureContext(options: SecureServerOptions): void {
    validateObject(options, 'options');
    const given = { ...options };  // each option read once
    // As tls.Server's setSecureContext: replaced only when given (truthy),
    // here once the new context is made.
    if (given.pskCallback) validateFunction(given.pskCallback, 'options.pskCallback');
    if (given.pskIdentityHint) validateString(given.pskIdentityHint, 'options.pskIdentityHint');
    const sessionTimeout = given.sessionTimeout || this.givenSessionTimeout;
    const ticketKeys = given.ticketKeys || this.givenTicketKeys;
    const contextOptions = prepareContext({
      // Falsy ones are none, as tls.Server's fields are set.
      pfx: given.pfx || undefined, key: given.key || undefined, passphrase: given.passphrase || undefined,
      cert: given.cert || undefined, ca: given.ca || undefined, minVersion: given.minVersion || undefined,
      maxVersion: given.maxVersion || undefined, secureProtocol: given.secureProtocol || undefined,
      crl: given.crl || undefined, ciphers: given.ciphers || undefined, dhparam: given.dhparam || undefined,
      sigalgs: given.sigalgs, ecdhCurve: given.ecdhCurve, secureOptions: given.secureOptions || undefined,
      honorCipherOrder: given.honorCipherOrder !== undefined ? !!given.honorCipherOrder : true,
      sessionIdContext: given.sessionIdContext, certificateCompression: given.certificateCompression,
      privateKeyEngine: given.privateKeyEngine, privateKeyIdentifier: given.privateKeyIdentifier,
      clientCertEngine: given.clientCertEngine,
      sessionTimeout, ticketKeys, requestCert: this.requestCert, rejectUnauthorized: this.rejectUnauthorized,
      // serveHttp follows an https.Server's, whose options node has checked.
      [checkedByNode]: (given as Record<symbol, unknown>)[checkedByNode],
    } as SecureServerOptions);
    contextOptions.alpn = this.contextOptions.alpn;
    const previousPsk = [this.pskCallback, this.pskIdentityHint] as const;
    this.pskCallback = (given.pskCallback || this.pskCallback) as SecureServerOptions['pskCallback'];
    this.pskIdentityHint = (given.pskIdentityHint || this.pskIdentityHint) as string | undefined;
    const listening = this.context;
    const listenerId = this.listeningId;
    let id: number | undefined;
    if (listening !== undefined && listenerId !== undefined) {
      const result = listening.reactor.native.createTlsContext(this.listenerContextOptions(contextOptions));
      if (result.length !== 1) {
        [this.pskCallback, this.pskIdentityHint] = previousPsk;
        throw opensslError(result[0], result[1], result[2]);
      }
      id = result[0];
    }
    this.contextOptions = contextOptions;
    this.givenSessionTimeout = (sessionTimeout as number | undefined) || undefined;
    this.givenTicketKeys = ticketKeys ? contextOptions.ticketKeys : undefined;
    this.latestContextOptions = given;
    if (this.nodeServer !== undefined) {
      this.nodeServer.setSecureContext(given as tls.SecureContextOptions);
      this.nodeServer.setTicketKeys(this.getTicketKeys());
    }
    if (id === undefined) {
      // Not listening: a context kept from an earlier listen() (one that
      // failed, or a close() still draining) is built again at the next.
      this.releaseTlsContext();
      return;
    }
    const native = listening!.reactor.native;
    native.tlsListenWith(listenerId!, id);
    listening!.reactor.scheduleFlush();
    // The listener holds the old context until the command reaches it, and
    // each connection the context it was accepted with, natively. One
    // accepted before the command arrives does not hear of a listener added
    // in this tick ('keylog', 'OCSPRequest'...): those go to the new context.
    native.releaseTlsContext(listening!.id);
    this.context = { reactor: listening!.reactor, id };
    // Contexts chosen by SNI name were built with the old ciphers and the rest.
    this.releaseNamedContexts();
  }

  /**
   * @internal As tls.Server's pauseOnConnect: the socket starts paused, but
   * its TLS layer reads on underneath (node's TLSWrap does, up to the
   * highWaterMark), so a peer's end is seen while paused, as there.
   */
  protected override get readsNothingUntilResumed(): boolean {
    return false;
  }

  /** @internal */
  protected override createSocket(options: SocketOptions): Socket {
    const socket = new SecureSocket({ ...options, pauseOnConnect: false }, this);
    if (options.pauseOnConnect === true) socket.pause();
    if (this.handshakeTimeout > 0) {
      socket.handshakeTimer = setTimeout(onHandshakeTimeout, this.handshakeTimeout, socket);
      socket.handshakeTimer.unref();
    }
    socket.pskCallback = this.pskCallback;
    if (this.pskCallback !== undefined && !this.pskHintFits()) {
      // As node's socket, which sets the hint on each connection and fails
      // it when OpenSSL refuses (longer than PSK_MAX_IDENTITY_LEN), before
      // it reads the ClientHello: no question is answered (answerPsk).
      socket.pskCallback = null;
      process.nextTick(failHandshake, socket,
        codedError('Failed to set PSK identity hint', pskHintErrorCode));
    }
    return socket;
  }

  /** Whether OpenSSL takes the PSK identity hint: at most 256 bytes (PSK_MAX_IDENTITY_LEN). */
  private pskHintFits(): boolean {
    return this.pskIdentityHint === undefined || Buffer.byteLength(this.pskIdentityHint) <= PSK_MAX_IDENTITY_LENGTH;
  }

  /**
   * @internal Asks the pskCallback for a key for each identity the client
   * offered (hex), in order, until one is given, as OpenSSL asks node's;
   * answers the reactor. A throw, or a value of another type, fails the
   * handshake with that error ('tlsClientError'), as node's server does.
   */
  answerPsk(socket: SecureSocket, identities: string[]): void {
    const callback = socket.pskCallback;
    // Failing for the server's hint (createSocket): that ends it.
    if (callback === null || socket.destroyed) return;
    let found = -1;
    let key: Buffer | undefined;
    try {
      for (let index = 0; callback !== undefined && index < identities.length && !socket.destroyed; ++index) {
        // As node hands OpenSSL's identity to JS: as UTF-8 (one that is not
        // was not asked about: TlsSession's IsUtf8).
        const identity = Buffer.from(identities[index], 'hex').toString('utf8');
        key = pskKeyOf(callback.call(socket, socket, identity));
        // As node's lookup: an empty key, or one over OpenSSL's bytes (a
        // wide TypedArray), is none, and the next identity is asked about.
        if (key !== undefined && key.length > 0 && key.length <= PSK_MAX_KEY_LENGTH) {
          found = index;
          break;
        }
        key = undefined;
      }
      if (!socket.destroyed) socket.answerPsk(found, key);
    } catch (error) {
      // A throw, or an answer the reactor refused: the wait must still end.
      failHandshake(socket, error as Error);
    }
  }

  /** @internal Whether connections report key log lines: the server has had a 'keylog' listener, or node runs with --tls-keylog. */
  private logsKeys = tlsKeylogFile() !== undefined;
  /** @internal Whether connections trace their records to stderr (enableTrace, --trace-tls). */
  private readonly traces: boolean;

  /** @internal Whether connections whose client asks for a staple ask JS: the server has 'OCSPRequest' listeners. */
  private asksOcsp = false;

  /**
   * @internal An external session cache: bit 1 while the server has
   * 'newSession' listeners, bit 2 'resumeSession' (NativeTlsContextOptions.asksSessions).
   */
  private asksSessions = 0;

  /**
   * @internal Its first 'keylog' listener turns the key log on, and its
   * first 'OCSPRequest' listener the question, for connections from then on;
   * 'newSession' and 'resumeSession' listeners the external session cache.
   */
  private onNewListener(event: string | symbol): void {
    if (event === 'keylog' && !this.logsKeys) {
      this.logsKeys = true;
      if (this.context !== undefined) this.context.reactor.native.tlsLogServerKeys(this.context.id);
    } else if (event === 'OCSPRequest' && !this.asksOcsp) {
      this.asksOcsp = true;
      if (this.context !== undefined) this.context.reactor.native.tlsAskOcsp(this.context.id, true);
    } else if (event === 'newSession' || event === 'resumeSession') {
      // 'newListener' comes before the listener is added: its bit is set here.
      this.setSessionCache(this.asksSessions | (event === 'newSession' ? ASKS_NEW_SESSION : ASKS_RESUME_SESSION));
    }
  }

  /** @internal Its last 'OCSPRequest' listener gone, connections from then on are not asked, as node decides at accept. */
  private onRemoveListener(event: string | symbol): void {
    if (event === 'newSession' || event === 'resumeSession') {
      this.updateSessionCache();
      return;
    }
    if (event !== 'OCSPRequest' || !this.asksOcsp || this.listenerCount('OCSPRequest') > 0) return;
    this.asksOcsp = false;
    if (this.context !== undefined) this.context.reactor.native.tlsAskOcsp(this.context.id, false);
  }

  /** The external session cache as the listeners are now. */
  private updateSessionCache(): void {
    this.setSessionCache((this.listenerCount('newSession') > 0 ? ASKS_NEW_SESSION : 0) |
      (this.listenerCount('resumeSession') > 0 ? ASKS_RESUME_SESSION : 0));
  }

  private setSessionCache(asks: number): void {
    if (asks === this.asksSessions) return;
    this.asksSessions = asks;
    if (this.context !== undefined) this.context.reactor.native.tlsAskSessions(this.context.id, asks);
  }

  /** Whether handshakes stop at a client's SNI name for a context to be chosen. */
  private asksServername(): boolean {
    return this.sniCallback !== undefined || this.namedContexts.length > 0;
  }

  /**
   * Adds a context for clients asking for `servername` by SNI, as
   * tls.Server's addContext(): `context` is options for
   * {@link createSecureContext} or a context it made; `*` in the name stands
   * for one label ('*.example.com'). The last match wins. Used when the
   * server has no SNICallback of its own.
   */
  addContext(servername: string, context: tls.SecureContextOptions | tls.SecureContext): void {
    if (!servername) {
      throw codedError('"servername" is required parameter for Server.addContext', 'ERR_TLS_REQUIRED_SERVER_NAME');
    }
    this.addNamedContext(servernamePattern(servername), contextOptionsOf(context));
    this.addedContexts.push([servername, context]);
    this.nodeServer?.addContext(servername, context);
  }

  /** @internal addContext() with node's pattern already made (an https.Server's `_contexts`, lib/http.ts). */
  addNamedContext(pattern: RegExp, options: NativeTlsContextOptions): void {
    // contextsByName answers with `options` itself.
    reactorContexts.set(options, options);
    this.namedContexts.push([pattern, options]);
    if (this.context !== undefined) this.context.reactor.native.tlsAskServernames(this.context.id);
  }

  /**
   * @internal Asks the SNICallback (or the added contexts) for `socket`'s
   * context when `servername` is given, then the 'OCSPRequest' listeners
   * for a staple when `ocspRequested`, and answers the reactor, as node's
   * oncertcb (loadSNI, then requestOCSP): an error, a throw or a context the
   * reactor cannot use fails the handshake with it ('tlsClientError'); a
   * second answer destroys the socket.
   */
  chooseContext(socket: SecureSocket, servername: string | undefined, ocspRequested: boolean): void {
    const answer = handshakeCallback<unknown>(socket, (context) => {
      let contextId: number;
      try {
        contextId = servername === undefined ? 0 : this.namedContextId(context);
      } catch (failure) {
        failHandshake(socket, failure as Error);
        return;
      }
      // Node 20's swap to a context without a certificate leaves OpenSSL's
      // error queued, and a handshake that then fails reports it.
      if (!contextsCheckedForCertificate && contextId === 0 && servername !== undefined && lacksCertificate(context)) {
        socket.handshakeFailureReport = opensslNullParameter;
      }
      if (!ocspRequested) {
        socket.answerServername(contextId);
        return;
      }
      this.requestOcsp(socket, contextId, (response) => {
        // A setSecureContext() while 'OCSPRequest' was asked let the chosen
        // context's native copy go: it is built again for the answer.
        let id = contextId;
        try {
          if (id !== 0 && !this.liveNamedContexts.has(id)) id = this.namedContextId(context);
        } catch (failure) {
          failHandshake(socket, failure as Error);
          return;
        }
        socket.answerServername(id, response);
      });
    });
    if (servername === undefined) {
      answer(null);
      return;
    }
    try {
      if (this.sniCallback !== undefined) this.sniCallback.call(socket, servername, answer);
      else contextsByName.call(socket, servername, answer);
    } catch (error) {
      failHandshake(socket, error as Error);
    }
  }

  /**
   * Emits 'OCSPRequest' (certificate, issuer, callback) for a client that
   * asked for a staple, as node's requestOCSP: the certificate and its
   * issuer (DER, null when none) are those of the context the handshake
   * goes on with (`contextId`, 0 for the server's own). `staple` gets the
   * response to send, undefined for none; an error fails the handshake, a
   * second call destroys the socket, and a response that is not a buffer
   * throws from the callback, leaving the handshake waiting, as in node.
   */
  private requestOcsp(socket: SecureSocket, contextId: number, staple: (response?: Buffer) => void): void {
    if (this.listenerCount('OCSPRequest') === 0 || this.context === undefined) {
      staple();
      return;
    }
    const [certificate, issuer] = this.context.reactor.native.tlsContextCertificates(contextId || this.context.id) ?? [];
    const callback = handshakeCallback<unknown>(socket, (response) => {
      if (response && !ArrayBuffer.isView(response)) {
        throw codedTypeError('OCSP response must be a buffer', 'ERR_INVALID_ARG_TYPE');
      }
      const view = response as ArrayBufferView | undefined;
      staple(view ? Buffer.from(view.buffer, view.byteOffset, view.byteLength) : undefined);
    });
    this.emit('OCSPRequest', certificate ?? null, issuer ?? null, callback);
  }

  /**
   * @internal Emits 'resumeSession' (id, callback) for a client that offered
   * a session id without a ticket, as node's loadSession: the callback's
   * session (a Buffer of DER) is resumed when OpenSSL accepts it, anything
   * else means a full handshake; an error fails the handshake with it
   * ('tlsClientError'), and a second call destroys the socket. With no
   * listener, a full handshake.
   */
  resumeSession(socket: SecureSocket, id: Buffer): void {
    const answer = handshakeCallback<unknown>(socket, (session) => {
      const view = ArrayBuffer.isView(session) ? session : undefined;
      socket.answerResumeSession(view ? Buffer.from(view.buffer, view.byteOffset, view.byteLength) : undefined);
    });
    if (!this.emit('resumeSession', id, answer)) answer(null);
  }

  /**
   * @internal Emits 'newSession' (id, session, callback) for a session the
   * handshake made, as node's onnewsession: what the connection sends from
   * the handshake's last flight on, and a TLS 1.2 handshake's end
   * ('secureConnection'), wait for the first call of the callback; later
   * calls do nothing. With no listener, nothing waits.
   */
  newSession(socket: SecureSocket, id: Buffer, session: Buffer): void {
    let called = false;
    const done = (): void => {
      if (called) return;
      called = true;
      socket.newSessionDone();
    };
    socket.newSessionPending = true;
    if (!this.emit('newSession', id, session, done)) done();
  }

  /**
   * @internal Asks the ALPNCallback for `socket`'s protocol among the names
   * the client offered (`offered`: wire format, in hex) and answers the
   * reactor, as node's callALPNCallback: undefined refuses them all (OpenSSL
   * then sends no_application_protocol); a throw, or a name the client did
   * not offer, fails the handshake with that error ('tlsClientError').
   */
  chooseAlpn(socket: SecureSocket, servername: string | false, offered: string): void {
    const wire = Buffer.from(offered, 'hex');
    const protocols: string[] = [];
    for (let at = 0; at < wire.length; at += 1 + wire[at]) {
      protocols.push(wire.toString('ascii', at + 1, at + 1 + wire[at]));
    }
    let chosen: unknown;
    let keyCert = 0;
    socket.keyCertContext = undefined;
    socket.choosingAlpn = true;
    try {
      // node's type says string; node passes false when no SNI name was sent.
      chosen = this.alpnCallback!.call(socket, { servername: servername as string, protocols });
      // Looked up after the callback: a setSecureContext() in it released
      // the native contexts made for names, and this makes it again.
      if (socket.keyCertContext !== undefined) keyCert = this.namedContextId(socket.keyCertContext);
    } catch (error) {
      failHandshake(socket, error as Error);
      return;
    } finally {
      socket.choosingAlpn = false;
      socket.keyCertContext = undefined;
    }
    const index = chosen === undefined ? -1 : protocols.indexOf(chosen as string);
    if (chosen !== undefined && index === -1) {
      failHandshake(socket, codedTypeError(`ALPN callback returned a value (${String(chosen)}) that did not match ` +
        `any of the client's offered protocols (${protocols.join(', ')})`, 'ERR_TLS_ALPN_CALLBACK_INVALID_RESULT'));
      return;
    }
    try {
      socket.answerAlpn(index, keyCert);
    } catch (error) {
      // An answer the reactor refused (a context it no longer has) must
      // still end the wait: the handshake fails with why.
      failHandshake(socket, error as Error);
    }
  }

  /**
   * The native context for what an SNI choice gave, as node reads it: no
   * context (or a primitive) is the server's own (0); an object must be a
   * context (node's TypeError 'Invalid SNI context' otherwise): one from
   * createSecureContext or from node, or what addContext kept.
   * @internal
   */
  namedContextId(given: unknown): number {
    if (!given || (typeof given !== 'object' && typeof given !== 'function')) return 0;
    // As node's `context.context || context`: a wrapper of a context's native part counts as it.
    const options = knownContextOptions(given as object);
    if (options === undefined) throw new TypeError('Invalid SNI context');
    const context = this.context;
    if (context === undefined) throw codedError('Socket is closed', 'ERR_SOCKET_CLOSED');
    const cached = this.nativeNamedContexts.get(options);
    if (cached !== undefined) return cached;
    // One without a certificate leaves the server's own in force, as node's
    // server does (its swap fails before it changes anything, and goes on);
    // remembered, so node's context is not asked for its certificate again.
    if (!hasCertificate(options)) {
      this.nativeNamedContexts.set(options, 0);
      return 0;
    }
    // As node's server takes an SNI choice (UseSNIContext): the chosen
    // context gives the certificate with its key and chain, the trust store
    // and the CA names asked of clients; the rest stays the server's own
    // (ciphers, sigalgs, dhparam, ALPN, verify mode, session scope...).
    // Tickets are the accepting context's (tls_context.cc).
    const result = context.reactor.native.createTlsContext({
      ...this.contextOptions, keys: options.keys, certs: options.certs, pfx: options.pfx, crls: options.crls,
      ca: options.defaultCa && this.requestCert ? defaultCertificates() : options.ca, partialChain: options.partialChain,
      asksServername: false, asksAlpn: false, asksOcsp: false, asksSessions: 0, logsKeys: false, traces: false,
      ticketKeys: undefined,
      // A context node made is read natively, in this call, from the SecureContext `options` holds.
      nodeContext: options.nodeContext === undefined ? undefined : nodeSslContext(options.nodeContext),
    });
    if (result.length !== 1) throw opensslError(result[0], result[1], result[2]);
    const id = result[0];
    this.nativeNamedContexts.set(options, id);
    this.liveNamedContexts.add(id);
    namedContextRegistry.register(options, { reactor: context.reactor, id, live: this.liveNamedContexts },
      this.liveNamedContexts);
    return id;
  }

  /**
   * The 48 bytes of session ticket keys (a copy): the `ticketKeys` option's,
   * or the random ones made for this server, as tls.Server's getTicketKeys().
   */
  getTicketKeys(): Buffer {
    return Buffer.from(this.contextOptions.ticketKeys!);
  }

  /**
   * Replaces the session ticket keys, as tls.Server's setTicketKeys(): tickets
   * issued from now on use them, and tickets under the old keys no longer
   * resume (those clients make a full handshake).
   */
  setTicketKeys(keys: ArrayBufferView): void {
    checkTicketKeys(keys);
    const copy = copyOfView(keys);
    this.contextOptions.ticketKeys = copy;
    if (this.context !== undefined) this.context.reactor.native.setTlsTicketKeys(this.context.id, copy);
    this.nodeServer?.setTicketKeys(copy);
  }

  /** @internal */
  releaseTlsContext(): void {
    if (this.context === undefined) return;
    this.context.reactor.native.releaseTlsContext(this.context.id);
    this.releaseNamedContexts();
    this.context = undefined;
  }

  /** Lets go of the native contexts built for SNI choices; connections still handshaking hold theirs natively. */
  private releaseNamedContexts(): void {
    const native = this.context!.reactor.native;
    for (const id of this.liveNamedContexts) native.releaseTlsContext(id);
    this.liveNamedContexts.clear();
    namedContextRegistry.unregister(this.liveNamedContexts);
    this.nativeNamedContexts = new WeakMap();
  }
}

let ticketKeysChecker: tls.Server | undefined;

/** Throws what tls.Server's setTicketKeys() throws for `keys` on this node (its type and size checks). */
function checkTicketKeys(keys: unknown): void {
  ticketKeysChecker ??= tls.createServer({});
  ticketKeysChecker.setTicketKeys(keys as Buffer);
}

function releaseContext(this: SecureServer): void {
  // A close() then listen() in one tick: 'close' comes after the new
  // listen, whose listener uses the same context.
  if (this.listening) return;
  this.releaseTlsContext();
}

function emitError(server: SecureServer, error: Error): void {
  server.emit('error', error);
}

/**
 * Creates a TLS server, as `tls.createServer` does, whose handshakes and
 * records run on the reactor thread. Where reactor TLS is not available
 * ({@link tlsAvailable} false), returns `tls.createServer(options, listener)`.
 *
 * @param options - node:tls server options: key, cert, ca, passphrase,
 *   ciphers, minVersion, maxVersion, ALPNProtocols, requestCert,
 *   rejectUnauthorized, handshakeTimeout, ecdhCurve, sigalgs, secureOptions,
 *   secureProtocol, crl, dhparam, pfx, SNICallback, sessionTimeout,
 *   ticketKeys; and net's allowHalfOpen,
 *   pauseOnConnect, noDelay, keepAlive, highWaterMark. Or, as with
 *   tls.createServer, the listener in their place.
 * @param secureConnectionListener - Added as a 'secureConnection' listener.
 *
 * @example
 * ```ts
 * import * as fs from 'node:fs';
 * import { createSecureServer } from 'epoll-reactor';
 *
 * const server = createSecureServer({ key: fs.readFileSync('key.pem'), cert: fs.readFileSync('cert.pem') },
 *   (socket) => socket.pipe(socket));
 * server.listen(8443, '127.0.0.1');
 * ```
 */
export function createSecureServer(options?: SecureServerOptions | null | ((socket: SecureSocket) => void),
  secureConnectionListener?: (socket: SecureSocket) => void): SecureServer {
  if (!tlsAvailable) {
    return tls.createServer(options as tls.TlsOptions,
      secureConnectionListener as unknown as (socket: tls.TLSSocket) => void) as unknown as SecureServer;
  }
  return new SecureServer(options as SecureServerOptions, secureConnectionListener);
}

/**
 * The options reactor TLS needs to serve `server`'s TLS itself, read from the
 * fields node's tls.Server keeps (setSecureContext stores key, cert, ca,
 * ciphers...; handshakeTimeout and SNICallback sit under symbols), or
 * undefined when the server uses something serveHttp leaves to node:tls:
 * PSK (createSecureServer has it), engines, a client's secureProtocol method.
 */
export function secureOptionsOf(server: tls.Server): SecureServerOptions | undefined {
  const fields = server as unknown as Record<string | symbol, unknown>;
  if (namedContextsOf(server) === undefined) return undefined;
  const symbols = Object.getOwnPropertySymbols(server);
  const bySymbol = (description: string): unknown => {
    const symbol = symbols.find((candidate) => candidate.description === description);
    return symbol === undefined ? undefined : fields[symbol];
  };
  // What createSecureServer refuses, whether tls.Server keeps it as a field
  // (ALPNCallback, the engines) or under a symbol ('pskcallback', 'enableTrace').
  for (const name of [...unsupportedOptions, ...leftToNodeByServeHttp]) {
    const value = fields[name] ?? bySymbol(name) ?? bySymbol(name.toLowerCase());
    if (value !== undefined && value !== null && value !== false) return undefined;
  }
  // tls.Server keeps enableTrace unchecked (each connection checks it): one
  // that is not a boolean is node:tls's to report.
  const enableTrace = bySymbol('enableTrace');
  if (enableTrace !== undefined && enableTrace !== null && typeof enableTrace !== 'boolean') return undefined;
  if (fields.secureProtocol && methodParts(String(fields.secureProtocol), false) === null) return undefined;
  const handshakeTimeout = bySymbol('handshake-timeout');
  const options: SecureServerOptions = {
    key: fields.key as SecureServerOptions['key'],
    cert: fields.cert as SecureServerOptions['cert'],
    ca: fields.ca as SecureServerOptions['ca'],
    pfx: fields.pfx as SecureServerOptions['pfx'],
    passphrase: fields.passphrase as string | undefined,
    ciphers: fields.ciphers as string | undefined,
    minVersion: fields.minVersion as tls.SecureVersion | undefined,
    maxVersion: fields.maxVersion as tls.SecureVersion | undefined,
    crl: fields.crl as SecureServerOptions['crl'],
    ecdhCurve: fields.ecdhCurve as string | undefined,
    sigalgs: fields.sigalgs as string | undefined,
    secureOptions: fields.secureOptions as number | undefined,
    secureProtocol: fields.secureProtocol as string | undefined,
    dhparam: fields.dhparam as SecureServerOptions['dhparam'],
    certificateCompression: fields.certificateCompression as SecureServerOptions['certificateCompression'],
    ALPNProtocols: fields.ALPNProtocols as Uint8Array | undefined,
    ALPNCallback: fields.ALPNCallback as SecureServerOptions['ALPNCallback'],
    requestCert: fields.requestCert === true,
    rejectUnauthorized: fields.rejectUnauthorized !== false,
    honorCipherOrder: fields.honorCipherOrder !== false,
    handshakeTimeout: typeof handshakeTimeout === 'number' ? handshakeTimeout : undefined,
    sessionTimeout: typeof fields.sessionTimeout === 'number' ? fields.sessionTimeout : undefined,
    sessionIdContext: typeof fields.sessionIdContext === 'string' ? fields.sessionIdContext : undefined,
    enableTrace: enableTrace as boolean | undefined,
    // Called with the reactor's socket as `this`, as node calls it with its TLSSocket.
    SNICallback: bySymbol('snicallback') as SecureServerOptions['SNICallback'],
    // The server's own keys, given or random: sessions resume across both listeners.
    ticketKeys: server.getTicketKeys(),
  };
  for (const key of Object.keys(options) as (keyof SecureServerOptions)[]) {
    if (options[key] === undefined || options[key] === null) delete options[key];
  }
  (options as Record<symbol, unknown>)[checkedByNode] = true;
  return options;
}
