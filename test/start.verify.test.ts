// The `npm run echo` server, checked from outside by the C load generator
// (bench/loadgen.c), which verifies every echoed byte over 1,000 connections.
import { spawn, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

const root = path.join(__dirname, '..');

test('the npm run echo server echoes every byte intact to 1,000 connections', async () => {
  execFileSync(process.execPath, [path.join(root, 'bench', 'build-loadgen.js')], { stdio: 'ignore' });
  const server = spawn(process.execPath, [path.join(root, 'examples', 'echo-server.js')], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => server.once('exit', resolve));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('echo server did not start')), 10000);
      readline.createInterface({ input: server.stdout! }).on('line', (line) => {
        const match = /listening on .*:(\d+)$/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
    });
    const output = execFileSync(path.join(root, 'bench', '.build', 'loadgen'), [
      '--host', '127.0.0.1', '--port', String(port), '--connections', '1000',
      '--size', '64', '--depth', '4', '--duration', '2', '--warmup', '0', '--connect-timeout', '10',
    ], { encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'ignore'] });
    const result = JSON.parse(output.trim().split('\n').pop() as string);
    expect(result.connections).toBe(1000);
    expect(result.connect_failures).toBe(0);
    expect(result.errors).toBe(0);
    expect(result.mismatches).toBe(0);
    expect(result.messages).toBeGreaterThan(1000);
  } finally {
    process.kill(server.pid!, 'SIGTERM');
    await exited;
  }
});
