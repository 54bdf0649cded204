// The suite again, with the reactor in level-triggered, read-until-EAGAIN mode
// (or what TEST_REACTOR_TRIGGER / TEST_REACTOR_DRAIN say): the options
// configure() offers must behave exactly like the defaults.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  setupFiles: ['<rootDir>/test/helpers/reactor-mode.ts'],
};
