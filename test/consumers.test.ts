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

jest.setTimeout(60000);

test('an ES module imports the package by name and echoes through the reactor', async () => {
  const { stdout } = await run(process.execPath, [path.join(consumers, 'esm-echo.mjs')], { timeout: 20000 });
  expect(stdout).toBe('from an ES module');
});

test.each(['node16', 'bundler'])('a TypeScript consumer type-checks against types/ with %s resolution', async (kind) => {
  const config = path.join(consumers, `tsconfig.${kind}.json`);
  const { stdout } = await run(process.execPath, [tsc, '-p', config, '--traceResolution'], { timeout: 50000, maxBuffer: 64 << 20 });
  // Resolved through "exports" to the declarations the package ships.
  expect(stdout).toMatch(/Module name 'epoll-reactor' was successfully resolved to '[^']*\/types\/index\.d\.ts'/);
});
