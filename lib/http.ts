// Serving an existing http.Server or https.Server (and so Express, Fastify,
// Koa) from reactor connections: the reactor accepts, and each connection is
// handed to the HTTP server as if its own listener had accepted it.
import type * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { binding } from './binding';
import { invalidArgType } from './errors';
import { validateObject } from './validate';

import { ListenOptions, Server, ServerOptions } from './server';
import type { Socket } from './socket';
import { contextOptionsOf, namedContextsOf, SecureServer, SecureSocket, secureOptionsOf, tlsAvailable } from './tls';

/** Options for {@link serveHttp}: where to listen, and reactor server options. */
export interface ServeHttpOptions extends ListenOptions, ServerOptions {}

/**
 * Serves `httpServer` from epoll-reactor connections. Every accepted socket is
 * given to the HTTP server's own 'connection' handling, so keep-alive,
 * pipelining, request bodies, chunked responses, timeouts and 'upgrade' all
 * work as usual; an upgraded socket (a WebSocket, say) stays on the reactor.
 * An `https.Server` gets reactor TLS: the handshake and records run on the
 * reactor thread, from the server's own key, cert, ca, ciphers, versions,
 * ALPN and requestCert options, and the https.Server is handed plaintext
 * sockets that have TLSSocket's surface (docs/tls.md). Its SNICallback is
 * asked, and contexts added with addContext() before or after this call are
 * served by name, whether node or this package made them, and its
 * setSecureContext() replaces the reactor's context too.
 * 'keylog', 'OCSPRequest', 'newSession' and 'resumeSession' are emitted on
 * the https.Server, as node:tls emits them.
 *
 * Where the reactor would make the server slower, the server keeps its own
 * listener: this call sets the connection options on it and makes it
 * listen, and returns the server itself. That is an https.Server reactor
 * TLS cannot serve (PSK, engines, or no OpenSSL in this node) and any
 * http2 server, cleartext or secure: node:tls and http2 wrap any socket that is not their own libuv
 * stream in a JS stream, which measured about 0.7× their own listeners
 * (docs/benchmarks.md). So it is off Linux, where there is no reactor.
 *
 * Otherwise the returned reactor server is the HTTP server's listener: the
 * HTTP server's `listening`, `address()`, `close([callback])` ('close' and
 * the callback once its connections have ended, as node's), `ref()`,
 * `unref()`, `getConnections()`, `maxConnections` and 'drop' behave as if it
 * listened itself, and closing either server closes both;
 * `closeIdleConnections()` and `closeAllConnections()` work on its
 * connections as usual. Each connection gets the HTTP server's own
 * connection options (node:http's `allowHalfOpen`, which 'upgrade' and
 * 'connect' handlers and `httpAllowHalfOpen` rely on, TCP_NODELAY,
 * `keepAlive`…) unless this call's options say otherwise.
 *
 * @returns The reactor server, already listening (or about to: wait for
 *   'listening'), or the server itself where it keeps its own listener.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import * as http from 'node:http';
 * import { serveHttp } from 'epoll-reactor';
 *
 * const app = express();
 * app.get('/', (req, res) => res.send('hello from the reactor'));
 * const server = serveHttp(http.createServer(app), { port: 3000, host: '127.0.0.1' });
 * server.on('listening', () => console.log('listening on', server.address()));
 * ```
 */
/**
 * The https.Server's setTicketKeys() (key rotation) also reaches the reactor's
 * TLS context, which now issues and opens the tickets. node's method runs
 * first, so bad keys throw its errors before either server changes.
 */
function followTicketKeys(httpsServer: https.Server, secure: SecureServer): void {
  const own = httpsServer.setTicketKeys;
  httpsServer.setTicketKeys = function setTicketKeys(this: https.Server, keys: Buffer): void {
    own.call(this, keys);
    secure.setTicketKeys(keys);
  };
}

/**
 * The https.Server's setSecureContext() (a certificate renewed, say) reaches
 * the reactor's server too, which accepts with the new context from then
 * on. node's method runs first, so bad options throw its errors before
 * either server changes; the reactor's takes what node's server now holds
 * (its new ticket keys among them, so both listeners issue the same).
 */
