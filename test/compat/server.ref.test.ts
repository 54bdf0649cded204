// server.unref() lets the process exit while the server listens; ref()
// undoes it. Whether a process exits can only be seen from outside, so each
// case runs a child process (node -e) and kills it by pid if it lingers.
import { startChild, trackServer, useCompatHarness } from './harness';
import { implementations } from './implementations';

useCompatHarness();

/** How long a child that should exit may take, start-up included. */
const EXIT_WITHIN_MS = 5000;
/** How long a child that should stay must still be running. */
const STAYS_FOR_MS = 500;

describe.each(implementations)('%s', (name, createServer) => {
  test('unref() and ref() return the server', () => {
    const server = trackServer(createServer());
    expect(server.unref()).toBe(server);
    expect(server.ref()).toBe(server);
  });

  test('RELIABILITY #38: an unref()ed listening server lets the process exit', async () => {
    const child = startChild(name, `
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        report({ listening: server.address().port });
        server.unref();
      });
    `);
    await child.next((line) => 'listening' in line);
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('unref() before listen() also lets the process exit once listening', async () => {
    const child = startChild(name, `
      const server = createServer();
      server.unref();
      server.listen(0, '127.0.0.1', () => report({ listening: server.address().port }));
    `);
    await child.next((line) => 'listening' in line);
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('ref() after unref() keeps the process alive', async () => {
    const child = startChild(name, `
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        server.unref();
        server.ref();
        report({ listening: server.address().port });
      });
    `);
    await child.next((line) => 'listening' in line);
    expect(await child.exitWithin(STAYS_FOR_MS)).toBeNull();
    await child.kill();
  });

  test('a listening server that is not unref()ed keeps the process alive', async () => {
    const child = startChild(name, `
      const server = createServer();
      server.listen(0, '127.0.0.1', () => report({ listening: server.address().port }));
    `);
    await child.next((line) => 'listening' in line);
    expect(await child.exitWithin(STAYS_FOR_MS)).toBeNull();
    await child.kill();
  });

  test("an unref()ed server still accepts while something else keeps the process alive", async () => {
    const child = startChild(name, `
      const net = require('node:net');
      const server = createServer((socket) => socket.resume().end('served'));
      server.unref();
      const keepAlive = setTimeout(() => {}, 5000);
      server.listen(0, '127.0.0.1', () => {
        let reply = '';
        const client = net.connect(server.address().port, '127.0.0.1');
        client.on('data', (chunk) => { reply += chunk; });
        client.on('end', () => {
          report({ reply });
          clearTimeout(keepAlive);
        });
      });
    `);
    expect(await child.next((line) => 'reply' in line)).toEqual({ reply: 'served' });
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });
});
