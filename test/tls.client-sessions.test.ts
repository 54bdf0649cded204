// A TLS client's sessions, as tls.connect's: the 'session' event (after
// 'secureConnect', once per session the server issues), getSession(), and
// the `session` option that resumes one. Sessions are node's bytes
// (i2d_SSL_SESSION), so a session saved by either client resumes on the other.
// Each case runs tls.connect beside connect({ tls }) against the same server.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as tls from 'node:tls';

import { connect, createSecureServer, createServer, forward, SecureSocket, Socket } from '../lib';
import { listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

type Version = 'TLSv1.2' | 'TLSv1.3';
type ServerKind = 'node:tls' | 'reactor';
type ClientKind = 'tls.connect' | 'reactor';

/** A server of either kind that greets and ends each connection; its port. */
async function greetingServer(kind: ServerKind, version: Version): Promise<number> {
  const options = { key: pki.serverKey, cert: pki.serverCert, maxVersion: version };
  const greet = (socket: tls.TLSSocket | SecureSocket): void => {
    socket.on('error', () => {});
    socket.end('hello');
  };
  const server = kind === 'node:tls' ? tls.createServer(options, greet) : createSecureServer(options, greet);
  return listenLocal(track(server));
}

interface SessionSetter {
  setSession(session: unknown): void;
}

interface Visit {
  /** 'secureConnect' and 'session' in the order they came. */
  order: string[];
  sessions: Buffer[];
  atSecureConnect: Buffer | undefined | null;
  atClose: Buffer | undefined | null;
  reused: boolean;
  greeting: string;
}

/**
 * One connection to `port` by the given client, offering `session` (as the
 * option, or with setSession() in the tick of the connect when `set`); what
 * it saw until 'close'.
 */
async function visit(client: ClientKind, port: number, session?: unknown, set = false): Promise<Visit> {
  const options = { host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost', session: set ? undefined : session } as tls.ConnectionOptions;
  const socket = track(client === 'tls.connect' ? tls.connect(options)
    : connect({ host: '127.0.0.1', port, tls: options as never }) as SecureSocket);
  // TLSSocket's setSession() is not in @types/node.
  if (set) (socket as unknown as SessionSetter).setSession(session);
  const result: Visit = { order: [], sessions: [], atSecureConnect: undefined, atClose: undefined, reused: false, greeting: '' };
  socket.on('secureConnect', () => {
    result.order.push('secureConnect');
    result.atSecureConnect = socket.getSession() as Buffer | undefined;
    result.reused = socket.isSessionReused();
  });
  socket.on('session', (saved: Buffer) => {
    result.order.push('session');
    result.sessions.push(saved);
  });
  socket.on('data', (chunk: Buffer) => { result.greeting += chunk.toString(); });
  socket.on('end', () => socket.end());
  await once(socket, 'close');
  result.atClose = socket.getSession() as Buffer | undefined | null;
  return result;
}

describe.each(['TLSv1.2', 'TLSv1.3'] as const)('%s', (version) => {
  test.each(['node:tls', 'reactor'] as const)('%s server: the same session events in the same order as tls.connect', async (serverKind) => {
    const port = await greetingServer(serverKind, version);
    const [theirs, ours] = await Promise.all([visit('tls.connect', port), visit('reactor', port)]);
    expect(ours.greeting).toBe('hello');
    expect(ours.order).toEqual(theirs.order);
    // TLS 1.3 servers send two tickets after the handshake; TLS 1.2 issues one in it.
    expect(ours.sessions).toHaveLength(version === 'TLSv1.3' ? 2 : 1);
    expect(ours.order[0]).toBe('secureConnect');
    // getSession() has the handshake's session from 'secureConnect' on, and
    // nothing once the socket is destroyed.
    expect(Buffer.isBuffer(ours.atSecureConnect)).toBe(true);
    expect(theirs.atClose).toBeNull();
    expect(ours.atClose).toBeNull();
    expect(ours.reused).toBe(false);
  });

  test.each([
    ['reactor', 'reactor', 'node:tls'], ['reactor', 'reactor', 'reactor'],
    ['tls.connect', 'reactor', 'node:tls'], ['reactor', 'tls.connect', 'node:tls'],
    ['tls.connect', 'reactor', 'reactor'], ['reactor', 'tls.connect', 'reactor'],
  ] as const)('a session saved by %s resumes on %s against a %s server', async (saver, resumer, serverKind) => {
    const port = await greetingServer(serverKind, version);
    const first = await visit(saver, port);
    const saved = first.sessions[first.sessions.length - 1];
    const second = await visit(resumer, port, saved);
    expect(second.reused).toBe(true);
    expect(second.greeting).toBe('hello');
  });
});

test('getSession() follows the newest session: a resumable one once the server issued it', async () => {
  const port = await greetingServer('reactor', 'TLSv1.3');
  const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })) as SecureSocket;
  expect(socket.getSession()).toBeUndefined();
  const sessions: Buffer[] = [];
  let afterSession: Buffer | undefined | null;
  socket.on('session', (saved: Buffer) => { sessions.push(saved); afterSession = socket.getSession(); });
  socket.resume();
  await once(socket, 'end');
  expect(afterSession).toEqual(sessions[sessions.length - 1]);
  socket.destroy();
  expect(socket.getSession()).toBeNull();
  // What getSession() gave resumes.
  expect((await visit('reactor', port, afterSession)).reused).toBe(true);
});

