// A forward across a TCP urgent mark (issue 12, cold review item 1). The
// kernel's splice read path stops at the urgent sequence and never steps over
// the urgent byte (only recv() does), so splice() returned EAGAIN at the mark
// with bytes behind it, and 0 once the FIN came: splice mode stalled there and
// then reported success with everything after the mark dropped. Compared with
// node:net piping the same exchange, which delivers all in-band bytes.
import * as net from 'node:net';
import { execFile } from 'node:child_process';

import { connect, createServer, forward, ForwardResult } from '../lib';
import { listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { buildFaultTools } from './fault/build';

afterEach(releaseTracked);
jest.setTimeout(30000);

// oob-send's 'mark' exchange: "A"x10, "!" urgent, "B"x10; after 1000 ms it
// prints what came back, '|', ends its side and prints the rest.
function sendMark(port: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = execFile(buildFaultTools().oobSend, [String(port), 'mark', '1000'], { timeout: 20000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)));
    track(child);
  });
}

async function echoPort(): Promise<number> {
  const echo = track(net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  }));
  return listenLocal(echo);
}

test('node:net piping to an echo passes every in-band byte around the mark', async () => {
  const upstream = await echoPort();
  const proxy = track(net.createServer((a) => {
    a.on('error', () => undefined);
    const b = net.connect(upstream, '127.0.0.1');
    b.on('error', () => undefined);
    a.pipe(b);
    b.pipe(a);
  }));
  expect(await sendMark(await listenLocal(proxy))).toBe(`${'A'.repeat(10)}${'B'.repeat(10)}|`);
});

test.each(['splice', 'copy', 'auto'] as const)("mode '%s': bytes after an urgent mark are forwarded, before and after the FIN", async (mode) => {
  const upstream = await echoPort();
  let result: Promise<ForwardResult> | undefined;
  // Paused, so that nothing is read for JS before forwarding: the forward's
  // own reads must meet the mark.
  const proxy = track(createServer({ pauseOnConnect: true }, (a) => {
    a.on('error', () => undefined);
    const b = connect(upstream, '127.0.0.1', () => {
      result = forward(a, b, { mode });
    });
    b.on('error', () => undefined);
  }));
  const echoed = await sendMark(await listenLocal(proxy));
  expect(echoed).toBe(`${'A'.repeat(10)}${'B'.repeat(10)}|`);
  expect(result).toBeDefined();
  // The urgent byte is out of band: 20 bytes each way, no error.
  await expect(result).resolves.toEqual({ bytesFirstToSecond: 20, bytesSecondToFirst: 20 });
});
