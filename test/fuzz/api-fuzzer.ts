// A seeded fuzzer of the public API. One run keeps a few hundred sockets alive
// at once — reactor and node:net clients and servers, adopted sockets, forward()
// pairs and forward()s to an address — and applies a seeded random sequence of calls to them: writes of
// random sizes, pause, resume, end, destroy, resetAndDestroy, setTimeout,
// adopt, server close. Then it lets everything finish and checks what users rely on:
//
//   - every socket emits 'close' exactly once, and nothing after it;
//   - at most one 'end', at most one 'error', no 'data' after 'end';
//   - every byte a socket receives is the next byte its peer wrote (so what
//     arrives is always a prefix of what was written, even across a reset);
//   - on a connection nobody destroyed, reset or broke, both directions
//     arrive whole: the receiver's total equals the writer's;
//   - every forward() promise settles once; every server emits 'close' once;
//   - with `hostile`: a write of any ArrayBufferView kind (each TypedArray,
//     DataView, SharedArrayBuffer-backed, at an offset) or of a latin1 string
//     sends exactly its bytes; a connect whose lookup answers with garbage
//     ends in one 'error' with a Node code and one 'close', never an uncaught
//     throw; forward() of a socket already flowing or just adopted loses no byte.
//   - with `tls`: the same over TLS on the reactor thread: reactor and node:tls
//     clients of a reactor TLS server, reactor TLS clients of a node:tls server,
//     and forward() terminating TLS in front of a node:net server. Handshakes
//     stop to ask JS, as users' do: the reactor servers' SNICallback answers
//     at once, on the next turn or a few ms later, now and then with an error;
//     their ALPNCallback picks for clients that offer protocols, and their
//     'OCSPRequest' listener answers on the next turn; reactor clients use
//     pskCallback (TLS 1.2 and 1.3, of our server and node's) or offer a
//     session from an earlier connection. With
//     `hostile` too, bytes that are not TLS (or a record header and garbage)
//     sent to the reactor's TLS server, and a reactor TLS client of a server
//     that answers with garbage: each ends in one 'close', any 'error' with a code.
//
// Each stream starts with a 4-byte header naming its writer, so a receiver
// (an accepted socket, or the far end of a forward) learns whose bytes it gets
// without relying on event order across threads. The seed fixes every choice
// the fuzzer makes; the interleaving with the kernel and the reactor thread is
// not fixed, so a failing seed fails often, not always — run it a few times.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';

import { adopt, connect, createSecureServer, createServer, forward, Server, Socket } from '../../lib';
import { randomBytes, seededRandom } from '../helpers/random';
import { makeTestPki, TestPki } from '../helpers/tls-pki';

export interface FuzzOptions {
  seed: number;
  /** Sockets kept open at once (both ends of every connection count). */
  sockets: number;
  /** Stop issuing calls after this many (fixed-seed runs) ... */
  operations?: number;
  /** ... or after this long (soak-style runs). */
  durationMs?: number;
  /** How long everything may take to close once the calls stop. */
  settleMs?: number;
  log?: (line: string) => void;
  /**
   * The hostile extras (off in the original fixed seeds, so their sequences
   * replay as recorded): writes of every ArrayBufferView kind and of strings,
   * forward() of sockets that are already flowing or were adopted, resets
   * just before forward(), connects whose lookup gives hostile results.
   */
  hostile?: boolean;
  /**
   * Connections over TLS as well (off in the seeds recorded before it, so
   * their sequences replay): handshakes and records on the reactor thread,
   * cut by the same pauses, ends, destroys, resets and timeouts.
   */
  tls?: boolean;
}

export interface FuzzResult {
  violations: string[];
  stats: Record<string, number>;
}

type AnySocket = Socket | net.Socket | tls.TLSSocket;

const HEADER = 4;
// The stream body repeats a random table whose length is prime, offset per
// writer, so a chunk from the wrong writer or the wrong offset cannot match.
const PERIOD = 65521;
const TABLE = randomBytes(seededRandom(0x5eed), PERIOD);
const MAX_WRITE = 1024 * 1024;

function patternInto(target: Buffer, targetStart: number, streamId: number, bodyOffset: number, length: number): void {
  let at = (bodyOffset + streamId * 7919) % PERIOD;
  let done = 0;
  while (done < length) {
    const n = Math.min(length - done, PERIOD - at);
    TABLE.copy(target, targetStart + done, at, at + n);
    done += n;
    at = 0;
  }
}

function patternMatches(chunk: Buffer, chunkStart: number, streamId: number, bodyOffset: number, length: number): boolean {
  let at = (bodyOffset + streamId * 7919) % PERIOD;
  let done = 0;
  while (done < length) {
    const n = Math.min(length - done, PERIOD - at);
    if (chunk.compare(TABLE, at, at + n, chunkStart + done, chunkStart + done + n) !== 0) return false;
    done += n;
    at = 0;
  }
  return true;
}

/** The observable life of one socket object. */
interface Watched {
  label: string;
  socket: AnySocket;
  events: string[];
  closes: number;
  ends: number;
  errors: number;
  errorCodes: string[];
  /** A forward()ed socket must emit no 'data'. */
  forwarded: boolean;
}

/** One end of a connection, as the application sees it (it may change socket on adopt). */
interface Endpoint {
  streamId: number;
  label: string;
  socket: AnySocket;
  /** Bytes handed to write() that it accepted, header included. */
  written: number;
  /** Bytes received of the peer's stream, header included. */
  received: number;
  header: Buffer;
  /** The writer whose stream this endpoint receives, once its header arrived. */
  peer?: Endpoint;
  /** Destroyed, reset or errored: from then on only the prefix rule holds. */
  disturbed: boolean;
  paused: boolean;
  /** Set by setTimeout(ms, callback) with a callback that destroys. */
  destroyOnTimeout: boolean;
  /** The forward() this endpoint's bytes pass through, if any. */
  via?: ForwardRecord;
  /** The other end of the connection (through the forward, if any), once known. */
  partner?: Endpoint;
  /** TCP ports of this end's own connection, once known. */
  localPort?: number;
  remotePort?: number;
}

interface ForwardRecord {
  /**
   * How the proxy side started it: 'forward', 'after-flowing', 'after-reset';
   * '+adopted' when the client was adopted first; '→address' when forward()
   * connected the upstream itself.
   */
  how: string;
  /** forward() to an address: no upstream socket, so the backend joins by the header it receives. */
  toAddress: boolean;
  disturbed: boolean;
  settled: number;
  ends: Endpoint[];
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const random = seededRandom(options.seed);
  const chance = (p: number): boolean => random() / 2 ** 32 < p;
  const below = (n: number): number => Math.floor((random() / 2 ** 32) * n);
  const pick = <T>(items: T[]): T => items[below(items.length)];
  const log = options.log ?? (() => undefined);

