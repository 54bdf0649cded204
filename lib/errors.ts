// Errors shaped like Node's own: a `code` on every error, and on system errors
// `errno` (negative, as libuv reports it), `syscall`, `address` and `port`.
import * as util from 'node:util';

/** An error carrying one of Node's `ERR_*` codes. */
export interface NodeStyleError extends Error {
  code: string;
}

/** A failed system call, as Node's `net` module reports one. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

function withCode<E extends Error>(error: E, code: string): E & { code: string } {
  Object.defineProperty(error, 'code', {
    value: code,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  // Node shows the code in the name part of the stack: "TypeError [ERR_X]: ...".
  error.stack = error.stack?.replace(/^(\w+)/, `$1 [${code}]`);
  return error as E & { code: string };
}

function describe(value: unknown): string {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? ` Received an instance of ${name}` : ` Received ${util.inspect(value, { depth: -1 })}`;
  }
  let shown = util.inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): NodeStyleError {
  const what = name.includes('.') ? 'property' : 'argument';
  return withCode(
    new TypeError(`The "${name}" ${what} must be ${expected}.${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): NodeStyleError {
  const what = name.includes('.') ? 'property' : 'argument';
  // As node's: what is shown is cut after 128 characters.
  let shown = util.inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return withCode(
    new TypeError(`The ${what} '${name}' ${reason}. Received ${shown}`),
    'ERR_INVALID_ARG_VALUE',
  );
}

// As Node's ERR_OUT_OF_RANGE shows a large integer: 4_294_967_297.
function withNumericalSeparators(digits: string): string {
  let grouped = '';
  let i = digits.length;
  const start = digits[0] === '-' ? 1 : 0;
  for (; i >= start + 4; i -= 3) grouped = `_${digits.slice(i - 3, i)}${grouped}`;
  return `${digits.slice(0, i)}${grouped}`;
}

export function outOfRange(name: string, range: string, actual: unknown): NodeStyleError {
  const received = Number.isInteger(actual) && Math.abs(actual as number) > 2 ** 32
    ? withNumericalSeparators(String(actual)) : util.inspect(actual);
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${received}`),
    'ERR_OUT_OF_RANGE',
  );
}

export function badPort(name: string, port: unknown, allowZero = true): NodeStyleError {
  const operator = allowZero ? '>=' : '>';
  return withCode(
    new RangeError(`${name} should be ${operator} 0 and < 65536. Received ${describe(port).replace(/^ Received /, '')}.`),
    'ERR_SOCKET_BAD_PORT',
  );
}

export function serverAlreadyListening(): NodeStyleError {
  return withCode(new Error('Listen method has been called more than once without closing.'), 'ERR_SERVER_ALREADY_LISTEN');
}

export function serverNotRunning(): NodeStyleError {
  return withCode(new Error('Server is not running.'), 'ERR_SERVER_NOT_RUNNING');
}

export function invalidHandleType(): NodeStyleError {
  return withCode(new TypeError('This handle type cannot be sent'), 'ERR_INVALID_HANDLE_TYPE');
}

export function ipBlocked(address: string): NodeStyleError {
  return withCode(new Error(`IP(${address}) is blocked by net.BlockList`), 'ERR_IP_BLOCKED');
}

export function invalidFdType(type: string): NodeStyleError {
  return withCode(new TypeError(`Unsupported fd type: ${type}`), 'ERR_INVALID_FD_TYPE');
}

export function missingArgs(names: string[]): NodeStyleError {
  const quoted = names.map((name) => `"${name}"`);
  return withCode(new TypeError(`The ${quoted.join(' or ')} argument must be specified`), 'ERR_MISSING_ARGS');
}

export function socketClosed(): NodeStyleError {
  return withCode(new Error('Socket is closed'), 'ERR_SOCKET_CLOSED');
}

export function socketClosedBeforeConnection(): NodeStyleError {
  return withCode(new Error('Socket closed before the connection was established'),
    'ERR_SOCKET_CLOSED_BEFORE_CONNECTION');
}

export function streamDestroyed(method: string): NodeStyleError {
  return withCode(new Error(`Cannot call ${method} after a stream was destroyed`), 'ERR_STREAM_DESTROYED');
}

/**
 * Builds the error Node's net module would build for a failed system call.
 * `errno` is negative, as libuv's codes are.
 */
