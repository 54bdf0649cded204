// The suite again, with the reactor in level-triggered, read-until-EAGAIN mode
// (or what TEST_REACTOR_TRIGGER / TEST_REACTOR_DRAIN say): the options
// configure() offers must behave exactly like the defaults.
const base = require('./jest.config');

// Tests that start no reactor in the jest process: theirs runs only in the
// child processes or Workers they start, or they run none at all (argument
// checks, option parsing, object shapes). The mode is configured in the jest
// process (test/helpers/reactor-mode.ts), so here they would repeat the
// default pass exactly (leaving them out took the pass from 143 s to 123 s
// on a two-core machine, session 51).
// Found with a probe: an afterAll in setupFilesAfterEnv that records
// hasReactorStarted() (lib/reactor.ts) per file over a modes run.
const reactorNotInThisProcess = [
  'test/adopt\\.close-once\\.test\\.ts$',
  'test/binding\\.protocol\\.test\\.ts$',
  'test/compat/constructors\\.test\\.ts$',
  'test/compat/net\\.block-list\\.test\\.ts$',
  'test/compat/server\\.capture-rejection\\.test\\.ts$',
  'test/compat/server\\.ref\\.test\\.ts$',
  'test/compat/socket\\.fd\\.test\\.ts$',
  'test/compat/socket\\.ref\\.test\\.ts$',
  'test/compat/socket\\.type-of-service\\.test\\.ts$',
  'test/consumers\\.test\\.ts$',
  'test/process\\.exit-like-net\\.test\\.ts$',
  'test/process\\.exit\\.test\\.ts$',
  'test/process\\.teardown\\.test\\.ts$',
  'test/proxy\\.config-limit\\.test\\.ts$',
  'test/proxy\\.e2e\\.test\\.ts$',
  'test/proxy\\.sni-cert-options\\.test\\.ts$',
  'test/proxy\\.threads\\.test\\.ts$',
  'test/proxy\\.upstream-reuse-options\\.test\\.ts$',
  'test/reactor\\.collect\\.test\\.ts$',
  'test/reactor\\.thread\\.test\\.ts$',
  'test/reliability/emfile\\.test\\.ts$',
  'test/reliability/fault-injection\\.test\\.ts$',
  'test/reliability/listen-eacces\\.test\\.ts$',
  'test/reliability/reactor-failure\\.test\\.ts$',
  'test/reliability/signals\\.test\\.ts$',
  'test/reliability/takeover-close-once\\.test\\.ts$',
  'test/reset-while-paused\\.test\\.ts$',
  'test/scaling\\.haproxy\\.test\\.ts$',
  'test/server-pool\\.backoff\\.test\\.ts$',
  'test/server-pool\\.fallback\\.test\\.ts$',
  'test/server-pool\\.restart\\.test\\.ts$',
  'test/server-pool\\.shutdown\\.test\\.ts$',
  'test/server-pool\\.spread\\.test\\.ts$',
  'test/server-pool\\.start\\.test\\.ts$',
  'test/server\\.accept-bounds\\.test\\.ts$',
  'test/server\\.fd-table\\.test\\.ts$',
  'test/signal-ready\\.test\\.ts$',
  'test/socket\\.construct-shape\\.test\\.ts$',
  'test/socket\\.write-pinned\\.test\\.ts$',
  'test/start\\.demo\\.test\\.ts$',
  'test/start\\.verify\\.test\\.ts$',
  'test/tls\\.keylog-flag\\.test\\.ts$',
  'test/tls\\.options\\.test\\.ts$',
  'test/tls\\.server-flight\\.test\\.ts$',
  'test/tls\\.sni-gc\\.test\\.ts$',
  'test/tls\\.symbols\\.test\\.ts$',
  'test/tls\\.trace\\.test\\.ts$',
  'test/worker\\.rss\\.test\\.ts$',
];

// The 64 MB integrity transfers move 16 MB here (test/helpers bulkBytes): the
// default pass moves the full size through the same code; the modes change
// when the reactor reads, which the first megabytes exercise as well.
process.env.EPOLL_REACTOR_TEST_BULK = 'short';

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: [...base.testPathIgnorePatterns, ...reactorNotInThisProcess],
  setupFiles: ['<rootDir>/test/helpers/reactor-mode.ts'],
  // node:net's halves of the compat cases (and other node:net references)
  // run no reactor: the default pass has run them.
  testNamePattern: '^(?!node:net )',
};
