#!/usr/bin/env node
'use strict';
// The epoll-reactor command: `epoll-reactor proxy ...flags` runs the TCP proxy
// (dist/proxy/cli.js, compiled from lib/proxy/cli.ts).
const path = require('node:path');

const USAGE = `Usage: epoll-reactor <command> [flags]

Commands:
  proxy     a TCP proxy whose connections are forwarded on the epoll reactor thread
            (epoll-reactor proxy --help for its flags)

  -h, --help    print this help
`;

const [command, ...rest] = process.argv.slice(2);

if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
  // Asked for help: stdout and 0. No command at all: a usage error.
  (command === undefined ? process.stderr : process.stdout).write(USAGE);
  process.exitCode = command === undefined ? 2 : 0;
} else if (command === 'proxy') {
  let cli;
  try {
    cli = require('../dist/proxy/cli.js');
  } catch (error) {
    if (error.code !== 'MODULE_NOT_FOUND') throw error;
    process.stderr.write(`epoll-reactor: ${path.resolve(__dirname, '..', 'dist', 'proxy', 'cli.js')} is missing; ` +
      'build the package first (npm run build)\n');
    process.exit(1);
  }
  cli.main(rest);
} else {
  process.stderr.write(`epoll-reactor: unknown command '${command}'; expected 'proxy'\n\n${USAGE}`);
  process.exitCode = 2;
}