/** How a connection with these options and `session` ends: resumed, a full handshake, or its error's code. */
async function resumption(kind: ClientKind, port: number, options: tls.ConnectionOptions, session: unknown): Promise<string> {
  const all = { host: '127.0.0.1', port, ca: pki.caCert, ...options, session } as tls.ConnectionOptions;
  const socket = track(kind === 'tls.connect' ? tls.connect(all) : connect({ host: '127.0.0.1', port, tls: all as never }));
  return new Promise((resolve) => {
    socket.once('secureConnect', () => {
      resolve((socket as tls.TLSSocket).isSessionReused() ? 'resumed' : 'full handshake');
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

test('a session is offered only as tls.connect offers it: for the identity it was verified for, raw bytes only where node takes them', async () => {
  const port = await greetingServer('reactor', 'TLSv1.3');
  const saved = (await visit('reactor', port)).sessions[1];
  // Where node wraps sessions with the identity (Node 22.23, 24.22, 26.12),
  // the DER starts after it; Node 20 hands out the DER itself.
  const prefix = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');
  const wrapped = saved.subarray(0, prefix.length).equals(prefix);
  expect(wrapped).toBe(tls.TLSSocket.prototype.getSession.toString().includes('wrapSessionState'));
  const raw = wrapped ? saved.subarray(prefix.length + 2 + saved.readUInt16BE(prefix.length)) : saved;
  const cases: Array<[tls.ConnectionOptions, unknown]> = [
    [{ servername: 'localhost' }, saved],
    // Another identity: 127.0.0.1, for which the certificate is not valid.
    [{}, saved],
    [{ servername: 'localhost' }, raw],
    [{ servername: 'localhost' }, new Uint8Array(raw)],
    [{ servername: 'localhost', rejectUnauthorized: false }, raw],
    [{ servername: 'localhost' }, saved.toString('latin1')],
  ];
  for (const [options, session] of cases) {
    const theirs = await resumption('tls.connect', port, options, session).catch((error: Error) => `throws ${error.message}`);
    const ours = await resumption('reactor', port, options, session).catch((error: Error) => `throws ${error.message}`);
    expect({ options, ours }).toEqual({ options, ours: theirs });
  }
});

test('bytes that are no session are ignored, as tls.connect ignores them: a full handshake', async () => {
  const port = await greetingServer('reactor', 'TLSv1.3');
  for (const junk of [Buffer.from('junk'), Buffer.alloc(0), new Uint8Array(40), new DataView(new ArrayBuffer(8))]) {
    const [theirs, ours] = await Promise.all([visit('tls.connect', port, junk), visit('reactor', port, junk)]);
    expect(ours.reused).toBe(theirs.reused);
    expect(ours.reused).toBe(false);
    expect(ours.greeting).toBe('hello');
  }
});

test('a session that is not a buffer throws what tls.connect throws, before any connection', async () => {
  let accepted = 0;
  const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    accepted += 1;
    socket.destroy();
  }));
  const port = await listenLocal(server);
  for (const value of [42, true, {}, [1, 2], new ArrayBuffer(4), 'a string']) {
    let theirs: unknown;
    let ours: unknown;
    try {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, session: value as never });
      track(socket).on('error', () => {});
      socket.destroy();
    } catch (error) {
      theirs = error;
    }
    try {
      track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, session: value as never } })).destroy();
    } catch (error) {
      ours = error;
    }
    // A string is latin1 bytes on Node 22 and later, an error on Node 20.
    expect(ours === undefined).toBe(theirs === undefined);
    if (theirs !== undefined) {
      expect(ours).toBeInstanceOf(TypeError);
      expect((ours as Error).message).toBe((theirs as Error).message);
      expect((ours as NodeJS.ErrnoException).code).toBe((theirs as NodeJS.ErrnoException).code);
    }
  }
  // Falsy values offer no session, as tls.connect.
  for (const value of [null, undefined, '', 0, false]) {
    const ours = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost', session: value as never } }));
    ours.on('error', () => {});
    await once(ours, 'close');
  }
  expect(accepted).toBe(5);
});

