// A peer that fills a paused socket and resets: on resume the socket reads
// what was queued, then gets what net of this Node gives, 'end' (Node
// 20, 22: libuv takes a read that empties the queue with a hangup behind it
// for the end) or ECONNRESET (24 on), in every trigger and drain mode. In
// level-triggered, read-until-EAGAIN mode every read after the first was cut
// by the per-turn budget, so a queue of whole budgets ended on a read that
// was not short, and the next read met the reset: 'error' in about half the
// rounds (test/compat/socket.errors.test.ts caught it now and then).
import { hangupEndsShortRead } from '../lib/net-version';
import { startFixture } from './helpers/child';

const endOrReset = hangupEndsShortRead ? ['end', 'close:false'] : ['error:ECONNRESET', 'close:true'];
const rounds = 10;

describe.each([
  ['edge', 'short-read'],
  ['level', 'eagain'],
])('a peer that fills a paused socket and resets (%s-triggered, %s)', (trigger, drain) => {
  test(`each of ${rounds} rounds: what was queued, then what net gives`, async () => {
    const fixture = startFixture('reset-while-paused.js', { TRIGGER: trigger, DRAIN: drain, ROUNDS: String(rounds) });
    try {
      await fixture.next((line) => line.done === true, 30_000);
      const results = fixture.lines.filter((line) => line.done === undefined) as Array<{ events: string[] }>;
      expect(results).toHaveLength(rounds);
      for (const { events } of results) expect(events).toEqual(endOrReset);
    } finally {
      await fixture.kill();
    }
  });
});
