// node's --tls-keylog: every TLS connection of the process appends its key
// log lines to the file (mode 0600), and the first one warns. Reactor TLS
// connections, server and client, do as node's TLSSocket does; with node's
// client or server on the other end, each line is in the file twice (both
// ends of a connection know its secrets).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { nodeOptionValue } from '../lib/node-options';
import { makeTestPki, TestPki } from './helpers/tls-pki';

let pki: TestPki;
let directory: string;
beforeAll(() => {
  pki = makeTestPki();
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-keylog-'));
});
afterAll(() => {
  pki.remove();
  fs.rmSync(directory, { recursive: true, force: true });
});

const fixture = path.join(__dirname, 'fixtures', 'tls-keylog-flag.js');

/** Runs the fixture under --tls-keylog: the file's lines, its mode and the child's stderr. */
function run(sides: string, flag: (file: string) => { args: string[]; nodeOptions?: string }): Promise<{ lines: string[]; mode: number; stderr: string }> {
  const file = path.join(directory, `${sides}-${Math.random().toString(16).slice(2)}.log`);
  const { args, nodeOptions } = flag(file);
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, KEY: pki.paths.serverKey, CERT: pki.paths.serverCert, CA: pki.paths.caCert };
    if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
    execFile(process.execPath, [...args, fixture, sides], { env, timeout: 20_000 }, (error, _stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'latin1') : '';
      resolve({ lines: text.split('\n').filter(Boolean), mode: fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0, stderr });
    });
  });
}

/** How many times each distinct line is in `lines`. */
function counts(lines: string[]): number[] {
  const seen = new Map<string, number>();
  for (const line of lines) seen.set(line, (seen.get(line) ?? 0) + 1);
  return [...seen.values()];
}

// TLS 1.2: CLIENT_RANDOM; TLS 1.3: five secrets.
const DISTINCT = 1 + 5;

// The warning: once where node's TLSSocket came first or there is none; a
// node TLSSocket made after a reactor one warns again (node's flag is its own).
test.each([['reactor-server', 1], ['reactor-client', 2], ['reactor', 1]])('%s: each connection\'s lines are in the file from both ends, mode 0600; warnings: %d', async (sides, warnings) => {
  const { lines, mode, stderr } = await run(sides as string, (file) => ({ args: [`--tls-keylog=${file}`] }));
  expect(counts(lines)).toEqual(new Array(DISTINCT).fill(2));
  expect(mode).toBe(0o600);
  expect(stderr.match(/Using --tls-keylog makes TLS connections insecure by writing secret key material to file/g)).toHaveLength(warnings as number);
}, 30_000);

test('the flag is read from NODE_OPTIONS too, and as two words', async () => {
  const fromOptions = await run('reactor', (file) => ({ args: [], nodeOptions: `--tls-keylog=${file}` }));
  expect(counts(fromOptions.lines)).toEqual(new Array(DISTINCT).fill(2));
  const twoWords = await run('reactor', (file) => ({ args: ['--tls-keylog', file] }));
  expect(counts(twoWords.lines)).toEqual(new Array(DISTINCT).fill(2));
}, 30_000);

test('nodeOptionValue reads node\'s forms; the command line wins over NODE_OPTIONS', () => {
  expect(nodeOptionValue('--tls-keylog', ['--tls-keylog=a'], '')).toBe('a');
  expect(nodeOptionValue('--tls-keylog', ['--tls-keylog', 'b'], '')).toBe('b');
  expect(nodeOptionValue('--tls-keylog', [], ' --max-old-space-size=64  --tls-keylog=c ')).toBe('c');
  expect(nodeOptionValue('--tls-keylog', ['--tls-keylog=d'], '--tls-keylog=c')).toBe('d');
  expect(nodeOptionValue('--tls-keylog', ['--tls-keylogx=e'], '')).toBeUndefined();
  expect(nodeOptionValue('--tls-keylog', [], '')).toBeUndefined();
});
