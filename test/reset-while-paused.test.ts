// A peer that fills a paused socket and resets: on resume the socket reads
// what was queued, then gets what net of this Node gives, 'end' (Node
// 20, 22: libuv takes a read that empties the queue with a hangup behind it
// for the end) or ECONNRESET (24 on), in every trigger and drain mode. In
// level-triggered, read-until-EAGAIN mode every read after the first was cut
// by the per-turn budget, so a queue of whole budgets ended on a read that
// was not short, and the next read met the reset: 'error' in about half the
// rounds (test/compat/socket.errors.test.ts caught it now and then).
// Over TLS the same: node:tls reads through the same libuv stream, so on
// Node 20 and 22 its server gets 'end' there too; the reactor's TLS reads
// met the reset in every round until they followed the same rule.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hangupEndsShortRead } from '../lib/net-version';
import { makeTestCertificate } from './helpers/cert';
import { startFixture } from './helpers/child';

const endOrReset = hangupEndsShortRead ? ['end', 'close:false'] : ['error:ECONNRESET', 'close:true'];
const rounds = 10;

let tlsFiles: Record<string, string> = {};
let directory = '';
beforeAll(() => {
  const certificate = makeTestCertificate();
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'epoll-reactor-reset-'));
  tlsFiles = { TLS_KEY: path.join(directory, 'key.pem'), TLS_CERT: path.join(directory, 'cert.pem') };
  fs.writeFileSync(tlsFiles.TLS_KEY, certificate.key);
  fs.writeFileSync(tlsFiles.TLS_CERT, certificate.cert);
  certificate.remove();
});
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

describe.each([
  ['plain', 'edge', 'short-read'],
  ['plain', 'level', 'eagain'],
  ['TLS', 'edge', 'short-read'],
  ['TLS', 'level', 'eagain'],
])('a %s peer that fills a paused socket and resets (%s-triggered, %s)', (kind, trigger, drain) => {
  test(`each of ${rounds} rounds: what was queued, then what net gives`, async () => {
    const env = { TRIGGER: trigger, DRAIN: drain, ROUNDS: String(rounds), ...(kind === 'TLS' ? tlsFiles : {}) };
    const fixture = startFixture('reset-while-paused.js', env);
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