describe('setSession()', () => {
  test.each(['TLSv1.2', 'TLSv1.3'] as const)('%s: called in the tick of the connect, it offers the session, as TLSSocket\'s', async (version) => {
    const port = await greetingServer('node:tls', version);
    const saved = (await visit('reactor', port)).sessions.at(-1)!;
    const [theirs, ours] = await Promise.all([visit('tls.connect', port, saved, true), visit('reactor', port, saved, true)]);
    expect(theirs.reused).toBe(true);
    expect(ours).toMatchObject({ reused: true, greeting: 'hello' });
    // In place of the option's: a session given both ways resumes the set one.
    const socket = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost', session: Buffer.from('junk') } }) as SecureSocket);
    socket.setSession(saved);
    await once(socket, 'secureConnect');
    expect(socket.isSessionReused()).toBe(true);
  });

  test('bytes that are no session, and a session set once the handshake has begun, mean a full handshake', async () => {
    const port = await greetingServer('reactor', 'TLSv1.3');
    const saved = (await visit('reactor', port)).sessions.at(-1)!;
    for (const junk of [Buffer.from('junk'), new Uint8Array(40), 'a string']) {
      const [theirs, ours] = await Promise.all([visit('tls.connect', port, junk, true), visit('reactor', port, junk, true)]);
      expect(ours.reused).toBe(theirs.reused);
      expect(ours).toMatchObject({ reused: false, greeting: 'hello' });
    }
    const late = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } }) as SecureSocket);
    const secured = once(late, 'secureConnect');
    await once(late, 'connect');
    late.setSession(saved);
    await secured;
    expect(late.isSessionReused()).toBe(false);
  });

  test('anything but a buffer throws what TLSSocket\'s throws, on clients and servers alike', async () => {
    const port = await greetingServer('reactor', 'TLSv1.3');
    const theirs = track(tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, servername: 'localhost' }));
    const ours = track(connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } }));
    theirs.on('error', () => {});
    ours.on('error', () => {});
    let serverSide: SecureSocket | undefined;
    const server = track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => { serverSide = socket; }));
    const serverPort = await listenLocal(server);
    const visitor = track(tls.connect({ host: '127.0.0.1', port: serverPort, ca: pki.caCert, servername: 'localhost' }));
    visitor.on('error', () => {});
    await waitFor(() => serverSide !== undefined);
    for (const value of [42, true, {}, [1, 2], new ArrayBuffer(4), undefined, null, 0]) {
      const outcome = (socket: unknown): string => {
        try {
          (socket as SessionSetter).setSession(value);
          return 'ok';
        } catch (error) {
          return `${(error as Error).name} ${(error as NodeJS.ErrnoException).code} ${(error as Error).message}`;
        }
      };
      const expected = outcome(theirs);
      expect({ value, ours: outcome(ours) }).toEqual({ value, ours: expected });
      expect({ value, server: outcome(serverSide!) }).toEqual({ value, server: expected });
    }
  });
});

/** A node:tls server that greets and ends each connection, noting the SNI name each one sent in `namesSeen`. */
function namingServer(namesSeen: Array<string | false>): tls.Server {
  return track(tls.createServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    namesSeen.push((socket as unknown as { servername: string | false }).servername);
    socket.on('error', () => {});
    socket.end('hello');
  }));
}

/**
 * For each client kind, connects with `open` three times, calling
 * setSession() and setServername() in the tick of the connect: the first
 * connection's session must resume the second, and the third's name must be
 * the one the server saw, as with TLSSocket.
 */
