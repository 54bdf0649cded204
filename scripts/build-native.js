'use strict';
// The install script. On install from the npm tarball it uses the prebuilt
// addon for this platform (prebuilds/, made by scripts/prebuild.sh) when one
// fits and loads, and compiles only when none does. `--force` (npm run build)
// and a git checkout always compile. On Linux a failed compile fails the
// install, naming what to install: the reactor is the point of the package.
// Elsewhere there is no epoll, the package falls back to node:net, and a
// missing compiler must not stop it installing.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
// In a source checkout the prebuilds may be older than the source beside
// them: compile there, as `npm run build` (--force) does.
const force = process.argv.includes('--force') || fs.existsSync(path.join(root, '.git'));

/** The prebuild node-gyp-build would load here, if it loads; else undefined. */
function loadablePrebuild() {
  if (process.platform !== 'linux') return undefined;
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch {
    return undefined;
  }
  if (!file.includes(`${path.sep}prebuilds${path.sep}`)) return undefined;
  // Loading it proves it fits this machine's architecture and C library
  // (dlopen's failure is an exception); the addon starts no thread until a
  // Reactor is made.
  try {
    require(file);
    return file;
  } catch {
    return undefined;
  }
}

if (!force) {
  const prebuild = loadablePrebuild();
  if (prebuild !== undefined) {
    console.log(`epoll-reactor: using the prebuilt ${path.relative(root, prebuild)}`);
    process.exit(0);
  }
}

const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
// Every core compiles (node-gyp's default is one job), unless the user
// chose a number (JOBS, or npm's --jobs).
const jobs = process.env.JOBS || process.env.npm_config_jobs ? [] : ['--jobs', 'max'];
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...jobs], { cwd: root, stdio: 'inherit' });
if (result.status === 0) process.exit(0);
if (process.platform === 'linux') {
  console.error(
    `epoll-reactor: there is no prebuilt native reactor for linux-${process.arch}, and compiling it failed ` +
      '(see above). Install python3, make and a C++17 compiler (Debian/Ubuntu: `apt-get install python3 make g++`; ' +
      'Alpine: `apk add python3 make g++`), then run `npm rebuild epoll-reactor`.',
  );
  process.exit(result.status || 1);
}
console.warn(`epoll-reactor: no native reactor on ${process.platform}; createServer() will use node:net.`);