  const violations: string[] = [];
  const violation = (text: string): void => {
    if (violations.length < 50) violations.push(text);
  };
  const stats: Record<string, number> = {};
  const count = (name: string, n = 1): void => {
    stats[name] = (stats[name] ?? 0) + n;
  };

  const watched: Watched[] = [];
  const endpoints: Endpoint[] = [];
  const byStream = new Map<number, Endpoint>();
  let nextStream = 1;
  let openSockets = 0;

  function watch(socket: AnySocket, label: string): Watched {
    const w: Watched = { label, socket, events: [], closes: 0, ends: 0, errors: 0, errorCodes: [], forwarded: false };
    watched.push(w);
    openSockets++;
    const emit = socket.emit;
    socket.emit = function watchedEmit(this: AnySocket, event: string | symbol, ...args: unknown[]): boolean {
      const name = String(event);
      if (w.closes > 0) violation(`${label}: '${name}' emitted after 'close' (events: ${w.events.slice(-8).join(',')})`);
      if (w.events.length < 64) w.events.push(name);
      else w.events[63] = name;
      if (name === 'close') {
        w.closes++;
        if (w.closes === 1) openSockets--;
        else violation(`${label}: 'close' emitted ${w.closes} times`);
      } else if (name === 'end') {
        if (++w.ends > 1) violation(`${label}: 'end' emitted ${w.ends} times`);
      } else if (name === 'error') {
        w.errors++;
        w.errorCodes.push(String((args[0] as NodeJS.ErrnoException)?.code));
        if (w.errors > 1) violation(`${label}: 'error' emitted ${w.errors} times (${w.errorCodes.join(',')})`);
      } else if (name === 'data') {
        if (w.ends > 0) violation(`${label}: 'data' after 'end'`);
        if (w.forwarded) violation(`${label}: 'data' on a forwarded socket (events: ${w.events.slice(-8).join(',')})`);
      }
      return emit.call(this, event, ...args);
    } as typeof socket.emit;
    return w;
  }

  function receive(endpoint: Endpoint, chunk: Buffer): void {
    let at = 0;
    if (endpoint.received < HEADER) {
      const n = Math.min(HEADER - endpoint.received, chunk.length);
      chunk.copy(endpoint.header, endpoint.received, 0, n);
      endpoint.received += n;
      at = n;
      if (endpoint.received === HEADER) {
        const writer = byStream.get(endpoint.header.readUInt32LE(0));
        if (!writer) {
          violation(`${endpoint.label}: received a header naming no writer (${endpoint.header.toString('hex')})`);
          return;
        }
        endpoint.peer = writer;
      }
    }
    const rest = chunk.length - at;
    if (rest === 0 || !endpoint.peer) return;
    const writer = endpoint.peer;
    const bodyOffset = endpoint.received - HEADER;
    if (endpoint.received + rest > writer.written) {
      violation(`${endpoint.label}: received ${endpoint.received + rest} bytes of ${writer.label}'s stream, which wrote ${writer.written}`);
    } else if (!patternMatches(chunk, at, writer.streamId, bodyOffset, rest)) {
      violation(`${endpoint.label}: bytes ${endpoint.received}..${endpoint.received + rest} differ from what ${writer.label} wrote`);
    }
    endpoint.received += rest;
    count('bytesReceived', rest);
  }

  function attach(endpoint: Endpoint, socket: AnySocket): void {
    endpoint.socket = socket;
    socket.on('data', (chunk: Buffer) => receive(endpoint, chunk));
    socket.on('error', () => {
      endpoint.disturbed = true;
    });
    socket.on('timeout', () => count('timeouts'));
  }

  function newEndpoint(socket: AnySocket, label: string): Endpoint {
    const streamId = nextStream++;
    const endpoint: Endpoint = {
      streamId,
      label: `${label}#${streamId}`,
      socket,
      written: 0,
      received: 0,
      header: Buffer.alloc(HEADER),
      disturbed: false,
      paused: false,
      destroyOnTimeout: false,
    };
    endpoints.push(endpoint);
    byStream.set(streamId, endpoint);
    attach(endpoint, socket);
    const header = Buffer.alloc(HEADER);
    header.writeUInt32LE(streamId, 0);
    write(endpoint, header);
    return endpoint;
  }

  // Which endpoint is at the other end of a connection is learned from ports,
  // whichever side JS hears about first; a forward joins its two far ends.
  const unmatched = new Map<string, Endpoint>();
  function linkByPorts(endpoint: Endpoint, clientPort: number | undefined, serverPort: number | undefined): void {
    endpoint.localPort = endpoint.socket.localPort;
    endpoint.remotePort = endpoint.socket.remotePort;
    if (clientPort === undefined || serverPort === undefined) return;
    const key = `${clientPort}>${serverPort}`;
    const other = unmatched.get(key);
    if (other && other !== endpoint) {
      unmatched.delete(key);
      endpoint.partner = other;
      other.partner = endpoint;
    } else {
      unmatched.set(key, endpoint);
      endpoint.socket.once('close', () => unmatched.get(key) === endpoint && unmatched.delete(key));
    }
  }
  function joinForward(endpoint: Endpoint, record: ForwardRecord): void {
    endpoint.via = record;
    record.ends.push(endpoint);
    if (record.ends.length === 2) {
      record.ends[0].partner = record.ends[1];
      record.ends[1].partner = record.ends[0];
    }
  }
  function linkWhenConnected(endpoint: Endpoint): void {
    const socket = endpoint.socket;
    socket.once('connect', () => linkByPorts(endpoint, socket.localPort, socket.remotePort));
  }
  function linkAccepted(endpoint: Endpoint): void {
    linkByPorts(endpoint, endpoint.socket.remotePort, endpoint.socket.localPort);
  }

  function write(endpoint: Endpoint, chunk: Buffer): void {
    const socket = endpoint.socket;
    if (socket.destroyed || socket.writableEnded) return;
    // A well-behaved writer stops somewhere when its peer does not read.
    if (socket.writableLength > 4 * 1024 * 1024) {
      count('writesHeldBack');
      return;
    }
    if (options.hostile && chance(0.3)) writeAsOtherKind(socket, chunk);
    else socket.write(chunk);
    endpoint.written += chunk.length;
    count('bytesWritten', chunk.length);
  }