function followSecureContext(httpsServer: https.Server, secure: SecureServer): void {
  const own = httpsServer.setSecureContext;
  httpsServer.setSecureContext = function setSecureContext(this: https.Server, options: tls.SecureContextOptions): void {
    own.call(this, options);
    // Node's server has the new context now, so a failure here only warns:
    // what reactor TLS cannot take (an engine key), or cannot build.
    try {
      const now = secureOptionsOf(this);
      if (now === undefined) throw new Error('an option reactor TLS does not implement');
      secure.setSecureContext(now);
    } catch (error) {
      process.emitWarning(`epoll-reactor: reactor TLS cannot take the https.Server's new secure context ` +
        `(${(error as Error).message}); its listener keeps the previous one (docs/tls.md)`, 'Warning');
    }
  };
}

/**
 * The https.Server's addContext() (before and after serveHttp) reaches the
 * reactor's server too, with node's own pattern for the name.
 */
function followAddedContexts(httpsServer: https.Server, secure: SecureServer): void {
  for (const [pattern, options] of namedContextsOf(httpsServer) ?? []) secure.addNamedContext(pattern, options);
  const own = httpsServer.addContext;
  httpsServer.addContext = function addContext(this: https.Server, servername: string, context: unknown): void {
    // node's check of the name first, then the context is read, then both record it.
    if (!servername) own.call(this, servername, context as never);
    const options = contextOptionsOf(context);
    own.call(this, servername, context as never);
    const added = (this as unknown as { _contexts: [RegExp, unknown][] })._contexts;
    secure.addNamedContext(added[added.length - 1][0], options);
  };
}

/**
 * What a SecureServer event's callback is given when the https.Server has
 * lost its last listener for it, as node:tls does with none: no staple, no
 * session to resume, nothing to wait for.
 */
const answerWithoutListeners: Partial<Record<string, (args: unknown[]) => void>> = {
  OCSPRequest: (args) => (args[2] as (error: null) => void)(null),
  resumeSession: (args) => (args[1] as (error: null) => void)(null),
  newSession: (args) => (args[2] as () => void)(),
};

/**
 * The https.Server's listeners for `event` ('keylog', 'OCSPRequest',
 * 'newSession', 'resumeSession'), before and after serveHttp, hear the
 * reactor's server's, as node:tls emits them. The reactor's server asks
 * for them (key log lines, staples, sessions) only once someone listens.
 */
function followEvent(httpsServer: https.Server, secure: SecureServer,
  event: 'keylog' | 'OCSPRequest' | 'newSession' | 'resumeSession'): void {
  const bridge = (...args: unknown[]): void => {
    if (httpsServer.listenerCount(event) === 0) {
      answerWithoutListeners[event]?.(args);
      return;
    }
    httpsServer.emit(event, ...args);
  };
  let following = false;
  const follow = (): void => {
    if (following) return;
    following = true;
    secure.on(event, bridge);
  };
  if (httpsServer.listenerCount(event) > 0) follow();
  httpsServer.on('newListener', (added: string | symbol) => {
    if (added === event) follow();
  });
  // Its last listener gone, the reactor's server stops asking too (a
  // paused handshake per session lookup, a staple question), as node:tls
  // asks only while someone listens.
  httpsServer.on('removeListener', (removed: string | symbol) => {
    if (removed !== event || !following || httpsServer.listenerCount(event) > 0) return;
    following = false;
    secure.off(event, bridge);
  });
}

/** The class of node's cleartext http2 servers (not exported by node:http2), once asked for. */
let h2cServerClass: (new () => net.Server) | undefined;

function isH2cServer(server: net.Server): boolean {
  h2cServerClass ??= Object.getPrototypeOf(http2.createServer()).constructor as new () => net.Server;
  return server instanceof h2cServerClass;
}

/**
 * Where the reactor would make `httpServer` slower than its own listener, or
 * cannot run: node's http2 (cleartext or secure) and node:tls wrap any
 * socket that is not their own libuv stream in a JS Duplex
 * (JSStreamSocket), which costs more than the reactor saves
 * (docs/benchmarks.md: h2c 0.73×, an https.Server through node:tls about
 * 0.7× their own listeners), so a tls.Server that reactor TLS cannot serve
 * and an http2 server keep their own listener.
 */
