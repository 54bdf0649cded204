// A process exits exactly when node:net's would: in libuv a connect, write or
// shutdown request keeps the loop alive whether or not its socket is ref'd,
// while reading (or a socket that never starts to) does not. Each case runs
// as a child process twice, once with node:net and once with the package,
// and both must print the same lines and exit with the same code.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

const dist = path.resolve(__dirname, '..', 'dist');

/** Runs `body` with `impl` bound to node:net or the package; what it prints, and how it ended. */
function run(body: string, implementation: 'net' | 'reactor'): Promise<{ lines: string[]; code: number | null }> {
  const script = `
    const net = require('node:net');
    const impl = ${implementation === 'net' ? "net" : `require(${JSON.stringify(dist)})`};
    const adopted = (socket) => ${implementation === 'net' ? 'socket' : 'impl.adopt(socket)'};
    const adoptedServer = (server) => ${implementation === 'net' ? 'server' : 'impl.adoptServer(server)'};
    // Unref'd: what a case leaves running decides whether the process exits.
    setTimeout(() => { console.log('still alive after 3 s'); process.exit(7); }, 3000).unref();
    process.on('exit', () => console.log('exit'));
    ${body}
  `;
  const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const killer = setTimeout(() => child.kill('SIGKILL'), 10000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ lines: output.split('\n').filter(Boolean), code });
    });
  });
}

async function expectLikeNet(body: string): Promise<string[]> {
  const [byNet, byPackage] = await Promise.all([run(body, 'net'), run(body, 'reactor')]);
  expect(byPackage).toEqual(byNet);
  return byNet.lines;
}

test("an unref'd socket whose connect is still pending keeps the process until it connects", async () => {
  const lines = await expectLikeNet(`
    const server = net.createServer((socket) => socket.destroy()).listen(0, '127.0.0.1', () => {
      server.unref();
      const socket = impl.connect(server.address().port, '127.0.0.1', () => console.log('connect'));
      socket.unref();
    });
  `);
  expect(lines).toEqual(['connect', 'exit']);
}, 30000);

test("an unref'd socket with an end() of 8 MiB still to send keeps the process until it is sent", async () => {
  const lines = await expectLikeNet(`
    const server = net.createServer({ pauseOnConnect: true }, (peer) => {
      peer.unref();
      peer.on('data', () => {});
      setTimeout(() => peer.resume(), 300).unref();  // the peer starts reading after 300 ms
    }).listen(0, '127.0.0.1', () => {
      server.unref();
      const socket = impl.connect(server.address().port, '127.0.0.1', () => {
        socket.end(Buffer.alloc(8 * 1024 * 1024), () => console.log('end callback'));
        socket.unref();
      });
    });
  `);
  expect(lines).toEqual(['end callback', 'exit']);
}, 30000);

test("a socket paused in its 'connect' listener never starts reading, so it does not keep the process", async () => {
  const lines = await expectLikeNet(`
    const server = net.createServer((peer) => peer.unref()).listen(0, '127.0.0.1', () => {
      server.unref();
      const socket = impl.connect(server.address().port, '127.0.0.1', () => {
        console.log('connect');
        socket.pause();
      });
    });
  `);
  expect(lines).toEqual(['connect', 'exit']);
}, 30000);

test("adopt() of an unref'd net.Socket gives an unref'd socket", async () => {
  const lines = await expectLikeNet(`
    const server = net.createServer((peer) => peer.unref()).listen(0, '127.0.0.1', () => {
      server.unref();
      const raw = net.connect(server.address().port, '127.0.0.1', () => {
        raw.unref();
        adopted(raw);
        console.log('adopted');
      });
    });
  `);
  expect(lines).toEqual(['adopted', 'exit']);
}, 30000);

test("adoptServer() of an unref'd net.Server gives an unref'd server", async () => {
  const lines = await expectLikeNet(`
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      server.unref();
      console.log('listening', adoptedServer(server).listening);
    });
  `);
  expect(lines).toEqual(['listening true', 'exit']);
}, 30000);
