// The size-bound reliability cases, scaled down to fit `npm test` (small
// enough not to starve the other jest worker's large transfers); the full
// sizes run in scale.heavy.test.ts (`npm run test:heavy`). docs/reliability.md
// lists both scales.
import { releaseTracked } from '../helpers/cleanup';
import { churn, echoIntegrity, floodWhileBlocked, keptBuffers, workersTerminated } from './scenarios';

afterEach(releaseTracked);

const MiB = 1024 * 1024;

test('RELIABILITY #1 (scaled: 200 clients x 128 KB): chunks of 1 B-64 KB through an echo server, every SHA-256 matches', async () => {
  await echoIntegrity(200, 128 * 1024);
}, 120000);

test("RELIABILITY #4 (scaled: 100 connections x 512 KB = 50 MB): every 'data' Buffer kept still holds only its own pattern", async () => {
  await keptBuffers(100, MiB / 2);
}, 120000);

test('RELIABILITY #6 (scaled: 128 MB flood): JS thread blocked 2 s, peak RSS growth under the 64 MiB cap + 32 MiB, no byte lost', async () => {
  await floodWhileBlocked(128 * MiB);
}, 120000);

test("RELIABILITY #34 (scaled: 20,000 cycles, 10,000 of them warm-up): fd count back to baseline, JS heap flat and RSS outside V8's pages growing under 10 MB more than node:net's after warm-up", async () => {
  await churn(20000, 10000, 10 * MiB);
}, 120000);

test('RELIABILITY #36 (scaled: 5 rounds): a worker with 100 busy connections terminate()d: no crash, fds closed, main thread serving', async () => {
  await workersTerminated(5, 100);
}, 120000);
