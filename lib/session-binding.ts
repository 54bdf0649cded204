// Whether node's own TLS server binds each session to the SNI name it was
// made under, so that a reactor TLS server does what node's would on the
// node that runs (src-native/tls_context.h SetSessionsBoundToServername).
//
// Where it does, a session resumes only under the same name: the session id
// context is SHA-256(sessionIdContext, a 0 byte, the name or '' without
// one), and the name is acknowledged and kept in the session, so a resumed
// TLS 1.2 connection still reports its servername. Seen on Node 22.23.5 and
// 24.22.3; not on 20.20.2 or 26.12.1. The change is in node's C++, with no
// sign of it in node's JS, so node's server is asked: an in-memory TLS 1.2
// handshake (PSK, so that no certificate is needed) under ticket keys known
// here, whose ticket is opened to read the id context the session carries.
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as stream from 'node:stream';
import * as tls from 'node:tls';

import { nodeOptionValue } from './node-options';

/** Whether `version` (process.versions.node) is `major`.`minor`.`patch` or a later one of that major. */
function atLeast(version: string, major: number, minor: number, patch: number): boolean {
  const [ma, mi, pa] = version.split('.').map(Number);
  return ma === major && (mi > minor || (mi === minor && pa >= patch));
}

/**
 * What the releases seen say (22.23.5 and 24.22.3 bind; 20.20.2 and 26.12.1
 * do not), used until node's server has answered, and if it cannot. Earlier
 * patch releases of 22 and 24 are taken not to bind, as node did before.
 */
export function boundByRelease(version = process.versions.node): boolean {
  return atLeast(version, 22, 23, 5) || atLeast(version, 24, 22, 3);
}

let started = false;

/**
 * Tells the addon what node's server does, once per JS thread: at once what
 * the release suggests (which the addon takes only if nothing was set yet:
 * another thread's probe may have answered), then node's own answer (a few
 * milliseconds later; handshakes that start meanwhile follow the release).
 */
export function bindSessionsAsNodeDoes(setBound: (bound: boolean, probed: boolean) => void): void {
  if (started) return;
  started = true;
  setBound(boundByRelease(), false);
  // node logs every TLSSocket's keys under --tls-keylog, the probe's too,
  // with a warning: a process that only serves with the reactor would get
  // both from the probe alone. There the release decides.
  if (nodeOptionValue('--tls-keylog') !== undefined) return;
  probeSessionBinding().then((bound) => {
    if (bound !== undefined) setBound(bound, true);
  }, () => { /* the release's answer stands */ });
}

const probeIdContext = 'epoll-reactor probe';
const probeServername = 'probe.invalid';
const probeCiphers = 'PSK-AES128-GCM-SHA256';

/**
 * Whether node's server binds sessions to the SNI name: true, false, or
 * undefined when it could not tell (PSK or TLS 1.2 refused by the process's
 * OpenSSL settings, an id context of neither shape). Both ends are bare
 * TLSSockets over an in-memory pair: tls.connect would warn about
 * NODE_TLS_REJECT_UNAUTHORIZED=0 in a process that makes no connection, and
 * neither end traces under --trace-tls.
 */
export function probeSessionBinding(): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const sockets: tls.TLSSocket[] = [];
    let done = false;
    const finish = (bound: boolean | undefined): void => {
      if (done) return;
      done = true;
      for (const socket of sockets) socket.destroy();
      resolve(bound);
    };
    try {
      const [serverSide, clientSide] = crossedPair();
      const ticketKeys = randomBytes(48);
      const psk = randomBytes(32);
      const versions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
      const server = new tls.TLSSocket(serverSide, {
        isServer: true, enableTrace: false, pskCallback: () => psk,
        secureContext: tls.createSecureContext({ ciphers: probeCiphers, ...versions, sessionIdContext: probeIdContext, ticketKeys } as tls.SecureContextOptions),
      } as tls.TLSSocketOptions);
      const client = new tls.TLSSocket(clientSide, {
        isServer: false, enableTrace: false, pskCallback: () => ({ psk, identity: 'probe' }),
        secureContext: tls.createSecureContext({ ciphers: probeCiphers, ...versions }),
      } as tls.TLSSocketOptions);
      sockets.push(server, client);
      for (const socket of sockets) {
        socket.on('error', () => finish(undefined));
        socket.on('close', () => finish(undefined));
      }
      // TLS 1.2 sends the ticket before the server's Finished: it is in the
      // client's session once the handshake is done.
      client.once('secure', () => finish(boundIn(client.getTLSTicket(), ticketKeys)));
      // What tls.connect does to name the server and begin the handshake on a given socket.
      const starting = client as unknown as { setServername(name: string): void; _start(): void };
      starting.setServername(probeServername);
      starting._start();
    } catch {
      finish(undefined);
    }
  });
}

/** Two Duplex streams, each reading what the other writes (stream.duplexPair, which Node 20 lacks before 20.17). */
function crossedPair(): [stream.Duplex, stream.Duplex] {
  const ends: stream.Duplex[] = [];
  for (let i = 0; i < 2; i++) {
    ends.push(new stream.Duplex({
      read() { /* pushed by the other end's write */ },
      write(chunk: Buffer, _encoding, callback) {
        ends[1 - i].push(chunk);
        callback();
      },
      final(callback) {
        ends[1 - i].push(null);
        callback();
      },
    }));
  }
  return [ends[0], ends[1]];
}

/** Reads the ticket node's server made under `keys` (its layout: name, IV, AES-128-CBC session, HMAC-SHA256). */
function boundIn(ticket: Buffer | undefined, keys: Buffer): boolean | undefined {
  if (ticket === undefined || ticket.length < 64 || !ticket.subarray(0, 16).equals(keys.subarray(0, 16))) return undefined;
  let session: Buffer;
  try {
    const decipher = createDecipheriv('aes-128-cbc', keys.subarray(32, 48), ticket.subarray(16, 32));
    session = Buffer.concat([decipher.update(ticket.subarray(32, ticket.length - 32)), decipher.final()]);
  } catch {
    return undefined;
  }
  const idContext = sessionIdContextOf(session);
  if (idContext === undefined) return undefined;
  if (idContext.equals(Buffer.from(probeIdContext))) return false;
  const bound = createHash('sha256').update(`${probeIdContext}\0${probeServername}`).digest();
  return idContext.equals(bound) ? true : undefined;
}

/** The sid_ctx of an OpenSSL SSL_SESSION's DER: the OCTET STRING in its [4] field. */
function sessionIdContextOf(der: Buffer): Buffer | undefined {
  const outer = derElement(der, 0);
  if (outer === undefined || outer.tag !== 0x30) return undefined;
  for (let at = outer.start; at < outer.end;) {
    const field = derElement(der, at);
    if (field === undefined || field.end > outer.end) return undefined;
    if (field.tag === 0xa4) {
      const value = derElement(der, field.start);
      return value !== undefined && value.tag === 0x04 && value.end === field.end ? der.subarray(value.start, value.end) : undefined;
    }
    at = field.end;
  }
  return undefined;
}

/** The DER element at `at`: its tag and where its contents start and end; undefined if it does not fit. */
function derElement(der: Buffer, at: number): { tag: number; start: number; end: number } | undefined {
  if (at + 2 > der.length) return undefined;
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3 || start + bytes > der.length) return undefined;
    length = der.readUIntBE(start, bytes);
    start += bytes;
  }
  return start + length <= der.length ? { tag, start, end: start + length } : undefined;
}