async function expectTickSettingsReachClientHello(namesSeen: Array<string | false>,
  open: (client: ClientKind) => tls.TLSSocket | SecureSocket): Promise<void> {
  /** One connection: its sessions, whether it resumed, the name the server saw. */
  const visit = async (client: ClientKind, session?: Buffer, servername?: string) => {
    const socket = track(open(client));
    if (session !== undefined) (socket as unknown as SessionSetter).setSession(session);
    if (servername !== undefined) (socket as unknown as { setServername(name: string): void }).setServername(servername);
    const sessions: Buffer[] = [];
    let reused = false;
    socket.on('session', (saved: Buffer) => sessions.push(saved));
    socket.on('secureConnect', () => { reused = socket.isSessionReused(); });
    socket.resume();
    socket.on('end', () => socket.end());
    await once(socket, 'close');
    return { sessions, reused, servername: namesSeen.at(-1) };
  };
  for (const client of ['tls.connect', 'reactor'] as const) {
    const saved = (await visit(client)).sessions.at(-1);
    expect(saved).toBeInstanceOf(Buffer);
    expect({ client, resumed: (await visit(client, saved)).reused }).toEqual({ client, resumed: true });
    expect({ client, name: (await visit(client, undefined, 'other.example')).servername })
      .toEqual({ client, name: 'other.example' });
  }
}

test('to a Unix path too, setSession() and setServername() in the tick of the connect reach the ClientHello, as TLSSocket\'s', async () => {
  const path = `${os.tmpdir()}/epoll-reactor-sessions-${process.pid}-${Date.now()}.sock`;
  const namesSeen: Array<string | false> = [];
  const server = namingServer(namesSeen);
  let connections = 0;
  server.on('connection', () => { connections += 1; });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    await expectTickSettingsReachClientHello(namesSeen, (client) => (client === 'tls.connect'
      ? tls.connect({ path, ca: pki.caCert, servername: 'localhost' })
      : connect({ path, tls: { ca: pki.caCert, servername: 'localhost' } }) as SecureSocket));
    // The start waits for the next tick: a socket destroyed before it never connects.
    const made = connections;
    const gone = track(connect({ path, tls: { ca: pki.caCert, servername: 'localhost' } }));
    gone.on('error', () => { throw new Error('no error was expected'); });
    gone.destroy();
    await once(gone, 'close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(connections).toBe(made);
  } finally {
    fs.rmSync(path, { force: true });
  }
});