  // The same bytes, handed to write() as another kind of chunk. Each view
  // sits at an odd offset inside a larger buffer, so a write that sends from
  // the buffer's start, or past the view, shows as bytes out of pattern.
  const VIEW_KINDS = ['Uint8Array', 'Uint8Array(SharedArrayBuffer)', 'Buffer(SharedArrayBuffer)', 'DataView',
    'DataView(SharedArrayBuffer)', 'Uint16Array', 'Int32Array', 'Float64Array', 'BigUint64Array', 'latin1'] as const;
  function writeAsOtherKind(socket: AnySocket, chunk: Buffer): void {
    let kind = pick([...VIEW_KINDS]);
    const width = kind === 'Uint16Array' ? 2 : kind === 'Int32Array' ? 4 : kind === 'Float64Array' || kind === 'BigUint64Array' ? 8 : 1;
    if (chunk.length % width !== 0) kind = 'Uint8Array(SharedArrayBuffer)';
    count(`writeKind.${kind}`);
    if (kind === 'latin1') {
      (socket as net.Socket).write(chunk.toString('latin1'), 'latin1');
      return;
    }
    const shared = kind.includes('SharedArrayBuffer');
    const offset = 8 * (1 + below(64));
    const backing = shared ? new SharedArrayBuffer(offset + chunk.length + 16) : new ArrayBuffer(offset + chunk.length + 16);
    new Uint8Array(backing).fill(0xee);
    new Uint8Array(backing, offset, chunk.length).set(chunk);
    let view: ArrayBufferView;
    if (kind.startsWith('Buffer')) view = Buffer.from(backing, offset, chunk.length);
    else if (kind.startsWith('DataView')) view = new DataView(backing, offset, chunk.length);
    else if (kind === 'Uint16Array') view = new Uint16Array(backing, offset, chunk.length / 2);
    else if (kind === 'Int32Array') view = new Int32Array(backing, offset, chunk.length / 4);
    else if (kind === 'Float64Array') view = new Float64Array(backing, offset, chunk.length / 8);
    else if (kind === 'BigUint64Array') view = new BigUint64Array(backing, offset, chunk.length / 8);
    else view = new Uint8Array(backing, offset, chunk.length);
    socket.write(view as Uint8Array);
  }

  function body(endpoint: Endpoint, size: number): Buffer {
    const chunk = Buffer.allocUnsafe(size);
    patternInto(chunk, 0, endpoint.streamId, endpoint.written - HEADER, size);
    return chunk;
  }

