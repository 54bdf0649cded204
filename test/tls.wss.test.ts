// A ws WebSocket over wss through serveHttp: the https.Server's upgrade runs
// on a reactor SecureSocket (reactor TLS), 100 messages each way, then a
// clean close.
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

import WebSocket, { WebSocketServer } from 'ws';

import { SecureSocket, serveHttp } from '../lib';
import { checkMustCalls, mustCall, mustNotCall } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);
afterEach(checkMustCalls);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

const MESSAGES = 100;
const numbered = (prefix: string): string[] => Array.from({ length: MESSAGES }, (_, i) => `${prefix} ${i}`);

function receive(ws: WebSocket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    ws.on('message', (data: WebSocket.RawData) => {
      messages.push(data.toString());
      if (messages.length === count) resolve(messages);
    });
  });
}

test('wss through serveHttp(httpsServer): 100 messages each way over reactor TLS, then a clean close', async () => {
  const wss = new WebSocketServer({ noServer: true });
  const httpsServer = https.createServer({ key: pki.serverKey, cert: pki.serverCert }, mustNotCall('a plain request'));
  const serverSide = new Promise<WebSocket>((resolve) => {
    httpsServer.on('upgrade', mustCall((req: IncomingMessage, socket: Duplex, head: Buffer) => {
      expect(socket).toBeInstanceOf(SecureSocket);
      wss.handleUpgrade(req, socket, head, (ws) => resolve(ws));
    }));
  });
  const server = track(serveHttp(httpsServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const client = new WebSocket(`wss://127.0.0.1:${port}/chat`, { ca: pki.caCert });
  client.on('error', mustNotCall('client WebSocket error'));
  await once(client, 'open');
  const peer = await serverSide;
  const atServer = receive(peer, MESSAGES);
  const atClient = receive(client, MESSAGES);
  for (const message of numbered('from client')) client.send(message);
  for (const message of numbered('from server')) peer.send(message);
  expect(await atServer).toEqual(numbered('from client'));
  expect(await atClient).toEqual(numbered('from server'));
  const closed = new Promise<number>((resolve) => peer.once('close', (code: number) => resolve(code)));
  const clientClosed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
  client.close(1000, 'done');
  expect(await closed).toBe(1000);
  expect(await clientClosed).toBe(1000);
  wss.close();
  httpsServer.close();
}, 30_000);
