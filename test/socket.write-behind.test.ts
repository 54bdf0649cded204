// Writes made while an earlier one awaits the reactor's report are handed to
// the reactor at once, "behind" it: they leave the reactor's wake-up point at
// the write JS waits for, and JS names their own point when the Writable
// passes them on (native awaitWritten). Each callback must still come, on an
// otherwise idle connection, however the reports and JS's turns interleave.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as readline from 'node:readline';

import { connect, Socket } from '../lib';
import { waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { makeTestPki, TestPki } from './helpers/tls-pki';

afterEach(releaseTracked);

let pki: TestPki;
beforeAll(() => { pki = makeTestPki(); });
afterAll(() => pki.remove());

/**
 * A server in a child process (so it reads while this thread is busy) that
 * leaves each connection unread for `pauseMs`, then reads everything.
 * Resolves with its port once it listens.
 */
async function slowReader(secure: boolean, pauseMs: number): Promise<number> {
  const script = `
    const options = JSON.parse(process.env.SERVER_OPTIONS);
    const onConnection = (socket) => {
      socket.on('error', () => {});
      socket.pause();
      setTimeout(() => socket.resume(), ${pauseMs});
    };
    const server = ${secure} ? require('node:tls').createServer(options, onConnection)
      : require('node:net').createServer(onConnection);
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const options = secure ? { key: pki.serverKey.toString(), cert: pki.serverCert.toString() } : {};
  const child: ChildProcess = track(spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SERVER_OPTIONS: JSON.stringify(options) },
  }));
  const [line] = await once(readline.createInterface({ input: child.stdout! }), 'line') as [string];
  return Number(line);
}

async function connected(secure: boolean, port: number): Promise<Socket> {
  const socket = track(secure
    ? connect({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'localhost' } })
    : connect({ host: '127.0.0.1', port }));
  socket.on('error', () => {});
  await once(socket, secure ? 'secureConnect' : 'connect');
  return socket;
}

// The peer reads only after 150 ms, while this thread is busy in the first
// write's callback for 600 ms: the reactor sends the 16 MiB string (copied,
// so no unpinned Buffer wakes JS) and reports it in a batch that does not
// wake JS, before JS says it waits for it. Over TLS the reactor reported
// each total once only, so that report was not repeated and the callback
// waited for an event that never came.
test.each([['plain', false], ['TLS', true]])('%s: a chunk sent behind while JS is busy still gets its callback', async (_name, secure) => {
  const socket = await connected(secure as boolean, await slowReader(secure as boolean, 150));
  let behindDone = false;
  socket.write('A', () => {
    for (const until = Date.now() + 600; Date.now() < until;);
  });
  socket.write('x'.repeat(16 * 1024 * 1024), () => { behindDone = true; });
  await waitFor(() => behindDone, 15_000, 'the callback of the write behind');
}, 30_000);

// _writev given chunks handed over and an empty one: the empty one stages no
// command that would set the reactor's wake-up point, so JS must name it.
test('an empty write corked behind chunks handed over: every callback comes', async () => {
  const port = await slowReader(false, 300);
  const socket = await connected(false, port);
  const done: string[] = [];
  socket.write('0123456789', () => {
    done.push('first');
    socket.uncork();
  });
  socket.write('a'.repeat(16 * 1024 * 1024), () => done.push('behind'));
  socket.cork();
  socket.write('', () => done.push('empty'));
  await waitFor(() => done.length === 3, 15_000, `every callback (${done.join(', ')})`);
  expect(done).toEqual(['first', 'behind', 'empty']);
  expect(socket.bytesWritten).toBe(10 + 16 * 1024 * 1024);
}, 30_000);