  // ---- servers ------------------------------------------------------------
  const reactorServers: { server: Server; port: number | string; closes: number; closed: boolean; label: string }[] = [];
  const closedPorts: number[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-fuzz-'));
  const pki: TestPki | undefined = options.tls ? makeTestPki() : undefined;
  const trust = (): { ca: Buffer; servername: string } => ({ ca: pki!.caCert, servername: 'localhost' });
  // Reactor TLS servers take PSK clients too (pskCallback): every third
  // node:tls client uses it, alternating TLS 1.2 and 1.3, so the calls cut
  // handshakes that wait for JS's key. Counted, not drawn: the seeds' random
  // streams stay as they were.
  const pskKey = Buffer.alloc(32, 0x5a);
  const pskServerOptions = {
    ciphers: `${tls.DEFAULT_CIPHERS.replace(':!PSK', '')}:PSK+HIGH`,
    pskCallback: (_socket: unknown, identity: string) => { count('pskLookups'); return identity === 'fuzz' ? pskKey : null; },
  };
  // The questions a handshake asks JS (SNICallback, ALPNCallback, a
  // client's pskCallback, a session to resume) are chosen by counters and
  // their own generator, so the seeds' streams stay as they were.
  const questionRandom = seededRandom(options.seed ^ 0x51c3);
  const sniContext = pki ? tls.createSecureContext({ key: pki.serverKey, cert: pki.serverCert }) : undefined;
  let sniAnswers = 0;
  const questionServerOptions = {
    SNICallback: (_servername: string, answer: (error: Error | null, context?: tls.SecureContext) => void) => {
      const n = sniAnswers++;
      count('sniQuestions');
      const give = (): void => {
        if (n % 8 === 7) answer(Object.assign(new Error('refused by the fuzzer'), { code: 'EFUZZSNI' }));
        else answer(null, sniContext);
      };
      if (n % 4 === 0) give();
      else if (n % 4 === 1) setImmediate(give);
      else setTimeout(give, questionRandom() % 15);
    },
    ALPNCallback: ({ protocols }: { servername: string; protocols: string[] }) => {
      count('alpnQuestions');
      return protocols.includes('fuzz') ? 'fuzz' : undefined;
    },
  };
  let reactorTlsClients = 0;
  const lastSessions = new Map<number, Buffer>();
  // A reactor TLS client's options, in turn: verified by certificate; PSK
  // over TLS 1.2, then 1.3; resuming the last session this port gave a
  // reactor client; offering ALPN protocols and asking for OCSP.
  const reactorTlsClientOptions = (port: number): Record<string, unknown> => {
    const n = reactorTlsClients++;
    switch (n % 5) {
      case 1:
      case 2:
        count('pskClients');
        return {
          ciphers: 'PSK+HIGH:TLS_AES_128_GCM_SHA256', maxVersion: n % 5 === 1 ? 'TLSv1.2' : 'TLSv1.3',
          checkServerIdentity: () => undefined,
          pskCallback: () => { count('pskAnswers'); return { psk: pskKey, identity: 'fuzz' }; },
        };
      case 3: {
        const session = lastSessions.get(port);
        if (session) count('sessionsOffered');
        return { ...trust(), session };
      }
      case 4:
        return { ...trust(), ALPNProtocols: ['fuzz', 'http/1.1'], requestOCSP: true };
      default:
        return trust();
    }
  };
  let nodeTlsClients = 0;
  const nodeTlsClientOptions = (): tls.ConnectionOptions => {
    const n = nodeTlsClients++;
    if (n % 3 !== 2) return trust();
    return {
      ciphers: 'PSK+HIGH:TLS_AES_128_GCM_SHA256', maxVersion: n % 2 === 0 ? 'TLSv1.2' : 'TLSv1.3',
      checkServerIdentity: () => undefined, pskCallback: () => ({ psk: pskKey, identity: 'fuzz' }),
    };
  };

  async function listenReactor(label: string, onConnection: (socket: Socket) => void, unix = false,
    secure = false): Promise<(typeof reactorServers)[number]> {
    const server = secure
      ? createSecureServer({ key: pki!.serverKey, cert: pki!.serverCert, ...pskServerOptions, ...questionServerOptions },
        onConnection)
      : createServer(onConnection);
    const entry = { server, port: 0 as number | string, closes: 0, closed: false, label };
    server.on('close', () => entry.closes++);
    server.on('error', (error) => violation(`${label}: server error ${(error as NodeJS.ErrnoException).code}`));
    // A client gone mid-handshake: counted, as node's server would report it.
    if (secure) server.on('tlsClientError', () => count('reactorTlsClientErrors'));
    // A client's status request, answered on the next turn: no response, or bytes.
    if (secure) {
      server.on('OCSPRequest', (_certificate: Buffer, _issuer: Buffer, answer: (error: Error | null, response?: Buffer) => void) => {
        count('ocspQuestions');
        setImmediate(() => answer(null, questionRandom() % 2 === 0 ? undefined : Buffer.from('fuzz-ocsp')));
      });
    }
    await new Promise<void>((resolve) => {
      if (unix) server.listen(path.join(tmp, `${label}-${reactorServers.length}.sock`), resolve);
      else server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    entry.port = typeof address === 'string' ? address : (address as net.AddressInfo).port;
    reactorServers.push(entry);
    count('serversListened');
    return entry;
  }

  let loopbacksMade = 0;
  const uniqueLoopback = (): string => {
    const n = ++loopbacksMade;
    return `127.${1 + (Math.floor(n / 65536) % 250)}.${Math.floor(n / 256) % 256}.${n % 256}`;
  };
  const sourceOf = (address: string | undefined, port: number | undefined): string => `${address}:${port}`;
  const onEchoSide = (socket: Socket): void => {
    watch(socket, 'reactor-accepted');
    linkAccepted(newEndpoint(socket, 'reactor-accepted'));
  };
  const forwards: ForwardRecord[] = [];
  // Every third forward connects its upstream on the reactor thread
  // (forward(client, { port, host })): counted, not drawn, so the seeds'
  // random streams stay as they were.
  let proxiedClients = 0;
  let decodedUnshifts = 0;
  let decodedFlowing = 0;
  let corkedFlowing = 0;
  const onProxySide = (client: Socket, adopted = false): void => {
    if (proxiedClients++ % 3 === 1) {
      onAddressProxySide(client, adopted);
      return;
    }
    const record: ForwardRecord = { how: adopted ? 'forward+adopted' : 'forward', toAddress: false, disturbed: false, settled: 0,
      ends: [] };
    forwards.push(record);
    const w1 = watch(client, 'forward-in');
    const upstream = connect({ port: netPort, host: '127.0.0.1', localAddress: uniqueLoopback() });
    const w2 = watch(upstream, 'forward-out');
    w1.forwarded = w2.forwarded = true;
    forwardOf.set(client, record);
    forwardOf.set(upstream, record);
    middles.push(client, upstream);
    upstream.on('connect', () => {
      const source = sourceOf(upstream.localAddress, upstream.localPort);
      const backend = awaitingBackend.get(source);
      if (backend) {
        joinForward(backend, record);
        awaitingBackend.delete(source);
      } else forwardsAwaitingBackend.set(source, record);
    });
    client.on('error', () => (record.disturbed = true));
    upstream.on('error', () => (record.disturbed = true));
    const mode = pick(['auto', 'copy', 'splice'] as const);
    const startForward = (): void => {
      forward(client, upstream, { mode }).then(
        (result) => {
          if (++record.settled > 1) violation('forward() settled twice');
          if (result.error) record.disturbed = true;
          count('forwardsDone');
        },
        (error) => violation(`forward() rejected: ${error}`),
      );
    };
    const r = options.hostile ? random() / 2 ** 32 : 1;
    if (r < 0.25) {
      // A proxy that reads the first chunk itself (to route on it), passes it
      // on, then forwards the rest: the client is flowing when forward() is called.
      count('forwardAfterFlowing');
      record.how = record.how.replace('forward', 'after-flowing');
      // Every other one reads it as UTF-8 text and puts it back with
      // unshift() instead. Counted, not drawn.
      const decoded = decodedFlowing++ % 2 === 0;
      if (decoded) readAsUtf8(client, record);
      // Every other one that writes the chunk on writes it corked (a proxy
      // corking its preamble): forward() must send it first. Counted, not drawn.
      const corked = !decoded && corkedFlowing++ % 2 === 0;
      if (corked) record.how += '+corked';
      forwardOnFirstChunk(client, record, w1, (first) => {
        if (decoded) {
          putBack(client, first);
        } else {
          if (corked) upstream.cork();
          upstream.write(first);
        }
        startForward();
      }, () => upstream.destroy());
    } else if (r < 0.3) {
      // The client resets just before forward(): the forward ends with an error, once.
      count('forwardAfterReset');
      record.how = record.how.replace('forward', 'after-reset');
      record.disturbed = true;
      client.resetAndDestroy();
      startForward();
    } else {
      startForward();
    }
    joinClientOf(client, record);
  };
  // forward(client, { port, host }): the reactor connects the upstream, which
  // JS never sees as a socket. The client may have been read from first (its
  // first chunk put back with unshift(), as a proxy that routes on a preamble
  // does) or reset just before; a connect that fails hands the client back,
  // and this proxy then closes it.
  const onAddressProxySide = (client: Socket, adopted: boolean): void => {
    const record: ForwardRecord = { how: `${adopted ? 'forward+adopted' : 'forward'}→address`, toAddress: true, disturbed: false,
      settled: 0, ends: [] };
    forwards.push(record);
    const w1 = watch(client, 'forward-in→address');
    forwardOf.set(client, record);
    middles.push(client);
    client.on('error', () => (record.disturbed = true));
    const mode = pick(['auto', 'copy', 'splice'] as const);
    const startForward = (): void => {
      forward(client, { port: netPort, host: '127.0.0.1' }, { mode, onConnect: () => count('addressForwardsConnected') }).then(
        (result) => {
          if (++record.settled > 1) violation('forward() to an address settled twice');
          if (result.error) record.disturbed = true;
          if (result.connected === false) {
            count('addressForwardsNotConnected');
            record.disturbed = true;
            client.destroy();
          }
          count('forwardsDone');
        },
        (error) => violation(`forward() to an address rejected: ${error}`),
      );
    };
    w1.forwarded = true;
    // Drawn as the socket form draws, so both forms take as many numbers.
    const r = options.hostile ? random() / 2 ** 32 : 1;
    if (r < 0.25) {
      // Routed on its first chunk: read, put back, forwarded with it.
      count('addressForwardAfterUnshift');
      record.how += '+unshift';
      // Every other one reads its first chunk as text. Counted, not drawn, as above.
      if (decodedUnshifts++ % 2 === 0) readAsUtf8(client, record);
      forwardOnFirstChunk(client, record, w1, (first) => {
        putBack(client, first);
        startForward();
      });
    } else if (r < 0.3) {
      count('addressForwardAfterReset');
      record.how += '+after-reset';
      record.disturbed = true;
      client.resetAndDestroy();
      startForward();
    } else {
      startForward();
    }
    joinClientOf(client, record);
  };
  // A proxy that reads the client's first chunk itself (to route on it)
  // hands it to `passOn`, which forwards. A client gone before its first
  // byte had nothing to forward; `neverStarted` cleans up after it.
  function forwardOnFirstChunk(client: Socket, record: ForwardRecord, watched: Watched,
    passOn: (first: Buffer | string) => void, neverStarted: () => void = () => undefined): void {
    watched.forwarded = false;
    let started = false;
    client.once('data', (first: Buffer | string) => {
      started = true;
      watched.forwarded = true;
      passOn(first);
    });
    client.once('close', () => {
      if (started) return;
      count('forwardNeverStarted');
      record.settled = 1;
      record.disturbed = true;
      neverStarted();
    });
  }
  // The client's bytes arrive as UTF-8 text: the random bytes are mostly
  // invalid UTF-8, and forward() must still pass on the bytes as they came.
  function readAsUtf8(client: Socket, record: ForwardRecord): void {
    record.how += '+utf8';
    client.setEncoding('utf8');
  }
  function putBack(client: Socket, first: Buffer | string): void {
    client.pause();
    client.unshift(first);
  }
  // The forward-client endpoint that connected as `client` joins `record`,
  // now or when its 'connect' comes.
  function joinClientOf(client: Socket, record: ForwardRecord): void {
    const source = sourceOf(client.remoteAddress, client.remotePort);
    const a = awaitingForward.get(source);
    if (a) {
      joinForward(a, record);
      awaitingForward.delete(source);
    } else forwardsAwaitingClient.set(source, record);
  }
  const forwardOf = new Map<Socket, ForwardRecord>();
  const middles: Socket[] = [];
  // The endpoints at both ends of a forward are told which forward carries
  // them by source address and port, whichever of the two sides JS hears about
  // first. Each forward client and upstream binds a loopback address of its
  // own (uniqueLoopback), because ports alone are ambiguous: a port is reused
  // at once after a reset, and a socket destroyed while connecting never says
  // 'connect' although its peer was accepted, so its entry waits for good.
  const forwardsAwaitingClient = new Map<string, ForwardRecord>();
  const awaitingForward = new Map<string, Endpoint>();
  const forwardsAwaitingBackend = new Map<string, ForwardRecord>();
  const awaitingBackend = new Map<string, Endpoint>();

  const netServer = net.createServer((socket) => {
    watch(socket, 'net-accepted');
    const endpoint = newEndpoint(socket, 'net-accepted');
    linkAccepted(endpoint);
    // Accepted after its peer reset, a socket has no remote address (its
    // getpeername fails) though it still reads what was sent before the reset.
    // Its header alone then says which stream it carries.
    if (socket.remotePort === undefined) return;
    const source = sourceOf(socket.remoteAddress, socket.remotePort);
    const record = forwardsAwaitingBackend.get(source);
    if (record) {
      joinForward(endpoint, record);
      forwardsAwaitingBackend.delete(source);
    } else {
      awaitingBackend.set(source, endpoint);
      socket.once('close', () => awaitingBackend.get(source) === endpoint && awaitingBackend.delete(source));
    }
  });
  await new Promise<void>((resolve) => netServer.listen(0, '127.0.0.1', resolve));
  const netPort = (netServer.address() as net.AddressInfo).port;
  const adoptServer = net.createServer((socket) => {
    watch(socket, 'net-accepted-to-adopt');
    const endpoint = newEndpoint(socket, 'adopted-accepted');
    linkAccepted(endpoint);
    later(() => adoptEndpoint(endpoint));
  });
  await new Promise<void>((resolve) => adoptServer.listen(0, '127.0.0.1', resolve));
  const adoptPort = (adoptServer.address() as net.AddressInfo).port;

  // Accepted by node:net, adopted, then forwarded: adopt() and forward() back to back.
  const adoptProxyServer = net.createServer((plain) => {
    let adopted: Socket;
    try {
      adopted = adopt(plain);
    } catch (error) {
      violation(`adopt() of a fresh net.Socket threw ${(error as NodeJS.ErrnoException).code}`);
      plain.destroy();
      return;
    }
    count('adoptedThenForwarded');
    onProxySide(adopted, true);
  });
  await new Promise<void>((resolve) => adoptProxyServer.listen(0, '127.0.0.1', resolve));
  const adoptProxyPort = (adoptProxyServer.address() as net.AddressInfo).port;

  let echo = await listenReactor('echo', onEchoSide);
  let unixEcho = await listenReactor('unix', onEchoSide, true);
  let proxy = await listenReactor('proxy', onProxySide);

  // TLS: a reactor TLS echo server, a reactor TLS proxy (forward() from the
  // decrypted side to node:net), and node:tls's server for reactor clients.
  const onSecureEchoSide = (socket: Socket): void => {
    watch(socket, 'reactor-tls-accepted');
    linkAccepted(newEndpoint(socket, 'reactor-tls-accepted'));
  };
  let secureEcho = options.tls ? await listenReactor('tls-echo', onSecureEchoSide, false, true) : undefined;
  let secureProxy = options.tls ? await listenReactor('tls-proxy', onProxySide, false, true) : undefined;
  let nodeTlsPort = 0;
  const nodeTlsServer = options.tls
    ? tls.createServer({ key: pki!.serverKey, cert: pki!.serverCert, ...pskServerOptions }, (socket) => {
      watch(socket, 'node-tls-accepted');
      linkAccepted(newEndpoint(socket, 'node-tls-accepted'));
    })
    : undefined;
  // Answers every connection with random bytes, sometimes ending after them.
  // Its own generator: accepts come in the kernel's order, and drawing from
  // the fuzzer's would shift every later choice of the seed with the timing.
  let garbagePort = 0;
  const garbageRandom = seededRandom(options.seed ^ 0x6a7b);
  const garbageServer = options.tls && options.hostile
    ? net.createServer((socket) => {
      socket.on('error', () => undefined);
      // Reads (and drops) what the client sends, so that its FIN ends and
      // closes this socket: unread, the bytes kept it open in the jest worker.
      socket.resume();
      socket.write(randomBytes(garbageRandom, 1 + (garbageRandom() % 4096)));
      if (garbageRandom() % 2 === 0) socket.end();
      else setTimeout(() => socket.destroy(), garbageRandom() % 20);
    })
    : undefined;
  if (garbageServer) {
    await new Promise<void>((resolve) => garbageServer.listen(0, '127.0.0.1', resolve));
    garbagePort = (garbageServer.address() as net.AddressInfo).port;
  }
  if (nodeTlsServer) {
    // A client gone mid-handshake: node's server drops it, as ours does.
    nodeTlsServer.on('tlsClientError', () => count('nodeTlsClientErrors'));
    await new Promise<void>((resolve) => nodeTlsServer.listen(0, '127.0.0.1', resolve));
    nodeTlsPort = (nodeTlsServer.address() as net.AddressInfo).port;
  }

  const timers = new Set<NodeJS.Timeout>();
  function later(action: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, below(20));
    timers.add(timer);
  }

  function adoptEndpoint(endpoint: Endpoint): void {
    const plain = endpoint.socket as net.Socket;
    if (plain.destroyed || plain.connecting || endpoint.socket instanceof Socket) return;
    let adopted: Socket;
    try {
      adopted = adopt(plain);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ERR_INVALID_STATE') violation(`${endpoint.label}: adopt() threw ${code}: ${(error as Error).message}`);
      return;
    }
    count('adopted');
    plain.removeAllListeners('data');
    plain.on('data', () => violation(`${endpoint.label}: the net.Socket emitted 'data' after adopt()`));
    watch(adopted, `adopted(${endpoint.label})`);
    attach(endpoint, adopted);
    endpoint.paused = false;
  }

  // ---- connections --------------------------------------------------------
  function openConnection(): void {
    const kind = below(options.tls ? 11 : 7);
    count(`open.${['reactor→net', 'net→reactor', 'reactor→reactor', 'reactor→unix', 'adopt-accepted', 'adopt-outbound', 'forward',
      'tls reactor→reactor', 'tls node→reactor', 'tls reactor→node', 'tls forward'][kind]}`);
    switch (kind) {
      case 0: {
        const socket = connect(netPort, '127.0.0.1');
        watch(socket, 'reactor-client');
        linkWhenConnected(newEndpoint(socket, 'reactor-client'));
        break;
      }
      case 1: {
        const socket = net.connect(echo.port as number, '127.0.0.1');
        watch(socket, 'net-client');
        linkWhenConnected(newEndpoint(socket, 'net-client'));
        break;
      }
      case 2:
      case 3: {
        const socket = kind === 2 ? connect(echo.port as number, '127.0.0.1') : connect(unixEcho.port as string);
        watch(socket, kind === 2 ? 'reactor-client' : 'reactor-unix-client');
        linkWhenConnected(newEndpoint(socket, kind === 2 ? 'reactor-client' : 'reactor-unix-client'));
        break;
      }
      case 4: {
        const socket = net.connect(adoptPort, '127.0.0.1');
        watch(socket, 'net-client');
        linkWhenConnected(newEndpoint(socket, 'net-client'));
        break;
      }
      case 5: {
        const socket = net.connect(echo.port as number, '127.0.0.1');
        watch(socket, 'net-client-to-adopt');
        const endpoint = newEndpoint(socket, 'adopted-outbound');
        linkWhenConnected(endpoint);
        socket.once('connect', () => later(() => adoptEndpoint(endpoint)));
        break;
      }
      case 7:
      case 9: {
        const port = kind === 7 ? secureEcho!.port as number : nodeTlsPort;
        const label = kind === 7 ? 'reactor-tls-client' : 'reactor-tls-client-of-node';
        const socket = connect({ port, host: '127.0.0.1', tls: reactorTlsClientOptions(port) as never });
        socket.on('session', (session: Buffer) => lastSessions.set(port, session));
        watch(socket, label);
        linkWhenConnected(newEndpoint(socket, label));
        break;
      }
      case 8: {
        const socket = tls.connect({ port: secureEcho!.port as number, host: '127.0.0.1', ...nodeTlsClientOptions() });
        watch(socket, 'node-tls-client');
        linkWhenConnected(newEndpoint(socket, 'node-tls-client'));
        break;
      }
      default: {
        const secure = kind === 10;
        const viaAdopt = !secure && options.hostile && chance(0.3);
        const port = secure ? secureProxy!.port as number : viaAdopt ? adoptProxyPort : (proxy.port as number);
        const target = { port, host: '127.0.0.1', localAddress: uniqueLoopback() };
        const socket = secure ? tls.connect({ ...target, ...trust() }) : net.connect(target);
        const label = secure ? 'tls-forward-client' : 'forward-client';
        watch(socket, label);
        const endpoint = newEndpoint(socket, label);
        socket.once('connect', () => {
          const source = sourceOf(socket.localAddress, socket.localPort);
          const record = forwardsAwaitingClient.get(source);
          if (record) {
            joinForward(endpoint, record);
            forwardsAwaitingClient.delete(source);
          } else {
            awaitingForward.set(source, endpoint);
            // Kept after 'close': a client that closed while its connection
            // still waited in the proxy's backlog is accepted (and its bytes
            // forwarded) after it is gone.
          }
        });
      }
    }
    if (options.hostile && chance(0.03)) hostileLookupConnect();
    if (options.tls && options.hostile && chance(0.05)) garbageTls();
    if (closedPorts.length > 0 && chance(0.05)) {
      // A connect to a server that has closed: refused, then exactly one 'close'.
      const socket = connect(pick(closedPorts), '127.0.0.1');
      watch(socket, 'refused-client');
      socket.on('error', () => count('refused'));
      // Unless a listener (of this run or of another process) took the port
      // since: then it is an ordinary connection, ended here, still with one 'close'.
      socket.once('connect', () => {
        count('closedPortReused');
        socket.destroy();
      });
    }
  }

  // A custom lookup that answers with something no resolver would, in the
  // shape asked for (a list when `all` is set, as with autoSelectFamily): the
  // socket must end in one 'error' and one 'close' (the watcher checks both),
  // the error carrying a Node code unless the lookup's own error had none; a
  // synchronous throw must carry a code. Never an uncaught exception, never a
  // hang: node:net passes each of these, with and without autoSelectFamily.
  type Answer = (error: Error | null, address?: unknown, family?: unknown) => void;
  const HOSTILE_LOOKUPS: [string, (answer: Answer) => void][] = [
    ['non-string address', (answer) => answer(null, 12345, 4)],
    ['object address', (answer) => answer(null, {}, 4)],
    ['not an IP', (answer) => answer(null, 'not-an-ip', 4)],
    ['family 100', (answer) => answer(null, '127.0.0.1', 100)],
    ['error without code', (answer) => answer(new Error('fuzz lookup failed'))],
    ['ENOTFOUND', (answer) => answer(Object.assign(new Error('getaddrinfo ENOTFOUND fuzz.invalid'), { code: 'ENOTFOUND' }))],
    ['called back twice', (answer) => { answer(null, '127.0.0.1', 4); answer(null, '127.0.0.1', 4); }],
    ['called back later', (answer) => setTimeout(() => answer(null, 99, 4), below(5))],
  ];
  function hostileLookupConnect(): void {
    const [name, respond] = pick(HOSTILE_LOOKUPS);
    count(`hostileLookup.${name}`);
    const lookup = (_host: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void): void => {
      respond((error, address, family) => {
        if (error) callback(error);
        else if (lookupOptions?.all) callback(null, [{ address, family }]);
        else callback(null, address, family);
      });
    };
    let socket: Socket;
    try {
      // Port 1: nothing listens there, so even a lookup that "works" ends in an error.
      socket = connect({ host: 'fuzz.invalid', port: 1, lookup: lookup as never });
    } catch (error) {
      if (typeof (error as NodeJS.ErrnoException).code !== 'string') violation(`connect() with lookup '${name}' threw without a code: ${error}`);
      return;
    }
    const w = watch(socket, `hostile-lookup(${name})`);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (typeof error.code !== 'string' && name !== 'error without code') violation(`${w.label}: 'error' without a code: ${error.message}`);
    });
  }

