// The API fuzzer (./api-fuzzer.ts) over a fixed list of seeds, each keeping a
// few hundred sockets open while it calls the public API at random. Any seed
// that ever failed is kept here by name, with what it found.
//
// More seeds or a longer run, from the command line:
//   FUZZ_SEEDS=1000 npm run fuzz            # seeds 1..1000 (or FUZZ_SEEDS=7,42,99)
//   FUZZ_SECONDS=60 FUZZ_SOCKETS=500 npm run fuzz
//   npm run fuzz:sanitize                   # 500 sockets for 60 s under ASan + UBSan
//   FUZZ_HOSTILE=1 FUZZ_SEEDS=100 npm run fuzz   # the hostile extras on every seed (timed runs have them on)
//   FUZZ_TLS=1 FUZZ_SEEDS=100 npm run fuzz       # TLS connections too on every seed (timed runs have them on)
import { runFuzz } from './api-fuzzer';

interface Seed {
  seed: number;
  why: string;
  sockets?: number;
  operations?: number;
  hostile?: boolean;
  tls?: boolean;
}

// Each runs in about 1-4 s. Seeds that found a bug stay here with what they found.
const FIXED_SEEDS: Seed[] = [
  // Seeds 1-4 each failed while forward() emitted 'data' for the unread bytes it passed on.
  { seed: 1, why: "forward(): no 'data' for bytes passed on" },
  { seed: 2, why: "forward(): no 'data' for bytes passed on" },
  { seed: 3, why: 'baseline mix' },
  { seed: 4, why: 'baseline mix' },
  // Threw ERR_INVALID_HANDLE_TYPE, uncaught, from the 'connect' of a Unix socket reset while connecting.
  { seed: 1, sockets: 300, operations: 8000, why: 'resetAndDestroy() of a connecting Unix socket' },
  // Issue 12's hostile inputs: every ArrayBufferView kind, forward() of flowing
  // and adopted sockets, resets before forward(), hostile lookup results.
  { seed: 5, hostile: true, why: 'hostile: views, flowing forwards, lookups' },
  { seed: 6, hostile: true, why: 'hostile: views, flowing forwards, lookups' },
  // TLS on the reactor thread under the same calls: reactor and node:tls
  // clients and servers, forward() terminating TLS.
  { seed: 7, tls: true, why: 'tls: handshakes and records cut by every call' },
  { seed: 8, tls: true, hostile: true, why: 'tls and hostile' },
];

function seedsFromEnvironment(): Seed[] {
  const spec = process.env.FUZZ_SEEDS;
  if (!spec) return FIXED_SEEDS;
  if (/^\d+$/.test(spec)) return Array.from({ length: Number(spec) }, (_, i) => ({ seed: i + 1, why: 'FUZZ_SEEDS' }));
  return spec.split(',').map((s) => ({ seed: Number(s), why: 'FUZZ_SEEDS' }));
}

const sockets = Number(process.env.FUZZ_SOCKETS ?? 200);
const seconds = process.env.FUZZ_SECONDS ? Number(process.env.FUZZ_SECONDS) : undefined;
const operations = Number(process.env.FUZZ_OPERATIONS ?? 1500);
const hostileFromEnvironment = process.env.FUZZ_HOSTILE !== undefined ? process.env.FUZZ_HOSTILE !== '0' : undefined;
const tlsFromEnvironment = process.env.FUZZ_TLS !== undefined ? process.env.FUZZ_TLS !== '0' : undefined;

describe('RELIABILITY #35: API fuzzer', () => {
  const seeds: Seed[] = seconds !== undefined ? [{ seed: Number(process.env.FUZZ_SEED ?? Date.now() % 100000), why: 'timed run' }] : seedsFromEnvironment();
  // Per seed, the forward()s to an address checked whole both ways. A seed
  // makes a few, and its own resets and destroys can cut each of them short
  // when the machine is loaded (seed 5 made none whole twice, beside other
  // runs); so the check that they happen is over all the seeds.
  const addressForwardsWhole: number[] = [];
  test.each(seeds)('seed $seed ($why): one close per socket, nothing after it, every byte accounted for', async (entry) => {
    const { seed } = entry;
    const tls = tlsFromEnvironment ?? entry.tls ?? seconds !== undefined;
    if (seconds !== undefined) console.log(`fuzzing with seed ${seed} for ${seconds} s (replay: FUZZ_SEED=${seed})`);
    const result = await runFuzz({
      seed,
      sockets: entry.sockets ?? sockets,
      operations: seconds === undefined ? entry.operations ?? operations : undefined,
      durationMs: seconds === undefined ? undefined : seconds * 1000,
      log: process.env.FUZZ_VERBOSE ? (line) => console.log(line) : undefined,
      hostile: hostileFromEnvironment ?? entry.hostile ?? seconds !== undefined,
      tls,
    });
    if (process.env.FUZZ_VERBOSE || seconds !== undefined) console.log(JSON.stringify(result.stats));
    addressForwardsWhole.push(result.stats.addressForwardStreamsWhole ?? 0);
    expect(result.violations).toEqual([]);
    // The run did what it is for: many sockets, data both ways, whole streams checked.
    expect(result.stats.sockets).toBeGreaterThan(entry.sockets ?? sockets);
    expect(result.stats.streamsWhole).toBeGreaterThan(0);
    expect(result.stats.bytesReceived).toBeGreaterThan(0);
    if (tls) expect(result.stats.tlsStreamsWhole).toBeGreaterThan(0);
    // Timed runs (hostile): some forwards, of both forms, read their first
    // bytes as UTF-8 text first. (A fixed seed makes a few, not always one whole.)
    if (seconds !== undefined) expect(result.stats.decodedForwardStreamsWhole).toBeGreaterThan(0);
    // ...and some forwards between sockets wrote it on to the upstream corked first.
    if (seconds !== undefined) expect(result.stats.corkedForwardStreamsWhole).toBeGreaterThan(0);
  }, 120000 + (seconds ?? 0) * 2000);

  test('over the seeds: both directions of some forward()s to an address, checked whole', () => {
    expect(addressForwardsWhole).toHaveLength(seeds.length);
    expect(addressForwardsWhole.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
  });
});
