// The two implementations every compat test runs against, from one shared
// body: node:net, which defines the behaviour, and epoll-reactor, which must
// match it. Only the server and its accepted sockets differ; clients are
// always plain node:net.
import * as net from 'node:net';
import * as path from 'node:path';

import * as reactor from '../../lib';
import { createServer as reactorCreateServer } from '../../lib';

/**
 * `createServer` as node:net declares it. The test bodies see every server
 * and accepted socket through node:net's types, so a method epoll-reactor
 * lacks fails its own case at run time ("x is not a function") instead of
 * failing the whole file at compile time.
 */
export type CreateServer = typeof net.createServer;

/** The name of an implementation, as it appears in test titles. */
export type ImplementationName = 'node:net' | 'epoll-reactor';

/** `[name, createServer]` pairs for `describe.each`. */
export const implementations: Array<[ImplementationName, CreateServer]> = [
  ['node:net', net.createServer],
  ['epoll-reactor', reactorCreateServer as unknown as CreateServer],
];

/**
 * The parts of node:net that epoll-reactor replaces, typed as node:net's, for
 * tests of clients (connect, Socket) as well as servers.
 */
export type NetModule = Pick<typeof net, 'createServer' | 'Server' | 'connect' | 'createConnection' | 'Socket'>;

/** `[name, module]` pairs for `describe.each`. */
export const netImplementations: Array<[ImplementationName, NetModule]> = [
  ['node:net', net],
  ['epoll-reactor', reactor as unknown as NetModule],
];

/** The environment variable that tells a child process which implementation to load. */
export const IMPLEMENTATION_ENV = 'COMPAT_IMPLEMENTATION';

/**
 * JavaScript that defines `createServer` in a child process from the
 * implementation named in `COMPAT_IMPLEMENTATION`. A child cannot load the
 * TypeScript in lib/, so epoll-reactor comes from dist/: build it first with
 * `npx tsc -p tsconfig.build.json`.
 */
export const childPrelude = [
  `const createServer = process.env.${IMPLEMENTATION_ENV} === 'node:net'`,
  `  ? require('node:net').createServer`,
  `  : require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'dist'))}).createServer;`,
  `const netModule = process.env.${IMPLEMENTATION_ENV} === 'node:net'`,
  `  ? require('node:net')`,
  `  : require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'dist'))});`,
  `const report = (line) => process.stdout.write(JSON.stringify(line) + '\\n');`,
].join('\n');
