// serveHttp() serves an existing http.Server (an Express app, or a plain
// request listener) from reactor connections: keep-alive, request bodies,
// chunked responses, pipelining and a real curl all work as under node:net.
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';

import express from 'express';

import { serveHttp, Server, Socket } from '../lib';
import { blockListOption } from '../lib/net-version';
import { checkMustCalls, mustCall, mustNotCall } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const TEST_TIMEOUT = 20000;
const CURL = '/usr/bin/curl';
const CHUNKS = 10;

/** Waits for `child` to exit; its exit code and everything it wrote. */
async function outputOf(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  return { code, stdout, stderr };
}

function digest(body: Buffer): string {
  return `${body.length} ${createHash('sha256').update(body).digest('hex')}`;
}

/** The same routes as an Express app and as a plain request listener. */
const applications: Array<[string, () => http.RequestListener]> = [
  ['an Express app', () => {
    const app = express();
    app.get('/hello', (_req, res) => { res.send('hello from express'); });
    app.post('/digest', express.raw({ type: () => true, limit: '4mb' }), (req, res) => {
      res.send(digest(req.body as Buffer));
    });
    app.get('/chunked', (_req, res) => {
      let sent = 0;
      const next = (): void => {
        if (sent === CHUNKS) {
          res.end();
          return;
        }
        res.write(`chunk ${sent++}\n`);
        setImmediate(next);
      };
      next();
    });
    app.get('/name/:name', (req, res) => { res.send(req.params.name); });
    return app as unknown as http.RequestListener;
  }],
  ['a plain http.Server', () => (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/hello') {
      res.end('hello from http');
    } else if (req.method === 'POST' && url.pathname === '/digest') {
      const parts: Buffer[] = [];
      req.on('data', (chunk: Buffer) => parts.push(chunk));
      req.on('end', () => res.end(digest(Buffer.concat(parts))));
    } else if (req.method === 'GET' && url.pathname === '/chunked') {
      let sent = 0;
      const next = (): void => {
        if (sent === CHUNKS) {
          res.end();
          return;
        }
        res.write(`chunk ${sent++}\n`);
        setImmediate(next);
      };
      next();
    } else if (req.method === 'GET' && url.pathname.startsWith('/name/')) {
      res.end(url.pathname.slice('/name/'.length));
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  }],
];

interface Served {
  httpServer: http.Server;
  server: Server;
  port: number;
  /** The socket under every request the server saw, in order. */
  requestSockets: unknown[];
}

