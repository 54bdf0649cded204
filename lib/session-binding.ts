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

const major = Number(process.versions.node.split('.')[0]);

/** What the releases seen say, used until node's server has answered (and if it cannot). */
export const boundByRelease = major === 22 || major === 24;

let started = false;

/**
 * Tells the addon what node's server does, once per process: at once what
 * the release suggests, then node's own answer when the probe has it (a
 * few milliseconds later; handshakes that start meanwhile follow the release).
 */
export function bindSessionsAsNodeDoes(setBound: (bound: boolean) => void): void {
  if (started) return;
  started = true;
  setBound(boundByRelease);
  probeSessionBinding().then((bound) => {
    if (bound !== undefined && bound !== boundByRelease) setBound(bound);
  }, () => { /* the release's answer stands */ });
}

const probeIdContext = 'epoll-reactor probe';
const probeServername = 'probe.invalid';
const probeCiphers = 'PSK-AES128-GCM-SHA256';

/**
 * Whether node's server binds sessions to the SNI name: true, false, or
 * undefined when it could not tell (PSK or TLS 1.2 refused by the process's
 * OpenSSL settings, an id context of neither shape).
 */
export function probeSessionBinding(): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const sockets: tls.TLSSocket[] = [];
    const finish = (bound: boolean | undefined): void => {
      for (const socket of sockets) socket.destroy();
      resolve(bound);
    };
    try {
      const [serverSide, clientSide] = stream.duplexPair();
      const ticketKeys = randomBytes(48);
      const psk = randomBytes(32);
      const versions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
      const server = new tls.TLSSocket(serverSide, {
        isServer: true,
        secureContext: tls.createSecureContext({ ciphers: probeCiphers, ...versions, sessionIdContext: probeIdContext, ticketKeys } as tls.SecureContextOptions),
        pskCallback: () => psk,
      } as tls.TLSSocketOptions);
      sockets.push(server);
      server.on('error', () => finish(undefined));
      const client = tls.connect({
        socket: clientSide, servername: probeServername, ciphers: probeCiphers, ...versions,
        pskCallback: () => ({ psk, identity: 'probe' }), checkServerIdentity: () => undefined,
      });
      sockets.push(client);
      client.on('error', () => finish(undefined));
      client.once('session', () => finish(boundIn(client.getTLSTicket(), ticketKeys)));
    } catch {
      finish(undefined);
    }
  });
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
