// socket.unref() lets the process exit while the connection is open;
// ref() undoes it. Run in child processes, killed by pid if they linger.
import { connectClient, ServerChild, startChild, useCompatHarness } from './harness';
import { ImplementationName, implementations } from './implementations';

useCompatHarness();

const EXIT_WITHIN_MS = 5000;
const STAYS_FOR_MS = 500;

/**
 * A child whose server is unref()ed and whose accepted socket gets `setup`.
 * A timer keeps the child alive until the connection (from this process)
 * arrives; after that only the socket can.
 */
function childWithSocket(name: ImplementationName, setup: string): ServerChild {
  return startChild(name, `
    const untilAccepted = setTimeout(() => {}, 5000);
    const server = createServer((socket) => {
      socket.on('error', () => {});
      ${setup}
      clearTimeout(untilAccepted);
      report({ accepted: true });
    });
    server.unref();
    server.listen(0, '127.0.0.1', () => report({ listening: server.address().port }));
  `);
}

describe.each(implementations)('%s', (name) => {
  test('RELIABILITY #38: an unref()ed accepted socket lets the process exit while connected', async () => {
    const child = childWithSocket(name, 'socket.unref();');
    const { listening: port } = await child.next((line) => 'listening' in line) as { listening: number };
    const client = await connectClient(port);
    client.on('error', () => {});
    client.resume();
    await child.next((line) => 'accepted' in line);
    expect(await child.exitWithin(EXIT_WITHIN_MS)).toBe(0);
  });

  test('an accepted socket keeps the process alive; unref() then ref() still does', async () => {
    for (const setup of ['', 'socket.unref(); socket.ref();']) {
      const child = childWithSocket(name, setup);
      const { listening: port } = await child.next((line) => 'listening' in line) as { listening: number };
      const client = await connectClient(port);
      client.on('error', () => {});
      client.resume();
      await child.next((line) => 'accepted' in line);
      expect([setup, await child.exitWithin(STAYS_FOR_MS)]).toEqual([setup, null]);
      await child.kill();
      client.destroy();
    }
  });
});
