// Tests that assert latencies the issues require (a timeout within 50 ms of
// its deadline, an accept within 50 ms). They run after the rest, one file at
// a time, so that no other test competes with them for the two cores.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = { ...base, testMatch: ['**/*.timing.test.ts'], testPathIgnorePatterns: [], maxWorkers: 1 };
