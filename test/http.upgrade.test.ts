// HTTP upgrades work on reactor sockets: a WebSocket server (ws, with
// noServer and handleUpgrade) behind serveHttp talks over an epoll-reactor
// Socket, and so does one given a socket adopt()ed from a plain node
// http.Server's 'upgrade'.
import { once } from 'node:events';
import * as http from 'node:http';
import type { IncomingMessage } from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';

import WebSocket, { WebSocketServer } from 'ws';

import { adopt, serveHttp, Socket } from '../lib';
import { checkMustCalls, closeServer, mustCall, mustNotCall } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const TEST_TIMEOUT = 20000;
const MESSAGES = 100;

/** Receives `count` messages on `ws`, as strings, in order. */
function receive(ws: WebSocket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    const onMessage = (data: WebSocket.RawData): void => {
      messages.push(data.toString());
      if (messages.length === count) {
        ws.removeListener('message', onMessage);
        resolve(messages);
      }
    };
    ws.on('message', onMessage);
  });
}

function numbered(prefix: string): string[] {
  return Array.from({ length: MESSAGES }, (_, i) => `${prefix} ${i}`);
}

/**
 * The conversation both tests hold once `serverSide` resolves: 100 messages
 * each way, checked in order, then a close from the client with code 1000.
 */
async function converse(port: number, serverSide: Promise<WebSocket>): Promise<void> {
  const client = new WebSocket(`ws://127.0.0.1:${port}/chat`);
  client.on('error', mustNotCall('client WebSocket error'));
  await once(client, 'open');
  const peer = await serverSide;
  peer.on('error', mustNotCall('server WebSocket error'));

  const atServer = receive(peer, MESSAGES);
  const atClient = receive(client, MESSAGES);
  for (const message of numbered('from client')) client.send(message);
  for (const message of numbered('from server')) peer.send(message);
  expect(await atServer).toEqual(numbered('from client'));
  expect(await atClient).toEqual(numbered('from server'));

  const serverClosed = new Promise<[number, string]>((resolve) => {
    peer.once('close', mustCall((code: number, reason: Buffer) => resolve([code, reason.toString()])));
  });
  const clientClosed = new Promise<[number, string]>((resolve) => {
    client.once('close', mustCall((code: number, reason: Buffer) => resolve([code, reason.toString()])));
  });
  client.close(1000, 'done');
  expect(await serverClosed).toEqual([1000, 'done']);
  expect(await clientClosed).toEqual([1000, 'done']);
}

test('a ws server behind serveHttp: 100 messages each way over an epoll-reactor Socket, then a clean close', async () => {
  const wss = new WebSocketServer({ noServer: true });
  const httpServer = http.createServer(mustNotCall('a plain request'));
  const upgradedSockets: Duplex[] = [];
  const serverSide = new Promise<WebSocket>((resolve) => {
    httpServer.on('upgrade', mustCall((req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgradedSockets.push(socket);
      wss.handleUpgrade(req, socket, head, (ws) => resolve(ws));
    }));
  });
  const server = track(serveHttp(httpServer, { port: 0, host: '127.0.0.1' }));
  await once(server, 'listening');

  const upgraded = converse((server.address() as net.AddressInfo).port, serverSide);
  const peer = await serverSide;
  expect(upgradedSockets).toHaveLength(1);
  expect(upgradedSockets[0]).toBeInstanceOf(Socket);
  // ws speaks over that very socket.
  expect((peer as unknown as { _socket: unknown })._socket).toBe(upgradedSockets[0]);
  await upgraded;
  // ws ends the socket once both close frames have passed.
  if (!(upgradedSockets[0] as Socket).closed) await once(upgradedSockets[0], 'close');

  const reactorClosed = new Promise<void>((resolve) => server.once('close', mustCall(() => resolve())));
  httpServer.close();
  await reactorClosed;
  wss.close();
}, TEST_TIMEOUT);

test('a socket adopt()ed from a plain http.Server upgrade carries a ws conversation', async () => {
  const wss = new WebSocketServer({ noServer: true });
  const httpServer = track(http.createServer(mustNotCall('a plain request')));
  const adoptedSockets: Socket[] = [];
  const serverSide = new Promise<WebSocket>((resolve) => {
    httpServer.on('upgrade', mustCall((req: IncomingMessage, socket: Duplex, head: Buffer) => {
      expect(socket).toBeInstanceOf(net.Socket);
      const adopted = track(adopt(socket as net.Socket));
      adoptedSockets.push(adopted);
      wss.handleUpgrade(req, adopted, head, (ws) => resolve(ws));
    }));
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');

  const upgraded = converse((httpServer.address() as net.AddressInfo).port, serverSide);
  const peer = await serverSide;
  expect(adoptedSockets).toHaveLength(1);
  expect(adoptedSockets[0]).toBeInstanceOf(Socket);
  expect((peer as unknown as { _socket: unknown })._socket).toBe(adoptedSockets[0]);
  await upgraded;
  if (!adoptedSockets[0].closed) await once(adoptedSockets[0], 'close');

  await closeServer(httpServer);
  wss.close();
}, TEST_TIMEOUT);