  // Not TLS where TLS is spoken, both ways. Each socket must close once; an
  // 'error' must carry a code (node:tls's, or the system's).
  function garbageTls(): void {
    if (chance(0.5)) {
      count('garbageToTlsServer');
      const socket = net.connect(secureEcho!.port as number, '127.0.0.1');
      watch(socket, 'garbage-client-of-tls-server');
      socket.on('error', () => count('garbageClientErrors'));
      socket.resume();  // the server's alert, then its end
      const bytes = randomBytes(random, 1 + below(2048));
      // Half the time a handshake record's header, so the garbage is read as its body.
      if (bytes.length >= 3 && chance(0.5)) bytes.set([0x16, 0x03, 0x01], 0);
      socket.write(bytes);
      // Not later(): the settle phase clears its timers, and this socket is
      // no endpoint it ends, so a destroy cleared there left it open, the
      // server waiting out its handshake timeout for the rest of a record.
      if (chance(0.5)) socket.end();
      else setTimeout(() => socket.destroy(), below(20));
      return;
    }
    count('tlsClientOfGarbage');
    const socket = connect({ port: garbagePort, host: '127.0.0.1', tls: trust() });
    const w = watch(socket, 'reactor-tls-client-of-garbage');
    socket.on('error', (error: NodeJS.ErrnoException) => {
      count('garbageServerErrors');
      if (typeof error.code !== 'string') violation(`${w.label}: 'error' without a code: ${error.message}`);
    });
  }

