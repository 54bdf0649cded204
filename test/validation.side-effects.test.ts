// Bad arguments to the public functions throw Node-style errors before any
// side effect (issue 12 item 20): the objects passed in stay fully usable.
// adopt() and forward() have their own cases in adopt.edges.test.ts and
// forward.edges.test.ts.
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';

import { adoptServer, configure, createServer, serveHttp, serveOnWorkers } from '../lib';
import { closeServer, listenLocal } from './helpers';
import { poolEchoModule } from './helpers/pool';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

function codeOf(action: () => unknown): string | undefined {
  try {
    const result = action();
    // A call that wrongly went through may have started something: stop it.
    if (result instanceof Promise) {
      result.then((pool: { close(grace: number): Promise<void> }) => pool.close(0), () => undefined);
    }
    return 'no error';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? `codeless ${(error as Error).name}`;
  }
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('serveHttp(): bad arguments throw with codes and leave the http.Server untouched and servable', async () => {
  const httpServer = http.createServer((_request, response) => response.end('served'));
  const listenersBefore = httpServer.eventNames().map((name) => [name, httpServer.listenerCount(name)]);
  expect([
    codeOf(() => serveHttp({} as never)),
    codeOf(() => serveHttp(null as never)),
    codeOf(() => serveHttp(httpServer, null as never)),
    codeOf(() => serveHttp(httpServer, { port: -1 })),
    codeOf(() => serveHttp(httpServer, { port: 0, host: 5 as never })),
    codeOf(() => serveHttp(httpServer, { port: 0, highWaterMark: 1.5 })),
  ]).toEqual(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_SOCKET_BAD_PORT',
    'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE']);
  expect(httpServer.eventNames().map((name) => [name, httpServer.listenerCount(name)])).toEqual(listenersBefore);
  const server = track(serveHttp(httpServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  expect(await get((server.address() as net.AddressInfo).port)).toBe('served');
  await closeServer(server);
});

test('createServer(): bad options throw with codes', () => {
  const listener = (): void => undefined;
  // net accepts -1 (the default), and throws on 1.5 or NaN only once a connection's stream is made.
  expect(codeOf(() => createServer({ highWaterMark: 1.5 }, listener))).toBe('ERR_OUT_OF_RANGE');
  expect(codeOf(() => createServer({ highWaterMark: 'x' as never }, listener))).toBe('ERR_INVALID_ARG_TYPE');
  expect(codeOf(() => createServer({ keepAliveInitialDelay: '1' as never }, listener))).toBe('ERR_INVALID_ARG_TYPE');
  expect(codeOf(() => createServer(5 as never))).toBe('ERR_INVALID_ARG_TYPE');
});

test('serveOnWorkers(): bad options throw synchronously, with codes, and start no worker', () => {
  expect([
    codeOf(() => serveOnWorkers(null as never)),
    codeOf(() => serveOnWorkers({ module: 5 as never })),
    codeOf(() => serveOnWorkers({ module: poolEchoModule, workers: 0 })),
    codeOf(() => serveOnWorkers({ module: poolEchoModule, workers: 1, mode: 'toString' as never })),
    codeOf(() => serveOnWorkers({ module: poolEchoModule, workers: 1, port: 70000 })),
    codeOf(() => serveOnWorkers({ module: poolEchoModule, workers: 1, execArgv: [5] as never })),
  ]).toEqual(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_VALUE',
    'ERR_SOCKET_BAD_PORT', 'ERR_INVALID_ARG_TYPE']);
});

test('configure(): bad options throw with codes', () => {
  expect([
    codeOf(() => configure(null as never)),
    codeOf(() => configure({ trigger: 'toString' as never })),
    codeOf(() => configure({ drain: 'never' as never })),
    codeOf(() => configure({ readBudgetPerTurn: -1 })),
  ]).toEqual(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE']);
});

test('adoptServer(): a server that is not listening throws and can still listen and serve', async () => {
  const plain = track(net.createServer((socket) => socket.end('plain')));
  expect(codeOf(() => adoptServer(plain))).toBe('ERR_INVALID_STATE');
  expect(codeOf(() => adoptServer({} as never))).toBe('ERR_INVALID_ARG_TYPE');
  const port = await listenLocal(plain);
  const client = net.connect(port, '127.0.0.1');
  let text = '';
  client.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  await once(client, 'end');
  expect(text).toBe('plain');
  await closeServer(plain);
});
