// Writes of large Buffers are sent from the caller's memory, not a copy; the
// Buffer must stay alive until the kernel has it even if the caller drops it
// and garbage collection runs (RELIABILITY.md #5).
import { execFile } from 'node:child_process';
import * as path from 'node:path';

test('a dropped Buffer passed to write() is kept alive and intact until sent, through forced GC', async () => {
  const fixture = path.join(__dirname, 'fixtures', 'pinned-writes.js');
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', fixture], { timeout: 60000, encoding: 'utf8' },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
  });
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  expect(result.received).toBe(result.expected);
  expect(result.firstBadOffset).toBe(-1);
}, 90000);
