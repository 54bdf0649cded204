// Theme 5 of issue 14: with events.captureRejections, an async 'connection'
// listener that rejects destroys that socket with the error (its 'error'
// event), as net.Server does; it does not become a server 'error'.
import { startChild, useCompatHarness } from './harness';
import { implementations } from './implementations';

useCompatHarness();

describe.each(implementations)('%s', (name) => {
  test("a rejected async 'connection' listener destroys its socket with the error", async () => {
    const child = startChild(name, `
      require('node:events').captureRejections = true;
      const kaboom = new Error('kaboom');
      const server = createServer(async (socket) => {
        server.close();
        socket.on('error', (error) => report({ socketError: error === kaboom }));
        throw kaboom;
      });
      server.on('error', (error) => report({ serverError: error.message }));
      server.listen(0, '127.0.0.1', () => {
        const client = require('node:net').connect(server.address().port, '127.0.0.1');
        client.on('error', () => {});
        client.on('close', () => report({ clientClosed: true }));
      });
    `);
    expect(await child.next((line) => 'socketError' in line || 'serverError' in line)).toEqual({ socketError: true });
    await child.next((line) => 'clientClosed' in line);
    expect(await child.exitWithin(5000)).toBe(0);
  });
});
