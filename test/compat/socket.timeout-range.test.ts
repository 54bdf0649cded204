// Theme 7 of issue 14, issue 12 item 19: socket.setTimeout() takes what
// node:net takes. Above 2^31-1 ms it is clamped with a TimeoutOverflowWarning
// (it must not fire at once); under 1 ms it still fires (after 1 ms); and a
// socket that never connects still times out.
import { connectPair, listenLocal, startChild, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

describe.each(netImplementations)('%s', (name, implementation) => {
  test('setTimeout(2 ** 64 - 2048) warns TimeoutOverflowWarning, keeps socket.timeout, and does not fire', async () => {
    // In a child: jest's sandboxed process object does not see warnings Node's own modules emit.
    const child = startChild(name, `
      process.on('warning', (warning) => report({ warning: warning.name, message: warning.message }));
      const server = netModule.createServer((socket) => {
        let fired = false;
        socket.setTimeout(2 ** 64 - 2048, () => { fired = true; });
        report({ timeout: socket.timeout });
        setTimeout(() => { report({ fired }); process.exit(0); }, 300);
      });
      server.listen(0, '127.0.0.1', () => require('node:net').connect(server.address().port, '127.0.0.1'));
    `);
    expect(await child.next((line) => 'warning' in line)).toEqual({
      warning: 'TimeoutOverflowWarning',
      message: `${2 ** 64 - 2048} does not fit into a 32-bit signed integer.\nTimer duration was truncated to 2147483647.`,
    });
    expect(await child.next((line) => 'timeout' in line)).toEqual({ timeout: 2 ** 64 - 2048 });
    expect(await child.next((line) => 'fired' in line)).toEqual({ fired: false });
  });

  test('setTimeout(0.5) fires', async () => {
    const server = implementation.createServer();
    const port = await listenLocal(server);
    const { socket } = await connectPair(server, port);
    await within(new Promise<void>((resolve) => socket.setTimeout(0.5, resolve)), 2000, "'timeout'");
  });

  test("setTimeout() on a socket that never connects emits 'timeout'", async () => {
    const socket = trackSocket(new implementation.Socket());
    socket.setTimeout(20);
    await within(new Promise((resolve) => socket.once('timeout', resolve)), 2000, "'timeout'");
  });

  test.each([
    ['a string', '10', 'ERR_INVALID_ARG_TYPE'],
    ['-1', -1, 'ERR_OUT_OF_RANGE'],
    ['Infinity', Infinity, 'ERR_OUT_OF_RANGE'],
    ['NaN', NaN, 'ERR_OUT_OF_RANGE'],
  ])('setTimeout(%s) throws %s', (_label, value, code) => {
    const socket = trackSocket(new implementation.Socket());
    expect(() => socket.setTimeout(value as number)).toThrow(expect.objectContaining({ code }));
  });
});
