// The API fuzzer with the reactor's unconsumed-byte caps set as low as
// configure() allows, so that paused sockets, forward() hand-overs and
// adopt() meet a binding cap all the time instead of only under floods:
// issue 12's use-after-free and stranded-cap bugs lived exactly there.
import { configure } from '../../lib';
import { runFuzz } from './api-fuzzer';

configure({ maxUnconsumedBytesPerSocket: 65536, maxUnconsumedBytes: 1024 * 1024 });

const SEEDS = [
  { seed: 7, hostile: false, tls: false },
  { seed: 8, hostile: true, tls: false },
  // TLS sockets under binding caps: plaintext counted against them while
  // records wait in OpenSSL and in the overflow behind a full socket.
  { seed: 9, hostile: false, tls: true },
  { seed: 10, hostile: true, tls: true },
];

describe('RELIABILITY #35: API fuzzer with binding caps', () => {
  test.each(SEEDS)('seed $seed (hostile: $hostile, tls: $tls): one close per socket, every byte accounted for', async ({ seed, hostile, tls }) => {
    const result = await runFuzz({ seed, sockets: 150, operations: 1500, hostile, tls });
    if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify(result.stats));
    expect(result.violations).toEqual([]);
    expect(result.stats.streamsWhole).toBeGreaterThan(0);
    expect(result.stats.bytesReceived).toBeGreaterThan(0);
    if (tls) expect(result.stats.tlsStreamsWhole).toBeGreaterThan(0);
  }, 120000);
});
