// The reactor keeps a process alive exactly while something is open: once
// every server and socket is closed the process exits by itself, and a
// listening server holds it open, as net's do.
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

import { checkMustCalls } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

const dist = path.resolve(__dirname, '..', 'dist');

interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Starts `node -e script`, tracked so that it is killed if the test fails. */
function startChild(script: string): { child: ChildProcess; exited: Promise<ChildExit>; stderr: () => string } {
  const child = track(spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, stderr: () => stderr };
}

/** Resolves with the time (performance.now()) at which `child` first prints `line`. */
function whenPrinted(child: ChildProcess, line: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.split('\n').includes(line)) {
        child.stdout?.removeListener('data', onData);
        resolve(performance.now());
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before printing "${line}": ${output}`)));
  });
}

function killByPid(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(child.pid, 'SIGKILL');
  }
}

test('RELIABILITY #38: after one echo round trip and closing everything, the process exits by itself with code 0 within 2 s', async () => {
  const script = `
    const net = require('node:net');
    const { createServer } = require(${JSON.stringify(dist)});
    const server = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
    server.listen(0, '127.0.0.1', () => {
      const client = net.connect(server.address().port, '127.0.0.1', () => client.write('ping'));
      let echoed = '';
      client.on('data', (chunk) => {
        echoed += chunk;
        if (echoed === 'ping') client.end();
      });
      client.on('close', () => {
        if (echoed !== 'ping') throw new Error('echo failed: ' + echoed);
        server.close((error) => {
          if (error) throw error;
          console.log('closed');
        });
      });
    });
  `;
  const { child, exited, stderr } = startChild(script);
  const hung = setTimeout(() => killByPid(child), 15000);  // nothing printed: give up
  let closedAt: number;
  try {
    closedAt = await whenPrinted(child, 'closed');
  } finally {
    clearTimeout(hung);
  }
  // From here the child has 2 s to exit on its own.
  let killed = false;
  const deadline = setTimeout(() => {
    killed = true;
    killByPid(child);
  }, 2000);
  const exit = await exited;
  const exitedAfter = performance.now() - closedAt;
  clearTimeout(deadline);

  expect(stderr()).toBe('');
  expect(killed).toBe(false);
  expect(exit).toEqual({ code: 0, signal: null });
  expect(exitedAfter).toBeLessThan(2000);
}, 30000);

test('a process whose server is still listening does not exit by itself', async () => {
  const script = `
    const { createServer } = require(${JSON.stringify(dist)});
    const server = createServer((socket) => socket.end());
    server.listen(0, '127.0.0.1', () => console.log('listening'));
  `;
  const { child, exited, stderr } = startChild(script);
  const hung = setTimeout(() => killByPid(child), 15000);
  try {
    await whenPrinted(child, 'listening');
  } finally {
    clearTimeout(hung);
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const aliveAfterOneSecond = child.exitCode === null && child.signalCode === null;
  killByPid(child);
  const exit = await exited;

  expect(stderr()).toBe('');
  expect(aliveAfterOneSecond).toBe(true);
  expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
}, 30000);
