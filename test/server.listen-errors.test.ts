// listen() fails as net's does: bad arguments throw at once with Node's codes,
// and system errors such as EADDRINUSE arrive later as an 'error' event. Each
// case runs the same call against node:net too, so a difference shows.
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { createServer, Server, Socket } from '../lib';
import { checkMustCalls, closeServer, listenLocal, mustCall, readExactly } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

type AnyServer = Server | net.Server;
type Implementation = { name: string; createServer: (...args: unknown[]) => AnyServer };

const implementations: Implementation[] = [
  { name: 'node:net', createServer: (...args) => (net.createServer as (...a: unknown[]) => net.Server)(...args) },
  { name: 'epoll-reactor', createServer: (...args) => (createServer as (...a: unknown[]) => Server)(...args) },
];

interface Thrown {
  threw: boolean;
  code?: string;
  type?: string;
  message?: string;
}

/** What `fn` throws, reduced to what we compare. */
function thrownBy(fn: () => unknown): Thrown {
  try {
    fn();
    return { threw: false };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return { threw: true, code: e.code, type: e.constructor.name, message: e.message };
  }
}

/** Runs `call` against node:net and epoll-reactor; both must throw synchronously with the same code and class. */
function expectSameThrow(call: (impl: Implementation) => unknown, code: string, type: string): void {
  const [reference, ours] = implementations.map((impl) => thrownBy(() => call(impl)));
  expect(reference).toMatchObject({ threw: true, code, type });
  expect({ threw: ours.threw, code: ours.code, type: ours.type }).toEqual({ threw: true, code, type });
}

test("RELIABILITY #40: EADDRINUSE is an 'error' event on a later tick, with net's code, syscall, address, port and errno", async () => {
  const holder = track(net.createServer());
  const port = await listenLocal(holder);

  async function listenOnTakenPort(impl: Implementation): Promise<{ error: NodeJS.ErrnoException; sync: boolean; listening: boolean }> {
    const server = track(impl.createServer());
    server.on('listening', () => { throw new Error(`${impl.name} listened on a taken port`); });
    let synchronous = true;
    const errored = new Promise<{ error: NodeJS.ErrnoException; sync: boolean }>((resolve) => {
      server.once('error', (error: NodeJS.ErrnoException) => resolve({ error, sync: synchronous }));
    });
    expect(() => server.listen(port, '127.0.0.1')).not.toThrow();
    synchronous = false;
    const { error, sync } = await errored;
    return { error, sync, listening: server.listening };
  }

  const reference = await listenOnTakenPort(implementations[0]);
  const ours = await listenOnTakenPort(implementations[1]);
  expect(reference.error.code).toBe('EADDRINUSE');

  expect(ours.sync).toBe(false);
  expect(ours.listening).toBe(false);
  expect(ours.error).toBeInstanceOf(Error);
  expect(ours.error.code).toBe('EADDRINUSE');
  expect(ours.error.syscall).toBe('listen');
  expect(ours.error.errno).toBeLessThan(0);
  expect((ours.error as NodeJS.ErrnoException & { address?: string }).address).toBe('127.0.0.1');
  expect((ours.error as NodeJS.ErrnoException & { port?: number }).port).toBe(port);
  const fields = (e: NodeJS.ErrnoException): Record<string, unknown> => ({
    code: e.code,
    syscall: e.syscall,
    errno: e.errno,
    address: (e as { address?: string }).address,
    port: (e as { port?: number }).port,
    message: e.message,
  });
  expect(fields(ours.error)).toEqual(fields(reference.error));

  await closeServer(holder);
}, 10000);

test('listen on a Unix socket path: echo through it, address() is the path, the file is gone after close', async () => {
  async function serveOnPath(impl: Implementation, socketPath: string): Promise<{ address: unknown; echoed: string; existsInClose: boolean; existsLater: boolean }> {
    const server = track(impl.createServer(mustCall((socket: Socket | net.Socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    })));
    server.listen(socketPath);
    await once(server as net.Server, 'listening');
    const address = server.address();
    expect(fs.statSync(socketPath).isSocket()).toBe(true);

    const client = track(net.connect(socketPath));
    await once(client, 'connect');
    client.write('through a path');
    const echoed = (await readExactly(client, 14)).toString();
    client.end();
    await once(client, 'close');

    const existsInClose = await new Promise<boolean>((resolve, reject) => {
      server.close((error?: Error) => (error ? reject(error) : resolve(fs.existsSync(socketPath))));
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { address, echoed, existsInClose, existsLater: fs.existsSync(socketPath) };
  }

  const base = path.join(os.tmpdir(), `epoll-reactor-${process.pid}-${Date.now()}`);
  const reference = await serveOnPath(implementations[0], `${base}-net.sock`);
  expect(reference).toEqual({ address: `${base}-net.sock`, echoed: 'through a path', existsInClose: false, existsLater: false });

  const socketPath = `${base}-ours.sock`;
  try {
    const ours = await serveOnPath(implementations[1], socketPath);
    expect(ours.address).toBe(socketPath);
    expect(ours.echoed).toBe('through a path');
    // Removed for good...
    expect(ours.existsLater).toBe(false);
    // ...and, as with net, already by the time close() calls back.
    expect(ours.existsInClose).toBe(false);
  } finally {
    fs.rmSync(socketPath, { force: true });
  }
}, 10000);

test('RELIABILITY #40: listen(-1) and listen(65536) throw ERR_SOCKET_BAD_PORT (RangeError), as net does', () => {
  expectSameThrow((impl) => impl.createServer().listen(-1), 'ERR_SOCKET_BAD_PORT', 'RangeError');
  expectSameThrow((impl) => impl.createServer().listen(65536), 'ERR_SOCKET_BAD_PORT', 'RangeError');
  expectSameThrow((impl) => impl.createServer().listen(-1, '127.0.0.1'), 'ERR_SOCKET_BAD_PORT', 'RangeError');
  expectSameThrow((impl) => impl.createServer().listen({ port: 65536, host: '127.0.0.1' }), 'ERR_SOCKET_BAD_PORT', 'RangeError');
});

test('listen({ port: true }) throws ERR_INVALID_ARG_VALUE (TypeError), as net does', () => {
  expectSameThrow((impl) => impl.createServer().listen({ port: true } as never), 'ERR_INVALID_ARG_VALUE', 'TypeError');
});

test("RELIABILITY #40: createServer('x') throws ERR_INVALID_ARG_TYPE (TypeError), as net does", () => {
  expectSameThrow((impl) => impl.createServer('x'), 'ERR_INVALID_ARG_TYPE', 'TypeError');
});

test('listen() on a listening server throws ERR_SERVER_ALREADY_LISTEN, as net does, and the server keeps listening', async () => {
  const results: Thrown[] = [];
  for (const impl of implementations) {
    const server = track(impl.createServer());
    const port = await listenLocal(server);
    results.push(thrownBy(() => server.listen(0, '127.0.0.1')));
    expect(server.listening).toBe(true);
    expect((server.address() as net.AddressInfo).port).toBe(port);
    await closeServer(server);
  }
  const [reference, ours] = results;
  expect(reference).toMatchObject({ threw: true, code: 'ERR_SERVER_ALREADY_LISTEN', type: 'Error' });
  expect({ threw: ours.threw, code: ours.code, type: ours.type }).toEqual({ threw: true, code: 'ERR_SERVER_ALREADY_LISTEN', type: 'Error' });
}, 10000);
