// The reliability cases at full size (test/reliability/*.heavy.test.ts: 200
// clients x 8 MB, 1 GB of kept Buffers, a 1 GB flood, 100,000 churn cycles,
// 50 worker terminations). `npm test` runs scaled-down versions of the same
// scenarios; .ci/run runs these too. One file at a time, alone on the cores.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = { ...base, testMatch: ['**/*.heavy.test.ts'], testPathIgnorePatterns: ['/node_modules/'], maxWorkers: 1, testTimeout: 240000 };
