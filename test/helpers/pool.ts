// Clients for the server-pool tests: one short echo exchange per connection,
// reporting what happened rather than throwing, so a loop can count outcomes.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { temporaryDirectory } from './cleanup';

/** The handler module the pool tests' workers load. */
export const poolEchoModule = path.join(__dirname, '..', 'fixtures', 'pool-echo.js');

/**
 * Writes a handler module that throws on load while the file `marker`
 * exists and is pool-echo otherwise; returns its path and the marker's.
 * `keepsTimer`: it starts an interval first (a metrics flush, say), which
 * keeps a worker that failed from ending by itself.
 * (A file, not an environment variable: jest gives each test file a copy of
 * process.env that workers never see.) Both go with releaseTracked().
 */
export function failOnLoadModule(keepsTimer = false): { module: string; marker: string } {
  const dir = temporaryDirectory('pool-handler-');
  const marker = path.join(dir, 'fail');
  const module = path.join(dir, 'handler.js');
  fs.writeFileSync(module, [
    keepsTimer ? 'setInterval(() => {}, 1000);' : '',
    `if (require('node:fs').existsSync(${JSON.stringify(marker)})) throw new Error('handler: told to fail on load');`,
    `module.exports = require(${JSON.stringify(poolEchoModule)});`,
  ].join('\n'));
  return { module, marker };
}

/**
 * Connects to 127.0.0.1:port, sends `text`, reads the reply up to the first
 * newline and closes. Resolves with the reply, or with `{ error: code }`
 * (ECONNREFUSED, ECONNRESET, ETIMEDOUT after `timeoutMs`, or EOF when the
 * server closed before replying).
 */
export function exchange(port: number, text: string, timeoutMs = 5000): Promise<string | { error: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    let settled = false;
    const finish = (outcome: string | { error: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ error: 'ETIMEDOUT' }), timeoutMs);
    socket.once('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\n')) finish(reply);
    });
    socket.once('end', () => finish({ error: 'EOF' }));
    socket.once('error', (error: NodeJS.ErrnoException) => finish({ error: String(error.code) }));
  });
}
