// configure() chooses how this thread's reactor polls and reads, before it starts.
import { configure, createServer } from '../lib';
import { closeServer, listenLocal } from './helpers';

test('rejects unknown modes and out-of-range sizes with Node-style codes', () => {
  expect(() => configure(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  expect(() => configure({ trigger: 'both' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(() => configure({ drain: 'never' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  expect(() => configure({ readBudgetPerTurn: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(() => configure({ maxUnconsumedBytes: 1.5e6 + 0.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(() => configure({ maxUnconsumedBytesPerSocket: '1' as never }))
    .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
});

test('can be called before the reactor starts, and not after', async () => {
  expect(() => configure({ trigger: 'edge', drain: 'short-read' })).not.toThrow();
  const server = createServer();
  await listenLocal(server);
  try {
    expect(() => configure({ trigger: 'level' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  } finally {
    await closeServer(server);
  }
});
