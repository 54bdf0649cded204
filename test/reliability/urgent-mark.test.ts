// A read that stops at the TCP urgent mark with bytes still queued (issue 12
// item 10). Without SO_OOBINLINE the kernel keeps the urgent byte out of the
// stream and recv() stops short at the mark, so the default drain (a short
// read means the queue is empty) stranded everything after it until the peer
// sent more or a FIN. Compared with node:net on the same exchange.
import { execFile } from 'node:child_process';
import * as net from 'node:net';

import { createServer } from '../../lib';
import { listenLocal } from '../helpers';
import { releaseTracked, track } from '../helpers/cleanup';
import { buildFaultTools } from '../fault/build';

afterEach(releaseTracked);
jest.setTimeout(30000);

type EchoServer = net.Server | ReturnType<typeof createServer>;

// Paused on connect and resumed 300 ms later, so that all 21 bytes and the
// mark sit in the receive queue when the first read happens.
function pausedEcho(make: typeof net.createServer | typeof createServer): EchoServer {
  return (make as typeof net.createServer)({ pauseOnConnect: true }, (socket) => {
    socket.on('error', () => undefined);
    setTimeout(() => socket.pipe(socket), 300);
  });
}

function sendMark(port: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = execFile(buildFaultTools().oobSend, [String(port), 'mark', '10000'], { timeout: 20000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)));
    track(child);
  });
}

test('"A"x10, urgent "!", "B"x10 sent together: everything in band is echoed before any FIN, as node:net does', async () => {
  const netServer = track(pausedEcho(net.createServer) as net.Server);
  const netEchoed = await sendMark(await listenLocal(netServer));
  const server = track(pausedEcho(createServer) as ReturnType<typeof createServer>);
  const echoed = await sendMark(await listenLocal(server));
  // What arrived before the sender ended its side, '|', then the rest.
  expect(netEchoed).toBe(`${'A'.repeat(10)}${'B'.repeat(10)}|`);
  expect(echoed).toBe(netEchoed);
});
