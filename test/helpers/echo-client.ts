// Client-side helpers the proxy tests share: one echo through a listener, and
// a loopback port that nothing listens on.
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