export function systemError(errno: number, syscall: string, address?: string, port?: number,
  describe = false): SystemError {
  const code = util.getSystemErrorName(errno);
  let message = `${syscall} ${code}`;
  if (describe) {
    // As Node's uvExceptionWithHostPort (listen errors): spell out the code.
    const description = util.getSystemErrorMap().get(errno)?.[1];
    if (description) message += `: ${description}`;
  }
  if (address !== undefined) {
    message += port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`;
  }
  const error = new Error(message) as SystemError;
  error.errno = errno;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) error.address = address;
  if (port !== undefined && port > 0) error.port = port;
  return error;
}

export function invalidState(message: string): NodeStyleError {
  return withCode(new Error(`Invalid state: ${message}`), 'ERR_INVALID_STATE');
}

export function invalidIpAddress(address: unknown): NodeStyleError {
  // Node's message is a %s format: objects shown as util.inspect shows them.
  return withCode(new TypeError(util.format('Invalid IP address: %s', address)), 'ERR_INVALID_IP_ADDRESS');
}

export function invalidAddressFamily(family: unknown, options: { host?: unknown; port?: unknown }): NodeStyleError {
  const error = withCode(
    new RangeError(`Invalid address family: ${String(family)} ${String(options.host)}:${String(options.port)}`),
    'ERR_INVALID_ADDRESS_FAMILY',
  );
  return Object.assign(error, { host: options.host, port: options.port });
}

/** An error with one of Node's codes that has no builder of its own here (lib/tls.ts's). */
export function codedError(message: string, code: string): NodeStyleError {
  return withCode(new Error(message), code);
}

/** As codedError, for the codes Node raises as a TypeError. */
export function codedTypeError(message: string, code: string): NodeStyleError {
  return withCode(new TypeError(message), code);
}

// OpenSSL's library names (ERR_lib_error_string) and the prefix node puts
// before the upper-cased reason in an OpenSSL error's `code`
// (src/crypto/crypto_util.cc): ERR_SSL_* for libssl, ERR_OSSL_<LIB>_* else.
const opensslCodePrefixes: Record<string, string> = {
  'SSL routines': 'ERR_SSL_',
  'PEM routines': 'ERR_OSSL_PEM_',
  'digital envelope routines': 'ERR_OSSL_EVP_',
  'x509 certificate routines': 'ERR_OSSL_X509_',
  'asn1 encoding routines': 'ERR_OSSL_ASN1_',
  'BIO routines': 'ERR_OSSL_BIO_',
  'rsa routines': 'ERR_OSSL_RSA_',
  'elliptic curve routines': 'ERR_OSSL_EC_',
  'system library': 'ERR_OSSL_SYS_',
  'DECODER routines': 'ERR_OSSL_OSSL_DECODER_',
  'Provider routines': 'ERR_OSSL_PROV_',
};

/**
 * An OpenSSL failure as node reports one: OpenSSL's text as the message and
 * `library`, `reason` and `code` (`ERR_SSL_HTTP_REQUEST` for "http request"
 * in "SSL routines"). As node makes the code, only spaces become '_':
 * OpenSSL 3.5's "ssl/tls alert handshake failure" is
 * ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE.
 */
export function opensslError(message: string, library: string, reason: string): NodeStyleError {
  return withOpensslFields(message, library, reason, opensslCodePrefixes[library] ?? 'ERR_OSSL_');
}

/**
 * OpenSSL's failure of a TLS read, write or handshake, as node's TLSWrap
 * reports one (GetSSLError): the first error queued, and its code
 * `ERR_SSL_` + the reason whatever the library. A record that fails to
 * decrypt queues the provider's error first: ERR_SSL_CIPHER_OPERATION_FAILED,
 * library 'Provider routines'.
 */
export function tlsStreamError(message: string, library: string, reason: string): NodeStyleError {
  return withOpensslFields(message, library, reason, 'ERR_SSL_');
}

function withOpensslFields(message: string, library: string, reason: string, prefix: string): NodeStyleError {
  const code = `${prefix}${reason.toUpperCase().replace(/ /g, '_')}`;
  const error = withCode(new Error(message), code);
  if (library !== '') (error as NodeStyleError & { library: string }).library = library;
  (error as NodeStyleError & { reason: string }).reason = reason;
  return error;
}
