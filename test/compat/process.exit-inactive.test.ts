// Theme 1 of issue 14: a socket keeps the process alive only while it is
// active as a libuv handle is: connecting, reading (not paused before it
// connected, no FIN received yet), or writing. node:net lets a process exit
// with unread data after the peer's FIN, or with a socket paused before it
// connected; so must the package. Each case runs in a child, killed by pid if
// it lingers.
import * as net from 'node:net';

import { listenLocal, readAll, startChild, trackSocket, useCompatHarness, within } from './harness';
import { implementations, netImplementations } from './implementations';

useCompatHarness();

/** How long a child that should exit may take, start-up included. */
const EXIT_WITHIN_MS = 5000;

describe.each(implementations)('%s', (name) => {
  test("a server socket that answers end('bye') and never reads the client's bytes lets the process exit", async () => {
    const child = startChild(name, `
      const net = require('node:net');
      const server = createServer((socket) => socket.end('bye'));
      server.listen(0, '127.0.0.1', () => {
        const client = net.connect(server.address().port, '127.0.0.1');
        client.end('x');
        client.resume();
        client.on('close', () => {
          server.close();
          report({ closed: true });
        });
      });
    `);
    await child.next((line) => 'closed' in line);
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('a client paused before it connected does not keep the process alive', async () => {
    const child = startChild(name, `
      const server = netModule.createServer((socket) => socket.unref());
      server.listen(0, '127.0.0.1', () => {
        const client = netModule.connect(server.address().port, '127.0.0.1').pause();
        client.on('connect', () => report({ connected: true }));
      });
      server.unref();
    `);
    await child.next((line) => 'connected' in line);
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('a paused client resumed later still reads what the server sent', async () => {
    const child = startChild(name, `
      const server = netModule.createServer((socket) => socket.end('hello'));
      server.listen(0, '127.0.0.1', () => {
        const client = netModule.connect(server.address().port, '127.0.0.1').pause();
        let received = '';
        client.on('data', (chunk) => { received += chunk; });
        client.on('end', () => { report({ received }); server.close(); });
        setTimeout(() => client.resume(), 50);
      });
    `);
    expect(await child.next((line) => 'received' in line)).toEqual({ received: 'hello' });
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('a socket whose custom lookup never answers does not keep the process alive', async () => {
    const child = startChild(name, `
      netModule.connect({ host: 'example.invalid', port: 80, lookup: () => {} });
      report({ started: true });
    `);
    await child.next((line) => 'started' in line);
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('a connection that is still reading keeps the process alive', async () => {
    const child = startChild(name, `
      const server = netModule.createServer((socket) => socket.resume());
      server.listen(0, '127.0.0.1', () => {
        const client = netModule.connect(server.address().port, '127.0.0.1', () => report({ connected: true }));
        server.unref();
      });
    `);
    await child.next((line) => 'connected' in line);
    expect(await child.exitWithin(500)).toBeNull();
    await child.kill();
  });
});

describe.each(netImplementations)('%s', (_name, implementation) => {
  test('resumed, then paused again before it connected, then resumed: the client reads everything', async () => {
    // The reply comes later, so that it is read only if reading really resumed.
    const server = net.createServer((socket) => { setTimeout(() => socket.end('hello'), 100); });
    const port = await listenLocal(server);
    const client = trackSocket(implementation.connect(port, '127.0.0.1'));
    client.resume();
    client.pause();
    client.once('connect', () => setTimeout(() => client.resume(), 20));
    expect((await within(readAll(client), 2000, 'the reply')).toString()).toBe('hello');
  });
});