  // ---- calls ---------------------------------------------------------------
  function writeSize(): number {
    const r = random() / 2 ** 32;
    if (r < 0.6) return 1 + below(1024);
    if (r < 0.93) return 1024 + below(64 * 1024);
    return 64 * 1024 + below(MAX_WRITE - 64 * 1024);
  }

  function operate(endpoint: Endpoint): void {
    const socket = endpoint.socket;
    const r = random() / 2 ** 32;
    if (r < 0.45) {
      count('op.write');
      write(endpoint, body(endpoint, writeSize()));
    } else if (r < 0.55) {
      count('op.pause');
      socket.pause();
      endpoint.paused = true;
    } else if (r < 0.67) {
      count('op.resume');
      socket.resume();
      endpoint.paused = false;
    } else if (r < 0.72) {
      count('op.end');
      if (chance(0.5)) write(endpoint, body(endpoint, writeSize()));
      socket.end();
    } else if (r < 0.75) {
      count('op.destroy');
      endpoint.disturbed = true;
      socket.destroy();
    } else if (r < 0.77) {
      count('op.resetAndDestroy');
      endpoint.disturbed = true;
      if (!(socket instanceof Socket) && socket.writableEnded) {
        // node:net (Node 20) cannot do this: while end()'s shutdown is in flight libuv
        // refuses the reset (EINVAL), and net emits 'error' and never 'close' (the fd
        // stays open). The fuzzer found it; a net peer is not what is tested here.
        count('netResetAfterEndAvoided');
        socket.destroy();
        return;
      }
      try {
        socket.resetAndDestroy();
      } catch (error) {
        // As in net: only TCP sockets can be reset; a Unix socket is refused with a code.
        if ((error as NodeJS.ErrnoException).code !== 'ERR_INVALID_HANDLE_TYPE') throw error;
        count('resetRefused');
        socket.destroy();
      }
    } else if (r < 0.87) {
      count('op.setTimeout');
      const ms = chance(0.2) ? 0 : 1 + below(40);
      if (chance(0.3) && !endpoint.destroyOnTimeout) {
        // The idle-timeout idiom: the callback destroys the socket.
        endpoint.destroyOnTimeout = true;
        socket.setTimeout(ms, () => {
          count('timeoutDestroys');
          endpoint.disturbed = true;
          socket.destroy();
        });
      } else {
        socket.setTimeout(ms);
      }
    } else if (r < 0.9) {
      count('op.destroyWithError');
      endpoint.disturbed = true;
      socket.destroy(new Error('fuzz: destroyed with an error'));
    } else if (r < 0.92) {
      if (socket instanceof Socket && socket.writableEnded && !socket.destroyed) {
        // Writing after end is an error the socket reports, and then it is destroyed.
        count('op.writeAfterEnd');
        endpoint.disturbed = true;
        socket.write(Buffer.from('late'));
      }
    } else {
      count('op.write');
      for (let i = 0; i < 1 + below(8); i++) write(endpoint, body(endpoint, 1 + below(512)));
    }
  }

