// `proxy --config FILE` reads at most MAX_CONFIG_BYTES (issue 12 item 17):
// `--config /dev/zero` read without end (3.7 GB in 6 s). A file over the cap,
// or a device that never ends, is refused with a usage error naming --config.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { MAX_CONFIG_BYTES, parseProxyArgs, UsageError } from '../lib/proxy/options';

let directory: string;
beforeAll(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-config-'));
});
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

function usageErrorOf(argv: string[]): UsageError | undefined {
  try {
    parseProxyArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  return undefined;
}

test('a config file one byte over the cap is refused with a usage error naming --config', () => {
  const file = path.join(directory, 'big.json');
  // JSON that would parse: the cap, not the parser, must refuse it.
  fs.writeFileSync(file, `{"listen":"127.0.0.1:0"${' '.repeat(MAX_CONFIG_BYTES)}}`);
  const error = usageErrorOf(['--config', file, '--upstream', '127.0.0.1:9']);
  expect(error?.flag).toBe('--config');
  expect(error?.message).toMatch(/larger than 1048576 bytes/);
});

test('a config file at the cap, and a small one, are read', () => {
  const file = path.join(directory, 'ok.json');
  const body = '{"listen":"127.0.0.1:0","upstream":"127.0.0.1:9"}';
  fs.writeFileSync(file, body + ' '.repeat(MAX_CONFIG_BYTES - body.length));
  expect(usageErrorOf(['--config', file])).toBeUndefined();
  fs.writeFileSync(file, body);
  expect(usageErrorOf(['--config', file])).toBeUndefined();
});

test('--config /dev/zero is refused at once, in a child so that a regression cannot eat this process', async () => {
  const options = path.resolve(__dirname, '..', 'dist', 'proxy', 'options.js');
  expect(fs.existsSync(options)).toBe(true); // npx tsc -p tsconfig.build.json
  const script = `
    const { parseProxyArgs } = require(${JSON.stringify(options)});
    try { parseProxyArgs(['--config', '/dev/zero', '--upstream', '127.0.0.1:9']); console.log('no error'); }
    catch (error) { console.log(error.flag + ' ' + error.message); }`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, 10000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  clearTimeout(timer);
  expect([code, signal]).toEqual([0, null]);
  expect(output).toMatch(/^--config --config: '\/dev\/zero' is larger than 1048576 bytes/);
}, 15000);