async function serve(makeListener: () => http.RequestListener): Promise<Served> {
  const requestSockets: unknown[] = [];
  const listener = makeListener();
  const httpServer = http.createServer((req, res) => {
    requestSockets.push(req.socket);
    listener(req, res);
  });
  const server = track(serveHttp(httpServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  return { httpServer, server, port: (server.address() as net.AddressInfo).port, requestSockets };
}

/** Closes the HTTP server, which closes the reactor server; resolves on the reactor server's 'close'. */
async function stop(served: Served): Promise<void> {
  const closed = new Promise<void>((resolve) => served.server.once('close', mustCall(() => resolve())));
  served.httpServer.close();
  served.httpServer.closeAllConnections();
  await closed;
  expect(served.server.listening).toBe(false);
}

/** One request with node:http; resolves with the response and its whole body. */
function request(options: http.RequestOptions, body?: Buffer): Promise<{ response: http.IncomingMessage; body: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', ...options }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (chunk: Buffer) => parts.push(chunk));
      response.on('end', () => resolve({ response, body: Buffer.concat(parts), reused: req.reusedSocket }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Splits raw HTTP/1.1 responses that carry Content-Length. */
function splitResponses(raw: Buffer): Array<{ status: string; headers: string; body: string }> {
  const responses: Array<{ status: string; headers: string; body: string }> = [];
  let offset = 0;
  while (offset < raw.length) {
    const headerEnd = raw.indexOf('\r\n\r\n', offset);
    if (headerEnd < 0) throw new Error(`an incomplete response: ${raw.subarray(offset).toString()}`);
    const head = raw.subarray(offset, headerEnd).toString();
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length === null) throw new Error(`a response without Content-Length: ${head}`);
    const bodyStart = headerEnd + 4;
    const bodyEnd = bodyStart + Number(length[1]);
    responses.push({ status: head.split('\r\n')[0], headers: head, body: raw.subarray(bodyStart, bodyEnd).toString() });
    offset = bodyEnd;
  }
  return responses;
}

describe.each(applications)('serveHttp with %s', (_kind, makeListener) => {
  test('keep-alive: five requests on one agent socket, all served by one reactor socket', async () => {
    const served = await serve(makeListener);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const reused: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const { response, body, reused: wasReused } = await request({ port: served.port, path: '/hello', agent });
      expect(response.statusCode).toBe(200);
      expect(body.toString()).toMatch(/^hello from /);
      expect(response.headers.connection).toBe('keep-alive');
      reused.push(wasReused);
    }
    expect(reused).toEqual([false, true, true, true, true]);
    expect(served.requestSockets).toHaveLength(5);
    expect(served.requestSockets[0]).toBeInstanceOf(Socket);
    expect(new Set(served.requestSockets).size).toBe(1);
    agent.destroy();
    await stop(served);
  }, TEST_TIMEOUT);

  test('a 1 MB POST body arrives whole', async () => {
    const served = await serve(makeListener);
    const body = createHash('sha512').update('seed').digest();
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = body[i % body.length] ^ (i >> 10);
    const { response, body: reply } = await request({
      port: served.port, path: '/digest', method: 'POST', agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': payload.length },
    }, payload);
    expect(response.statusCode).toBe(200);
    expect(reply.toString()).toBe(digest(payload));
    expect(served.requestSockets[0]).toBeInstanceOf(Socket);
    await stop(served);
  }, TEST_TIMEOUT);

  test('a chunked response arrives whole', async () => {
    const served = await serve(makeListener);
    const { response, body } = await request({ port: served.port, path: '/chunked', agent: false });
    expect(response.statusCode).toBe(200);
    expect(response.headers['transfer-encoding']).toBe('chunked');
    expect(body.toString()).toBe(Array.from({ length: CHUNKS }, (_, i) => `chunk ${i}\n`).join(''));
    await stop(served);
  }, TEST_TIMEOUT);

  test('two pipelined requests in one TCP write get two responses, in order', async () => {
    const served = await serve(makeListener);
    const client = track(net.connect(served.port, '127.0.0.1'));
    await once(client, 'connect');
    const parts: Buffer[] = [];
    client.on('data', (chunk: Buffer) => parts.push(chunk));
    const ended = once(client, 'end');
    client.write(
      'GET /name/first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' +
      'GET /name/second HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    await ended;
    const responses = splitResponses(Buffer.concat(parts));
    expect(responses.map((response) => [response.status, response.body])).toEqual([
      ['HTTP/1.1 200 OK', 'first'],
      ['HTTP/1.1 200 OK', 'second'],
    ]);
    expect(served.requestSockets).toHaveLength(2);
    expect(served.requestSockets[0]).toBe(served.requestSockets[1]);
    client.destroy();
    await stop(served);
  }, TEST_TIMEOUT);

  test('curl gets the right bodies', async () => {
    if (!fs.existsSync(CURL)) throw new Error(`${CURL} is not installed; this test runs a real curl against the server`);
    const served = await serve(makeListener);
    const base = `http://127.0.0.1:${served.port}`;
    const child = track(spawn(CURL, ['-sS', '--max-time', '10', `${base}/hello`, `${base}/chunked`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // curl is not ours to sanitize: under scripts/sanitize.sh a preloaded ASan runtime hangs it.
      env: { ...process.env, LD_PRELOAD: undefined },
    }));
    const { code, stdout, stderr } = await outputOf(child);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const hello = stdout.slice(0, stdout.indexOf('chunk 0'));
    expect(hello).toMatch(/^hello from (express|http)$/);
    expect(stdout.slice(hello.length)).toBe(Array.from({ length: CHUNKS }, (_, i) => `chunk ${i}\n`).join(''));
    // curl reused its connection for the second URL.
    expect(served.requestSockets).toHaveLength(2);
    expect(served.requestSockets[0]).toBe(served.requestSockets[1]);
    await stop(served);
  }, TEST_TIMEOUT);
});

describe('servers the reactor would not make faster keep their own listener', () => {
  test("off Linux (no reactor) serveHttp serves from the server's own listener, and the process exits by itself", async () => {
    const fixtures = path.join(__dirname, 'fixtures');
    const child = track(spawn(process.execPath, [path.join(fixtures, 'serve-http-anywhere.js')], {
      env: { ...process.env, NODE_OPTIONS: `--require ${path.join(fixtures, 'fake-non-linux.js')}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    const { code, stdout, stderr } = await outputOf(child);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual({ backend: 'node:net', body: 'hello /anywhere', itself: true, keepAlive: true });
  }, TEST_TIMEOUT);

  test('bad options throw before the server changes, as the reactor path does', () => {
    const h2cServer = track(http2.createServer());
    const before = { noDelay: (h2cServer as unknown as { noDelay: unknown }).noDelay, listening: h2cServer.listening };
    expect(() => serveHttp(h2cServer as unknown as http.Server, { port: -1, noDelay: false }))
      .toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }) as unknown as Error);
    expect({ noDelay: (h2cServer as unknown as { noDelay: unknown }).noDelay, listening: h2cServer.listening }).toEqual(before);
  });

  test('an h2c http2 server is served by its own listener (node wraps other sockets in a slower JS stream)', async () => {
    const h2cServer = http2.createServer((_req, res) => res.end('hello over h2c'));
    const connections: unknown[] = [];
    h2cServer.on('connection', (socket: unknown) => connections.push(socket));
    const server = track(serveHttp(h2cServer as unknown as http.Server, { port: 0, host: '127.0.0.1' }));
    expect(server).toBe(h2cServer);
    await once(server, 'listening');
    const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    const body = await new Promise<string>((resolve, reject) => {
      const stream = client.request({ ':path': '/' });
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => { text += chunk; });
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
    });
    client.close();
    expect(body).toBe('hello over h2c');
    expect(connections).toHaveLength(1);
    expect(connections[0]).toBeInstanceOf(net.Socket);
    expect(connections[0]).not.toBeInstanceOf(Socket);
    await new Promise((resolve) => server.close(resolve));
  }, TEST_TIMEOUT);
});

(blockListOption ? test : test.skip)("serveHttp's blockList option reaches the reactor server: a blocked client is never served", async () => {
  const blockList = new net.BlockList();
  blockList.addAddress('127.0.0.1');
  const httpServer = http.createServer(mustNotCall('a request from a blocked address'));
  const server = track(serveHttp(httpServer, { port: 0, host: '127.0.0.1', blockList }));
  await once(server, 'listening');
  expect(server).toBeInstanceOf(Server);
  const outcome = await new Promise<string>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, agent: false }, () => resolve('served'));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
  expect(outcome).toMatch(/^(ECONNRESET|EPIPE)$/);
  await new Promise((resolve) => server.close(resolve));
}, TEST_TIMEOUT);

// The HTTP server is served through the reactor's listener; what app code
// reads and calls on the HTTP server must behave as when it listens itself.
// Each case runs on node's own listener and through serveHttp, and compares.
describe('the HTTP server as if it listened itself', () => {
  type Listen = 'itself' | 'serveHttp';
  const ways: Listen[] = ['itself', 'serveHttp'];

  /** Listens `httpServer` one way; resolves with its port once listening. */
  async function listenVia(way: Listen, httpServer: http.Server): Promise<number> {
    if (way === 'itself') {
      track(httpServer);
      httpServer.listen(0, '127.0.0.1');
      await once(httpServer, 'listening');
      return (httpServer.address() as net.AddressInfo).port;
    }
    const server = track(serveHttp(httpServer, { port: 0, host: '127.0.0.1' }));
    await once(server, 'listening');
    return (server.address() as net.AddressInfo).port;
  }

  function rawClient(port: number): { client: net.Socket; received: Promise<string> } {
    const client = track(net.connect(port, '127.0.0.1'));
    let text = '';
    client.setEncoding('latin1');
    client.on('data', (chunk: string) => { text += chunk; });
    client.on('error', () => undefined);
    return { client, received: new Promise((resolve) => client.on('close', () => resolve(text))) };
  }

  /** Sends `requests` with a half-close; the [status line, body] of each response, once the server closes. */
  async function responsesToHalfClosed(port: number, requests: string): Promise<string[][]> {
    const { client, received } = rawClient(port);
    client.end(requests);
    return splitResponses(Buffer.from(await received, 'latin1')).map((response) => [response.status, response.body]);
  }

  test.each(ways)("%s: a CONNECT tunnel whose client half-closes gets the upstream's answer", async (way) => {
    // The upstream answers once the client's FIN reaches it.
    const upstreamPort = await new Promise<number>((resolve) => {
      const upstream = track(net.createServer({ allowHalfOpen: true }, (socket) => {
        let question = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => { question += chunk; });
        socket.on('end', () => socket.end(`answer to ${question}`));
      }));
      upstream.listen(0, '127.0.0.1', () => resolve((upstream.address() as net.AddressInfo).port));
    });
    const httpServer = http.createServer();
    httpServer.on('connect', (_req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const upstream = track(net.connect(upstreamPort, '127.0.0.1', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        socket.pipe(upstream).pipe(socket);
      }));
    });
    const port = await listenVia(way, httpServer);
    const { client, received } = rawClient(port);
    client.end(`CONNECT 127.0.0.1:${upstreamPort} HTTP/1.1\r\nHost: x\r\n\r\nquestion`);
    expect(await received).toBe('HTTP/1.1 200 Connection Established\r\n\r\nanswer to question');
  }, TEST_TIMEOUT);

  test.each(ways)('%s: two pipelined requests sent with a half-close both get their responses', async (way) => {
    // Requests and FIN in one write: node:http drops requests still waiting
    // at 'end', so each response must be written (its callback run) first.
    const httpServer = http.createServer((req, res) => res.end(`answer to ${req.url}`));
    const port = await listenVia(way, httpServer);
    const requests = 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n';
    expect(await responsesToHalfClosed(port, requests)).toEqual([
      ['HTTP/1.1 200 OK', 'answer to /first'],
      ['HTTP/1.1 200 OK', 'answer to /second'],
    ]);
  }, TEST_TIMEOUT);

  // How a handler may put its response off; node:net reads the FIN only in
  // the loop turn after the request's bytes, so each of these still answers.
  const later: Array<[string, (respond: () => void) => void]> = [
    ['at once', (respond) => respond()],
    ['in a microtask', (respond) => void Promise.resolve().then(respond)],
    ['after two awaits', (respond) => void (async () => { await null; await null; respond(); })()],
    ['in a setImmediate', (respond) => setImmediate(respond)],
  ];
  describe.each(later)('a response %s', (_when, defer) => {
    test.each(ways)('%s: to a request sent with its half-close gets out', async (way) => {
      // node:http ends the socket at 'end': a response made after it is lost.
      // Through serveHttp 'end' came in the batch of the request's bytes.
      const httpServer = http.createServer((req, res) => {
        req.on('end', () => defer(() => res.end(`answer to ${req.url}`)));
        req.resume();
      });
      const port = await listenVia(way, httpServer);
      const request = 'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
      expect(await responsesToHalfClosed(port, request)).toEqual([['HTTP/1.1 200 OK', 'answer to /form']]);
    }, TEST_TIMEOUT);
  });

  test.each(ways)('%s: listening, address(), getConnections(), and close(callback) once the request in flight is answered', async (way) => {
    const events: string[] = [];
    const httpServer = http.createServer((_req, res) => {
      setTimeout(() => res.end('late'), 200);
    });
    expect(httpServer.listening).toBe(false);
    const port = await listenVia(way, httpServer);
    expect(httpServer.listening).toBe(true);
    expect(httpServer.address()).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
    const { client, received } = rawClient(port);
    client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(httpServer, 'request');
    const count = await new Promise<number>((resolve, reject) => {
      httpServer.getConnections((error, connections) => (error ? reject(error) : resolve(connections)));
    });
    httpServer.on('close', () => events.push('close'));
    httpServer.close((error?: Error) => events.push(`callback ${error === undefined ? 'without an error' : error.message}`));
    expect(httpServer.listening).toBe(false);
    expect(httpServer.address()).toBeNull();
    const response = await received;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect({ count, response: response.split('\r\n')[0], events }).toEqual({
      count: 1, response: 'HTTP/1.1 200 OK', events: ['close', 'callback without an error'],
    });
  }, TEST_TIMEOUT);

  test.each(ways)("%s: maxConnections set on the HTTP server drops past it, with 'drop'", async (way) => {
    const httpServer = http.createServer((_req, res) => res.end('ok'));
    httpServer.maxConnections = 1;
    const dropped: unknown[] = [];
    httpServer.on('drop', (data) => dropped.push(data !== undefined));
    const port = await listenVia(way, httpServer);
    const first = rawClient(port);
    first.client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(httpServer, 'request');
    // The reactor drops on its own thread: the client may see its close
    // before JS emits 'drop' (docs/compatibility.md, 'drop').
    const dropEmitted = once(httpServer, 'drop');
    const second = rawClient(port);
    second.client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await second.received).toBe('');
    await dropEmitted;
    expect(dropped).toEqual([true]);
    first.client.destroy();
  }, TEST_TIMEOUT);

  test('unref() of the HTTP server lets the process exit, as with its own listener', async () => {
    const dist = JSON.stringify(path.join(__dirname, '..', 'dist'));
    const script = `
      const http = require('node:http');
      const { serveHttp } = require(${dist});
      const httpServer = http.createServer((req, res) => res.end('ok'));
      const server = serveHttp(httpServer, { port: 0, host: '127.0.0.1' });
      server.on('listening', () => { httpServer.unref(); process.stdout.write('unref\\n'); });`;
    const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const started = Date.now();
    const { code, stdout, stderr } = await outputOf(child);
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: 'unref\n', stderr: '' });
    expect(Date.now() - started).toBeLessThan(5000);
  }, TEST_TIMEOUT);

  test('unref() of the HTTP server before it listens is kept, as net keeps it for its listen()', async () => {
    // node's test-http-server-keepalive-end and test-http-req-close-robust-from-tampering.
    const dist = JSON.stringify(path.join(__dirname, '..', 'dist'));
    const script = `
      const http = require('node:http');
      const { serveHttp } = require(${dist});
      const httpServer = http.createServer((req, res) => res.end('ok'));
      httpServer.unref();
      httpServer.on('listening', () => process.stdout.write('listening\\n'));
      serveHttp(httpServer, { port: 0, host: '127.0.0.1' });`;
    const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const { code, stdout, stderr } = await outputOf(child);
    clearTimeout(timer);
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: 'listening\n', stderr: '' });
  }, TEST_TIMEOUT);
});
