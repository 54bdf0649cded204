// A 'data' chunk's ArrayBuffer shows that connection's bytes only (issue 12
// item 24): received bytes of many connections share a read block, and an
// ArrayBuffer over a whole turn's region let `new Uint8Array(chunk.buffer)`
// show a handler other clients' data. node:net's read buffers are per socket.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { checkMustCalls, closeServer, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const CLIENTS = 24;
const ROUNDS = 20;
const MESSAGE = 300;

test(`${CLIENTS} clients sending at once: every chunk.buffer holds only its own connection's bytes`, async () => {
  const foreign: string[] = [];
  let chunks = 0;
  let received = 0;
  const server = track(createServer((socket: Socket) => {
    let marker: number | undefined;
    socket.on('data', (chunk: Buffer) => {
      chunks++;
      received += chunk.length;
      marker ??= chunk[0];
      const whole = new Uint8Array(chunk.buffer);
      if (whole.length !== chunk.length || chunk.byteOffset !== 0) {
        foreign.push(`buffer of ${whole.length} bytes for a chunk of ${chunk.length}`);
      }
      const other = whole.findIndex((byte) => byte !== marker);
      if (other !== -1) foreign.push(`byte ${whole[other]} in the buffer of client ${marker}`);
    });
  }));
  const port = await listenLocal(server);
  const clients: net.Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const client = track(net.connect(port, '127.0.0.1'));
    clients.push(client);
  }
  await Promise.all(clients.map((client) => once(client, 'connect')));
  for (let round = 0; round < ROUNDS; round++) {
    // Every client writes in the same tick, so one reactor turn reads many.
    clients.forEach((client, i) => client.write(Buffer.alloc(MESSAGE, 65 + i)));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await waitFor(() => received === CLIENTS * ROUNDS * MESSAGE, 10000, 'every byte at the server');
  expect(chunks).toBeGreaterThan(0);
  expect(foreign.slice(0, 5)).toEqual([]);
  for (const client of clients) client.destroy();
  await closeServer(server);
}, 20000);