function servesItself(httpServer: net.Server, reactorTls: boolean): boolean {
  if (!binding.available) return true;
  if (httpServer instanceof tls.Server) return !reactorTls;
  return isH2cServer(httpServer);
}

export function serveHttp(httpServer: http.Server, options: ServeHttpOptions = {}): Server {
  // net.Server covers http.Server and https.Server (a tls.Server).
  if (!(httpServer instanceof net.Server) || typeof (httpServer as { emit?: unknown }).emit !== 'function') {
    throw invalidArgType('httpServer', 'an instance of http.Server or https.Server', httpServer);
  }
  validateObject(options as unknown, 'options');
  const { allowHalfOpen, blockList, highWaterMark, pauseOnConnect, noDelay, keepAlive, keepAliveInitialDelay, ...listen } =
    options;
  // Unless given here, each connection is what the HTTP server's own
  // listener would accept: node:http makes its net.Server with
  // allowHalfOpen (it ends the socket itself, unless httpAllowHalfOpen, or
  // hands it to 'upgrade'/'connect' still open), noDelay, and its
  // keepAlive options (net keeps keepAliveInitialDelay in seconds).
  const own = httpServer as unknown as Partial<Record<
    'allowHalfOpen' | 'highWaterMark' | 'pauseOnConnect' | 'noDelay' | 'keepAlive' | 'keepAliveInitialDelay', unknown>>;
  const ownKeepAliveDelay = typeof own.keepAliveInitialDelay === 'number' ? own.keepAliveInitialDelay * 1000 : undefined;
  const netOptions = {
    allowHalfOpen: allowHalfOpen ?? (typeof own.allowHalfOpen === 'boolean' ? own.allowHalfOpen : undefined),
    blockList,
    highWaterMark: highWaterMark ?? (typeof own.highWaterMark === 'number' ? own.highWaterMark : undefined),
    pauseOnConnect: pauseOnConnect ?? (typeof own.pauseOnConnect === 'boolean' ? own.pauseOnConnect : undefined),
    noDelay: noDelay ?? (typeof own.noDelay === 'boolean' ? own.noDelay : true),
    keepAlive: keepAlive ?? (typeof own.keepAlive === 'boolean' ? own.keepAlive : undefined),
    keepAliveInitialDelay: keepAliveInitialDelay ?? ownKeepAliveDelay,
  };
  // Only https.Server: an http2 secure server is a tls.Server too, but is
  // left to its own listener (not tested over reactor TLS).
  const secure = tlsAvailable && binding.available && httpServer instanceof https.Server
    ? secureOptionsOf(httpServer) : undefined;
  if (servesItself(httpServer, secure !== undefined)) return listenOnItsOwn(httpServer, netOptions, listen);
  const server = secure !== undefined ? new SecureServer({ ...secure, ...netOptions }) : new Server(netOptions);
  // listen() validates its options and throws before it binds anything; only
  // then is httpServer touched, so a call that throws leaves it as it was.
  server.listen(listen);
  if (secure !== undefined) {
    // What node:tls would emit on the https.Server once its own TLSSocket is
    // secure; its 'connection' handler would wrap the socket in TLS again.
    server.on('secureConnection', (socket: SecureSocket) => httpServer.emit('secureConnection', socket));
    followTicketKeys(httpServer as https.Server, server as SecureServer);
    followSecureContext(httpServer as https.Server, server as SecureServer);
    followAddedContexts(httpServer as https.Server, server as SecureServer);
    followEvent(httpServer as https.Server, server as SecureServer, 'keylog');
    followEvent(httpServer as https.Server, server as SecureServer, 'OCSPRequest');
    followEvent(httpServer as https.Server, server as SecureServer, 'newSession');
    followEvent(httpServer as https.Server, server as SecureServer, 'resumeSession');
    server.on('tlsClientError', (error: Error, socket: SecureSocket) => httpServer.emit('tlsClientError', error, socket));
    server.on('connection', (socket: SecureSocket) => emitPastNodeTls(httpServer, socket));
  } else {
    server.on('connection', (socket: Socket) => httpServer.emit('connection', socket));
  }
  server.on('error', (error: Error) => httpServer.emit('error', error));
  // node:http starts tracking connections (for headersTimeout, requestTimeout
  // and closeIdleConnections) when it hears 'listening'.
  server.on('listening', () => httpServer.emit('listening'));
  listenThrough(httpServer, server);
  return server;
}

