// The parser a PSK client runs on a TLS server's first flight
// (src-native/tls_server_flight.cc) reads bytes from the network before
// OpenSSL does. test/native/server-flight-check.cc feeds it random flights
// under ASan and UBSan: no read outside its records, no hint over 256 bytes,
// and the same answer however the flight is cut into records. A longer hunt:
//   FLIGHT_CHECK_FLIGHTS=1000000 FLIGHT_CHECK_SEEDS=1,2,3 npx jest test/tls.server-flight
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { environmentWithoutPreload } from './helpers';

const root = path.join(__dirname, '..');
const sources = [
  path.join(__dirname, 'native', 'server-flight-check.cc'),
  path.join(root, 'src-native', 'tls_server_flight.cc'),
  path.join(root, 'src-native', 'tls_server_flight.h'),
];
const haveCompiler = spawnSync('g++', ['--version']).status === 0;

/** The check, compiled once per version of its sources into the temp dir (never the repository). */
function buildCheck(): string {
  const hash = createHash('sha256');
  for (const source of sources) hash.update(fs.readFileSync(source));
  const directory = path.join(os.tmpdir(), `epoll-reactor-flight-${hash.digest('hex').slice(0, 16)}`);
  fs.mkdirSync(directory, { recursive: true });
  const binary = path.join(directory, 'server-flight-check');
  if (!fs.existsSync(binary)) {
    const temporary = `${binary}.${process.pid}.tmp`;
    execFileSync('g++', ['-std=c++17', '-O1', '-g', '-Wall', '-Werror', '-fsanitize=address,undefined',
      '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', `-I${path.join(root, 'src-native')}`,
      '-o', temporary, sources[0], sources[1]], { stdio: 'pipe', env: environmentWithoutPreload() });
    fs.renameSync(temporary, binary);
  }
  return binary;
}

(haveCompiler ? test : test.skip)('random flights: no read outside a record, no hint over 256 bytes, the same answer however they are cut', () => {
  const check = buildCheck();
  const flights = process.env.FLIGHT_CHECK_FLIGHTS ?? '10000';
  for (const seed of (process.env.FLIGHT_CHECK_SEEDS ?? '1').split(',')) {
    const run = spawnSync(check, [seed, flights], { encoding: 'utf8', env: environmentWithoutPreload() });
    expect({ status: run.status, signal: run.signal, stderr: run.stderr, stdout: run.stdout })
      .toEqual({ status: 0, signal: null, stderr: '', stdout: expect.stringMatching(new RegExp(`^${flights} flights, \\d+ cut readings`)) });
  }
}, 120000);
