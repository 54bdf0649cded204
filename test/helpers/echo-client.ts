// Client-side helpers the proxy tests share: one echo through a listener, a
// loopback port that nothing listens on, and one whose connects hang.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';

import { track } from './cleanup';
import { listenLocal } from './index';

/** Sends `payload` through a new connection, ends, and resolves with everything received before 'end'. */
export function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = track(net.connect(port, '127.0.0.1'));
    const parts: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.end(payload);
  });
}

/** A port on 127.0.0.1 that is free now (so it refuses connections): one just listened on and closed. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listenLocal(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A port whose connects hang: a child process listens with a backlog of one
 * and then blocks its thread, so nothing is accepted. Once the accept queue
 * is full the kernel drops further SYNs, and a connect waits.
 */
export async function blackholePort(): Promise<number> {
  const script = `
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(server.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    });`;
  const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const [line] = await once(child.stdout!, 'data') as [Buffer];
  const port = Number(line.toString().trim());
  // Fill the accept queue (its length is the backlog plus one).
  for (let i = 0; i < 3; i++) {
    const filler = track(net.connect(port, '127.0.0.1'));
    filler.on('error', () => undefined);
    await Promise.race([once(filler, 'connect'), new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  return port;
}
