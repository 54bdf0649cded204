// The suite again, with the reactor in level-triggered, read-until-EAGAIN mode
// (or what TEST_REACTOR_TRIGGER / TEST_REACTOR_DRAIN say): the options
// configure() offers must behave exactly like the defaults.
const base = require('./jest.config');

// Tests whose reactor runs only in child processes they spawn: the mode is
// configured in the jest process (test/helpers/reactor-mode.ts), so here they
// would repeat the default pass exactly (about 60 s of worker time in a
// 25-minute CI run).
const reactorOnlyInChildren = [
  'test/adopt\\.close-once\\.test\\.ts$',
  'test/consumers\\.test\\.ts$',
  'test/process\\.exit\\.test\\.ts$',
  'test/process\\.teardown\\.test\\.ts$',
  'test/proxy\\.e2e\\.test\\.ts$',
  'test/reliability/listen-eacces\\.test\\.ts$',
  'test/reliability/reactor-failure\\.test\\.ts$',
  'test/reliability/signals\\.test\\.ts$',
  'test/reliability/takeover-close-once\\.test\\.ts$',
  'test/reset-while-paused\\.test\\.ts$',
  'test/scaling\\.haproxy\\.test\\.ts$',
  'test/server-pool\\.fallback\\.test\\.ts$',
  'test/server\\.accept-bounds\\.test\\.ts$',
  'test/server\\.fd-table\\.test\\.ts$',
  'test/signal-ready\\.test\\.ts$',
  'test/socket\\.write-pinned\\.test\\.ts$',
  'test/start\\.demo\\.test\\.ts$',
  'test/start\\.verify\\.test\\.ts$',
  'test/worker\\.rss\\.test\\.ts$',
];

// The 64 MB integrity transfers move 16 MB here (test/helpers bulkBytes): the
// default pass moves the full size through the same code; the modes change
// when the reactor reads, which the first megabytes exercise as well.
process.env.EPOLL_REACTOR_TEST_BULK = 'short';

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testPathIgnorePatterns: [...base.testPathIgnorePatterns, ...reactorOnlyInChildren],
  setupFiles: ['<rootDir>/test/helpers/reactor-mode.ts'],
  // node:net's halves of the compat cases (and other node:net references)
  // run no reactor: the default pass has run them.
  testNamePattern: '^(?!node:net )',
};