test('a server that fails verification gives no session, as tls.connect', async () => {
  const port = await greetingServer('reactor', 'TLSv1.3');
  for (const kind of ['tls.connect', 'reactor'] as const) {
    // No ca: the test CA is not trusted, so the handshake's verdict fails.
    const options = { host: '127.0.0.1', port, servername: 'localhost' };
    const socket = track(kind === 'tls.connect' ? tls.connect(options) : connect({ ...options, tls: { servername: 'localhost' } }));
    let sessions = 0;
    socket.on('session', () => { sessions += 1; });
    const [error] = await once(socket, 'error') as [NodeJS.ErrnoException];
    expect(error.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    await once(socket, 'close');
    expect(sessions).toBe(0);
  }
});

/** openssl s_server (reversing each line) issuing `tickets` TLS 1.3 tickets per handshake; its port. */
async function ticketFloodServer(tickets: number): Promise<number> {
  const child = track(spawn('/usr/bin/openssl', ['s_server', '-accept', '127.0.0.1:0', '-cert', pki.paths.serverCert,
    '-key', pki.paths.serverKey, '-rev', '-tls1_3', '-num_tickets', String(tickets), '-naccept', '2'],
  { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => { output += chunk; });
  await waitFor(() => /ACCEPT 127\.0\.0\.1:\d+/.test(output), 20_000, 's_server to listen');
  return Number(/ACCEPT 127\.0\.0\.1:(\d+)/.exec(output)![1]);
}

test('a server that issues 20,000 tickets while JS is busy: the newest sessions reach JS, the bytes flow, the last one resumes', async () => {
  const port = await ticketFloodServer(20_000);
  const options = { host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } };
  const socket = track(connect(options)) as SecureSocket;
  let sessions = 0;
  let newest: Buffer | undefined;
  socket.on('session', (saved: Buffer) => { sessions += 1; newest = saved; });
  await once(socket, 'secureConnect');
  // JS stalls while the tickets arrive: the reactor keeps a reference to the
  // newest few, not a copy of each, and what it reports meets the flow caps.
  const until = Date.now() + 300;
  while (Date.now() < until);
  let reply = '';
  socket.on('data', (chunk: Buffer) => { reply += chunk.toString(); });
  socket.write('sessions\n');
  await waitFor(() => reply.includes('\n'), 20_000, 'the reversed line');
  expect(reply).toBe('snoisses\n');
  expect(sessions).toBeGreaterThan(0);
  socket.destroy();
  const resumed = track(connect({ ...options, tls: { ...options.tls, session: newest } })) as SecureSocket;
  await once(resumed, 'secureConnect');
  expect(resumed.isSessionReused()).toBe(true);
  resumed.destroy();
});

/**
 * A relay to `target` that delays each direction by `delayMs`; its port.
 * With `sliceBytes`, what the server sends goes on in slices of that size,
 * `delayMs` apart, so its records arrive over many reads.
 */
async function slowPath(target: number, delayMs: number, sliceBytes = 0): Promise<number> {
  const relay = track(net.createServer((inbound) => {
    const outbound = track(net.connect(target, '127.0.0.1'));
    for (const [from, to] of [[inbound, outbound], [outbound, inbound]] as const) {
      const slice = from === outbound ? sliceBytes : 0;
      let due = 0;  // when the last slice goes, so that the order holds
      const send = (bytes: Buffer | null): void => {
        due = Math.max(due, Date.now()) + delayMs;
        setTimeout(() => (bytes === null ? to.end() : to.write(bytes)), due - Date.now());
      };
      from.on('data', (chunk: Buffer) => {
        if (slice === 0) send(chunk);
        else for (let at = 0; at < chunk.length; at += slice) send(chunk.subarray(at, at + slice));
      });
      from.on('end', () => send(null));
      from.on('error', () => to.destroy());
    }
  }));
  return listenLocal(relay);
}

test('a forwarded client reports the sessions its forward read, at most 4 over its life, and the newest resumes', async () => {
  // 50 tickets (about 250 bytes each), arriving after the handshake in
  // 200-byte slices 10 ms apart: the forward reads them over many pumps.
  const port = await slowPath(await ticketFloodServer(50), 10, 200);
  let accepted: Socket | undefined;
  const local = await listenLocal(track(createServer((socket) => { accepted = socket; })));
  const client = track(net.connect(local, '127.0.0.1'));
  await waitFor(() => accepted !== undefined, 10_000, 'the plain connection');
  const options = { host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } };
  const upstream = track(connect(options)) as SecureSocket;
  const sessions: Buffer[] = [];
  upstream.on('session', (saved: Buffer) => sessions.push(saved));
  await once(upstream, 'secureConnect');
  expect(sessions).toHaveLength(0);  // every ticket is the forward's to read
  const done = forward(accepted!, upstream);
  let reply = '';
  client.on('data', (chunk: Buffer) => { reply += chunk.toString(); });
  client.write('forwarded\n');
  await waitFor(() => reply === 'dedrawrof\n', 20_000, 'the reversed line through the forward');
  client.end();
  await done;
  expect(sessions.length).toBeGreaterThan(0);
  expect(sessions.length).toBeLessThanOrEqual(4);
  const resumed = track(connect({ ...options, tls: { ...options.tls, session: sessions[sessions.length - 1] } })) as SecureSocket;
  await once(resumed, 'secureConnect');
  expect(resumed.isSessionReused()).toBe(true);
  resumed.destroy();
});

test('a client that writes before its tickets arrive still gets them (TLS 1.3 over a 30 ms path)', async () => {
  const target = await listenLocal(track(createSecureServer({ key: pki.serverKey, cert: pki.serverCert }, (socket) => {
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  })));
  // The tickets the server sends after the handshake reach the client after its first write left.
  const port = await slowPath(target, 30);
  const options = { host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } };
  for (const kind of ['tls.connect', 'reactor'] as const) {
    const socket = track(kind === 'tls.connect' ? tls.connect({ ...options, ...options.tls }) : connect(options));
    let sessions = 0;
    socket.on('session', () => { sessions += 1; });
    socket.write('request');  // released right after the handshake
    let reply = '';
    socket.on('data', (chunk: Buffer) => { reply += chunk.toString(); });
    await waitFor(() => reply === 'request', 10_000, `${kind}'s echo`);
    await waitFor(() => sessions === 2, 10_000, `${kind}'s two sessions`);
    socket.destroy();
  }
});

test('with a custom lookup that answers at once, setSession() and setServername() in the tick of the connect reach the ClientHello, as TLSSocket\'s', async () => {
  const namesSeen: Array<string | false> = [];
  const port = await listenLocal(namingServer(namesSeen) as never);
  const lookup = ((_host: string, options: { all?: boolean }, callback: (...answer: unknown[]) => void): void => {
    if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  }) as never;
  await expectTickSettingsReachClientHello(namesSeen, (client) => (client === 'tls.connect'
    ? tls.connect({ host: 'server.test', port, lookup, ca: pki.caCert, servername: 'localhost' })
    : connect({ host: 'server.test', port, lookup, tls: { ca: pki.caCert, servername: 'localhost' } }) as SecureSocket));
});
