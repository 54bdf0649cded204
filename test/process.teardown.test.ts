// Leaving a process while the reactor is busy: no crash, no hang, and the exit
// code the program chose. Node still runs queued threadsafe-function calls
// while it tears an environment down, when JS can no longer run; a batch
// arriving then must be dropped quietly.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const fixture = path.join(__dirname, 'fixtures', 'exit-under-load.js');

// --single-threaded: V8 runs no compile or GC tasks on worker threads, so
// the child cannot meet Node's own exit-time deadlock (nodejs/node#54918: a
// V8 worker waiting for a GC the exiting main thread never runs), which hung
// 2 of 400 runs on Node 24 (docs/reliability.md, session 59). A hang left is the package's.
function run(mode: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['--single-threaded', fixture], { env: { ...process.env, MODE: mode }, timeout: 10000, encoding: 'utf8' });
}

test.each([1, 2, 3, 4, 5])('RELIABILITY #37: process.exit() under load keeps its exit code (run %i)', () => {
  const result = run('exit');
  expect(result.signal).toBeNull();
  expect(result.stderr).not.toMatch(/FATAL|Aborted|Segmentation/);
  expect(result.status).toBe(3);
});

test.each([1, 2, 3, 4, 5])('closing everything under load lets the process end by itself (run %i)', () => {
  const result = run('natural');
  const flooder = Number(String(result.stdout).trim());
  if (flooder > 0) {
    try {
      process.kill(flooder, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  expect(result.signal).toBeNull();
  expect(result.stderr).not.toMatch(/FATAL|Aborted|Segmentation/);
  expect(result.status).toBe(0);
});