  function operateOnMiddle(): void {
    const live = middles.filter((s) => !s.destroyed);
    if (live.length === 0) return;
    const socket = pick(live);
    forwardOf.get(socket)!.disturbed = true;
    count('op.destroyForwarded');
    socket.destroy();
  }

  async function closeAndReplace(): Promise<void> {
    count('op.serverClose');
    const which = below(options.tls ? 5 : 3);
    const entry = [echo, unixEcho, proxy, secureEcho, secureProxy][which]!;
    entry.closed = true;
    entry.server.close();
    if (typeof entry.port === 'number') closedPorts.push(entry.port);
    const onConnection = [onEchoSide, onEchoSide, onProxySide, onSecureEchoSide, onProxySide][which];
    const replacement = await listenReactor(entry.label, onConnection, which === 1, which >= 3);
    if (which === 0) echo = replacement;
    else if (which === 1) unixEcho = replacement;
    else if (which === 2) proxy = replacement;
    else if (which === 3) secureEcho = replacement;
    else secureProxy = replacement;
  }

  const live = (): Endpoint[] => endpoints.filter((e) => !e.socket.destroyed);

  // ---- the run --------------------------------------------------------------
  try {
    return await run();
  } catch (error) {
    for (const w of watched) w.socket.destroy();
    for (const entry of reactorServers) entry.server.close();
    netServer.close();
    adoptServer.close();
    adoptProxyServer.close();
    nodeTlsServer?.close();
    garbageServer?.close();
    pki?.remove();
    for (const timer of timers) clearTimeout(timer);
    throw error;
  }

