// Off Linux there is no reactor: the pool's workers run node:net servers in
// cluster processes that share the primary's one listening socket, and mode
// 'threads' runs as 'cluster' with a warning. Shown on Linux by making a
// child process (and its workers) believe it runs on macOS.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { releaseTracked, track } from './helpers/cleanup';
import { exchange } from './helpers/pool';

afterEach(releaseTracked);

const fixtures = path.join(__dirname, 'fixtures');

test("without the native reactor, mode 'threads' serves from 2 cluster processes and shuts down", async () => {
  const child = track(spawn(process.execPath, [path.join(fixtures, 'pool-shutdown.js')], {
    env: { ...process.env, POOL_MODE: 'threads', NODE_OPTIONS: `--require ${path.join(fixtures, 'fake-non-linux.js')}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = once(child, 'exit');
  const lines = readline.createInterface({ input: child.stdout! });
  const [first] = await once(lines, 'line') as [string];
  const { port, workers } = JSON.parse(first) as { port: number; workers: number[] };

  // Worker ids are pids of processes other than the child itself.
  expect(workers).toHaveLength(2);
  expect(workers).not.toContain(child.pid);
  expect(stderr).toContain("running mode 'threads' as 'cluster'");

  const servedBy = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const who = await exchange(port, 'who\n');
    expect(typeof who).toBe('string');
    servedBy.add((who as string).split('/')[0]);
  }
  // cluster's primary hands connections to its workers in turn.
  expect([...servedBy].sort()).toEqual(workers.map(String).sort());

  process.kill(child.pid!, 'SIGTERM');
  const [code] = await exited;
  expect(code).toBe(0);
}, 60000);
