// `npm start` runs the side-by-side demo and prints a table with both servers
// and their ratio; shortened here with DEMO_SECONDS.
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

test('npm start measures node:net and epoll-reactor side by side and prints the ratio', async () => {
  const output = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [path.join(root, 'examples', 'side-by-side.js')], {
      env: { ...process.env, DEMO_SECONDS: '0.5' }, timeout: 60000, encoding: 'utf8',
    }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
    expect(child.pid).toBeGreaterThan(0);
  });
  expect(output).toMatch(/\| scenario \| node:net msg\/s \| epoll-reactor msg\/s \| ratio \|/);
  const rows = output.split('\n').filter((line) => /^\| 64 B/.test(line));
  expect(rows).toHaveLength(2);
  for (const row of rows) {
    const [, , net, reactor, ratio] = row.split('|').map((cell) => cell.trim());
    expect(net).toMatch(/^\d+(\.\d+)?[kM]$/);
    expect(reactor).toMatch(/^\d+(\.\d+)?[kM]$/);
    expect(Number(ratio.replace('×', ''))).toBeGreaterThan(0);
  }
  expect(output).toContain('Every echoed byte was checked');
}, 90000);