  async function run(): Promise<FuzzResult> {
    const started = Date.now();
    let operations = 0;
    const keepGoing = (): boolean =>
      options.durationMs !== undefined ? Date.now() - started < options.durationMs : operations < (options.operations ?? 2000);
    while (keepGoing()) {
      while (openSockets < options.sockets) openConnection();
      const burst = 1 + below(24);
      const candidates = live();
      for (let i = 0; i < burst && candidates.length > 0; i++, operations++) {
        const r = random() / 2 ** 32;
        if (r < 0.004) await closeAndReplace();
        else if (r < 0.012) operateOnMiddle();
        else operate(pick(candidates));
      }
      // Let the reactor and libuv run: sometimes only a turn, sometimes a few ms.
      if (chance(0.7)) await new Promise((resolve) => setImmediate(resolve));
      else await new Promise((resolve) => setTimeout(resolve, 1 + below(6)));
      // Sockets left paused too long would hold everything else up; the drain below resumes them anyway.
      if (chance(0.05)) for (const e of live()) if (e.paused && chance(0.5)) e.socket.resume();
    }
    count('operations', operations);
    log(`seed ${options.seed}: ${operations} calls in ${Date.now() - started} ms, settling ${openSockets} sockets`);

    // ---- let everything finish -------------------------------------------------
    for (const timer of timers) clearTimeout(timer);
    for (const e of live()) {
      e.socket.setTimeout(0);
      e.socket.resume();
      e.socket.end();
    }
    const settleBy = Date.now() + (options.settleMs ?? 30000);
    while (openSockets > 0 && Date.now() < settleBy) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const w of watched) {
      if (w.closes === 0) {
        violation(`${w.label}: never emitted 'close' (destroyed=${w.socket.destroyed}, errors: ${w.errorCodes.join(',')}, events: ${w.events.slice(-10).join(',')})`);
        w.socket.destroy();
      }
    }
    // Only servers still open: a second close() emits a second 'close', as in net.
    for (const entry of reactorServers) if (!entry.closed) entry.server.close();
    netServer.close();
    adoptServer.close();
    adoptProxyServer.close();
    nodeTlsServer?.close();
    garbageServer?.close();
    const serversBy = Date.now() + 10000;
    while (reactorServers.some((s) => s.closes === 0) && Date.now() < serversBy) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const entry of reactorServers) {
      if (entry.closes !== 1) violation(`server ${entry.label} :${entry.port} emitted 'close' ${entry.closes} times`);
    }
    for (const record of forwards) if (record.settled !== 1) violation(`a forward() settled ${record.settled} times`);
    fs.rmSync(tmp, { recursive: true, force: true });
    pki?.remove();

    // ---- byte totals -----------------------------------------------------------
    // A forward to an address has no upstream socket to pair its backend by:
    // the backend joins the forward whose client's header it received.
    for (const receiver of endpoints) {
      const record = receiver.peer?.via;
      if (record?.toAddress && record.ends.length === 1 && receiver.via === undefined && receiver.label.startsWith('net-accepted')) {
        joinForward(receiver, record);
        count('addressForwardsPairedByHeader');
      }
    }
    const receiverOf = new Map<Endpoint, Endpoint>();
    for (const e of endpoints) if (e.peer) receiverOf.set(e.peer, e);
    // The headers say who received whom. A pairing by ports can be stale: a
    // client reset frees its port at once, while its old peer, paused, is still
    // open and waiting to be paired. Where header and ports disagree, the header
    // wins if it is consistent with the receiver's own ports (or forward);
    // otherwise bytes crossed between connections.
    for (const receiver of endpoints) {
      const writer = receiver.peer;
      if (!writer || (writer.partner ?? receiver) === receiver && (receiver.partner ?? writer) === writer) continue;
      const sameConnection = receiver.remotePort !== undefined &&
        (writer.localPort === receiver.remotePort || writer.remotePort === receiver.localPort);
      const sameForward = receiver.via !== undefined && receiver.via === writer.via;
      if (!sameConnection && !sameForward) {
        violation(`${receiver.label} received the stream of ${writer.label}, but is connected to ${receiver.partner?.label} (receiver ports ${receiver.localPort}<-${receiver.remotePort}, disturbed ${receiver.disturbed}; writer ports ${writer.localPort}->${writer.remotePort}, via ${writer.via?.how}, writer partner ${writer.partner?.label})`);
        continue;
      }
      count('pairingsCorrectedByHeader');
      for (const stale of [writer.partner, receiver.partner]) if (stale) stale.partner = undefined;
      writer.partner = receiver;
      receiver.partner = writer;
    }
    for (const writer of endpoints) {
      const receiver = writer.partner ?? receiverOf.get(writer);
      const intact =
        !writer.disturbed &&
        (receiver === undefined || !receiver.disturbed) &&
        !writer.via?.disturbed &&
        !receiver?.via?.disturbed;
      if (!intact) {
        count('streamsCut');
        continue;
      }
      if (!receiver) {
        // A Unix socket has no ports to pair it by, and its peer said nothing.
        count('streamsUnpaired');
        continue;
      }
      count('streamsWhole');
      if (writer.label.includes('tls')) count('tlsStreamsWhole');
      if ((writer.via ?? receiver.via)?.toAddress) count('addressForwardStreamsWhole');
      if ((writer.via ?? receiver.via)?.how.includes('+utf8')) count('decodedForwardStreamsWhole');
      if ((writer.via ?? receiver.via)?.how.includes('+corked')) count('corkedForwardStreamsWhole');
      if (!receiver) violation(`${writer.label}: wrote ${writer.written} bytes on an undisturbed connection; no peer received its header`);
      else if (receiver.received !== writer.written) {
        const via = writer.via ?? receiver.via;
        violation(`${writer.label} → ${receiver.label}: wrote ${writer.written}, peer received ${receiver.received} on an undisturbed connection${via ? ` (through a forward: ${via.how})` : ''}`);
      }
    }
    count('sockets', watched.length);
    return { violations, stats };
  }
}
