// The package as its consumers load it, by its name through package.json
// "exports" (the package resolves itself by name, as an installed one is
// resolved): from an ES module, and from TypeScript compiled with module
// node16 (ESM and CommonJS files) and with moduleResolution bundler, both
// type-checking against the declarations in types/ (built by `npm run
// pretest`). scripts/pack-test.sh does the same from the installed tarball.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const consumers = path.join(__dirname, 'consumers');
const tsc = require.resolve('typescript/bin/tsc');

// Type-checking a consumer with @types/node takes about 15 s on a quiet
// two-core machine, and several times that under load.
jest.setTimeout(200000);

test('an ES module imports the package by name and echoes through the reactor', async () => {
  const { stdout } = await run(process.execPath, [path.join(consumers, 'esm-echo.mjs')], { timeout: 20000 });
  expect(stdout).toBe('from an ES module');
});

test.each(['node16', 'bundler'])('a TypeScript consumer type-checks against types/ with %s resolution', async (kind) => {
  const config = path.join(consumers, `tsconfig.${kind}.json`);
  const { stdout } = await run(process.execPath, [tsc, '-p', config, '--traceResolution'], { timeout: 180000, maxBuffer: 64 << 20 })
    .catch((error: Error & { stdout?: string; killed?: boolean }) => {
      // tsc prints its diagnostics on stdout, among the resolution trace.
      const diagnostics = (error.stdout ?? '').split('\n').filter((line) => /error TS\d+/.test(line));
      throw new Error(`tsc ${error.killed ? 'timed out' : 'failed'}: ${diagnostics.join('\n') || error.message}`);
    });
  // Resolved through "exports" to the declarations the package ships.
  expect(stdout).toMatch(/Module name 'epoll-reactor' was successfully resolved to '[^']*\/types\/index\.d\.ts'/);
});
