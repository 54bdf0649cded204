// Compiles the fault-injection shim and the urgent-data sender with gcc, once
// per version of their source, into a directory under the system temp dir
// (never into the repository). Two jest workers may build at once: each writes
// to a private name and renames it into place.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SOURCES = ['shim.c', 'oob-send.c'];

export interface FaultTools {
  /** Path of the LD_PRELOAD shim (see the comment at the top of shim.c for its env vars). */
  shim: string;
  /** Path of the urgent-data sender: `oob-send <port> <rounds> <hold-ms>`. */
  oobSend: string;
}

let built: FaultTools | undefined;

export function buildFaultTools(): FaultTools {
  if (built !== undefined) return built;
  const hash = createHash('sha256');
  for (const source of SOURCES) hash.update(fs.readFileSync(path.join(__dirname, source)));
  const directory = path.join(os.tmpdir(), `epoll-reactor-fault-${hash.digest('hex').slice(0, 16)}`);
  fs.mkdirSync(directory, { recursive: true });
  const shim = path.join(directory, 'shim.so');
  const oobSend = path.join(directory, 'oob-send');
  compile(shim, ['-shared', '-fPIC', path.join(__dirname, 'shim.c'), '-ldl']);
  compile(oobSend, [path.join(__dirname, 'oob-send.c')]);
  built = { shim, oobSend };
  return built;
}

function compile(output: string, args: string[]): void {
  if (fs.existsSync(output)) return;
  const temporary = `${output}.${process.pid}.tmp`;
  execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', temporary, ...args], { stdio: 'pipe' });
  fs.renameSync(temporary, output);
}

/**
 * LD_PRELOAD for a child that should load the shim: after whatever this
 * process preloads (the sanitizer runtimes under scripts/sanitize.sh, which
 * must come first).
 */
export function preloadWithShim(): string {
  const inherited = process.env.LD_PRELOAD;
  return inherited ? `${inherited}:${buildFaultTools().shim}` : buildFaultTools().shim;
}

/**
 * Under AddressSanitizer its malloc comes first in the preload order, so the
 * shim cannot fail allocations: tests of malloc faults run without it.
 */
export const mallocFaultsAvailable = !/libasan/.test(process.env.LD_PRELOAD ?? '');
