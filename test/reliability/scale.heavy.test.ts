// The size-bound reliability cases at the sizes RELIABILITY.md gives, run by
// `npm run test:heavy` (jest.heavy.config.js) in .ci/run. One test at a time.
import { releaseTracked } from '../helpers/cleanup';
import { churn, echoIntegrity, floodWhileBlocked, keptBuffers, workersTerminated } from './scenarios';

afterEach(releaseTracked);

const MiB = 1024 * 1024;

test('RELIABILITY #1: 200 clients x 8 MB in chunks of 1 B-64 KB through an echo server, every SHA-256 matches', async () => {
  await echoIntegrity(200, 8 * MiB);
}, 240000);

test("RELIABILITY #4: 100 connections with distinct patterns over 1 GB (10 MiB each, every Buffer kept): each still holds only its own pattern", async () => {
  await keptBuffers(100, 10 * MiB);
}, 240000);

test('RELIABILITY #6: 1 GB flood while the JS thread is blocked 2 s: peak RSS growth under the 64 MiB cap + 32 MiB, no byte lost', async () => {
  await floodWhileBlocked(1024 * MiB);
}, 240000);

test("RELIABILITY #34: 100,000 connect/echo/close cycles: fd count back to baseline, JS heap flat and RSS outside V8's pages growing under 10 MB more than node:net's after a 30,000-cycle warm-up", async () => {
  await churn(100000, 30000, 10 * MiB);
}, 240000);

test('RELIABILITY #36: 50 times, a worker with 100 busy connections terminate()d: no crash, fds closed, main thread serving', async () => {
  await workersTerminated(50, 100);
}, 240000);