/**
 * Emits 'connection' on an https.Server served by reactor TLS, as node:tls
 * emits it with the raw socket before the handshake (shutdown code tracks
 * sockets through it), to every listener but node:tls's own, which would
 * wrap the socket in TLS a second time. The listeners are called as emit()
 * calls them (once() wrappers remove themselves).
 */
function emitPastNodeTls(httpServer: net.Server, socket: SecureSocket): void {
  for (const listener of httpServer.rawListeners('connection')) {
    // tls.Server's constructor adds it (lib/_tls_wrap.js; Node 20 to 26).
    if ((listener as { name?: string }).name === 'tlsConnectionListener') continue;
    Reflect.apply(listener, httpServer, [socket]);
  }
}

/**
 * Makes the reactor server `server` the HTTP server's listener, as its own
 * libuv handle would be: net.Server's own methods read `_handle` and
 * `_connections`, so `listening`, `close([callback])` (the callback and
 * 'close' once the connections are gone, after node:http's own pre-close),
 * `ref()`, `unref()` and `getConnections()` work on the HTTP server as on
 * one that listens itself, and `address()`, `maxConnections` and 'drop'
 * are the reactor server's. Closing either closes both.
 */
function listenThrough(httpServer: net.Server, server: Server): void {
  const fields = httpServer as unknown as { _handle: unknown; _connections: number; _emitCloseIfDrained?: () => void };
  // net's close() closes the handle, then emits 'close' once _connections is
  // 0; the reactor server's 'close' comes once its connections are gone.
  let drainAwaited = false;
  const handle = {
    close(): void {
      drainAwaited = server.openConnections > 0;
      if (server.listening) server.close();
    },
    ref(): void {
      server.ref();
    },
    unref(): void {
      server.unref();
    },
  };
  fields._handle = handle;
  // As net's listen: an unref() made before it holds for the new listener.
  if ((httpServer as { _unref?: boolean })._unref === true) server.unref();
  Object.defineProperty(httpServer, '_connections', {
    configurable: true,
    enumerable: true,
    get: () => server.openConnections,
    set: () => undefined,  // net's worker bookkeeping, unused here
  });
  const maxConnections = (httpServer as { maxConnections?: number }).maxConnections;
  if (maxConnections !== undefined) server.maxConnections = maxConnections;
  Object.defineProperty(httpServer, 'maxConnections', {
    configurable: true,
    enumerable: true,
    get: () => server.maxConnections,
    set: (value: number) => { server.maxConnections = value; },
  });
  httpServer.address = () => (fields._handle === handle ? server.address() : null);
  server.on('drop', (data?: net.DropArgument) => httpServer.emit('drop', data));
  server.on('error', () => {
    // A listen that failed leaves net's server without a handle, as here.
    if (!server.listening && fields._handle === handle) fields._handle = null;
  });
  server.on('close', () => {
    if (fields._handle === handle) {
      // The reactor server was closed itself: the HTTP server has no listener now.
      fields._handle = null;
      fields._emitCloseIfDrained?.call(httpServer);
    } else if (drainAwaited) {
      drainAwaited = false;
      fields._emitCloseIfDrained?.call(httpServer);
    }
  });
}

/**
 * `httpServer` listening on its own (servesItself), with the connection
 * options serveHttp was given set as net.Server keeps them for each
 * connection it accepts (a net.Server made of them reads and checks them
 * as the running node does); the server itself is returned. Both checks
 * throw before the server changes: the options', then listen()'s, which
 * throws before it binds; no connection is accepted before the fields are
 * set, since accepting takes a later turn.
 */
function listenOnItsOwn(httpServer: net.Server, netOptions: ServerOptions, listen: ListenOptions): Server {
  const given = Object.fromEntries(Object.entries(netOptions).filter(([, value]) => value !== undefined));
  const made = new net.Server(given as net.ServerOpts) as unknown as Record<string, unknown>;
  httpServer.listen(listen);
  const fields = httpServer as unknown as Record<string, unknown>;
  for (const name of Object.keys(given)) if (name in made) fields[name] = made[name];
  return httpServer as unknown as Server;
}
