'use strict';
// Compiles the addon with node-gyp. On Linux a failed build fails the install:
// the reactor is the point of the package. Elsewhere there is no epoll, the
// package falls back to node:net, and a missing compiler must not stop it installing.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild'], {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
if (result.status === 0) process.exit(0);
if (process.platform === 'linux') {
  console.error('epoll-reactor: building the native reactor failed (see above). It needs python3, make and a C++17 compiler.');
  process.exit(result.status || 1);
}
console.warn(`epoll-reactor: no native reactor on ${process.platform}; createServer() will use node:net.`);
