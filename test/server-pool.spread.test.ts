// serveOnWorkers: every worker listens on the one port with SO_REUSEPORT, and
// the kernel spreads connections among them; the pool's stats add up to
// what the clients sent, per worker and in total.
import { serveOnWorkers, ServerPool, ServerPoolMode } from '../lib';
import { exchange, poolEchoModule } from './helpers/pool';

let pool: ServerPool | undefined;
afterEach(async () => {
  await pool?.close(0);
  pool = undefined;
});

const CONNECTIONS = 100;

describe.each<ServerPoolMode>(['threads', 'cluster'])('mode %s', (mode) => {
  test(`${CONNECTIONS} connections reach both of 2 workers, and stats count them all`, async () => {
    pool = await serveOnWorkers({ module: poolEchoModule, port: 0, host: '127.0.0.1', workers: 2, mode });
    const { port } = pool.address()!;
    const workerIds = pool.workers().map((worker) => worker.id);
    expect(new Set(workerIds).size).toBe(2);

    // Each connection asks which worker serves it, then echoes a line.
    const servedBy = new Map<string, number>();
    for (let i = 0; i < CONNECTIONS; i++) {
      const who = await exchange(port, 'who\n');
      expect(typeof who).toBe('string');
      servedBy.set(who as string, (servedBy.get(who as string) ?? 0) + 1);
      expect(await exchange(port, `line ${i}\n`)).toBe(`line ${i}\n`);
    }
    // Two distinct workers answered: pid/threadId pairs differ.
    expect(servedBy.size).toBe(2);

    // The clients have closed; the workers see the last FIN a moment later.
    let stats = await pool.stats();
    for (let i = 0; i < 100 && stats.active > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      stats = await pool.stats();
    }
    expect(stats.accepted).toBe(2 * CONNECTIONS);
    expect(stats.active).toBe(0);
    expect(stats.restarts).toBe(0);
    const lineBytes = Array.from({ length: CONNECTIONS }, (_, i) => `line ${i}\n`.length).reduce((a, b) => a + b, 0);
    expect(stats.bytesRead).toBe(CONNECTIONS * 'who\n'.length + lineBytes);
    expect(stats.workers.map((worker) => worker.id)).toEqual(workerIds);
    for (const worker of stats.workers) {
      // Hashing 200 connections' ports over 2 sockets: each gets a share.
      expect(worker.accepted).toBeGreaterThan(0);
      expect(worker.online).toBe(true);
    }
    expect(stats.workers[0].accepted + stats.workers[1].accepted).toBe(2 * CONNECTIONS);
    expect(stats.bytesWritten).toBeGreaterThan(lineBytes);
  }, 60000);
});
