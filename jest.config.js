/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Latency assertions run alone afterwards (jest.timing.config.js); the
  // full-size reliability cases in their own suite (jest.heavy.config.js).
  testPathIgnorePatterns: ['/node_modules/', '\\.timing\\.test\\.ts$', '\\.heavy\\.test\\.ts$'],
  testTimeout: 60000,
  // Two cores: two test files at a time, each with its own reactor.
  maxWorkers: 2,
  // Transpile only (tsconfig.jest.json): `npm test` type-checks everything
  // once before jest runs (pretest).
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
};
