// jest.modes.config.js runs the suite with the reactor configured from the
// environment, so the non-default trigger and drain modes meet every test
// the defaults do.
import { configure } from '../../lib';

const trigger = process.env.TEST_REACTOR_TRIGGER;
const drain = process.env.TEST_REACTOR_DRAIN;
configure({
  trigger: trigger === 'edge' || trigger === 'level' ? trigger : 'level',
  drain: drain === 'short-read' || drain === 'eagain' ? drain : 'eagain',
});
