// RELIABILITY #3 with the fault shim's close() log instead of strace (see
// test/adopt.close-once.test.ts for the strace version, which also orders the
// calls): a child adopts an accepted socket and a listening server, uses both,
// destroys them and exits; the shim counts, per fd number, the calls that
// created it and the close()s of it, and every close() that failed with EBADF.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { releaseTracked, track } from '../helpers/cleanup';
import { preloadWithShim } from '../fault/build';
import type { ShimReport } from './fault-child';

afterEach(releaseTracked);

test('RELIABILITY #3: adopt, use and destroy a socket and a server: every fd closed exactly once per lifetime, no EBADF, no FIN or RST during the takeover', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'close-log-'));
  const reportPath = path.join(directory, 'report.json');
  try {
    const child = track(spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', 'adopt-close-once.js')], {
      // Counts the closes the reactor thread makes: a thread of its own.
      env: { ...process.env, LD_PRELOAD: preloadWithShim(), FAULT_CLOSE_LOG: '1', FAULT_REPORT: reportPath,
        EPOLL_REACTOR_THREAD: 'own' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }));
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    const line = JSON.parse(output.trim().split('\n').pop()!) as { socketFd: number; serverFd: number; clientEventsBeforeDestroy: string[] };
    expect(line.clientEventsBeforeDestroy).toEqual([]);
    const report = JSON.parse(fs.readFileSync(reportPath, 'utf8')) as ShimReport;

    // No close() in the whole process hit an fd that was not open.
    expect(report.ebadf).toBe(0);
    // No fd number was closed more often than it was handed out (fds 0-2
    // were inherited, so their creation was never seen).
    const overClosed = Object.entries(report.fds)
      .filter(([fd, record]) => Number(fd) > 2 && record.closed > record.created);
    expect(overClosed).toEqual([]);
    // libuv's originals: every lifetime of those numbers closed, and at least
    // one close not made by the reactor thread (libuv's own, of its original).
    for (const fd of [line.socketFd, line.serverFd]) {
      const record = report.fds[String(fd)];
      expect({ fd, closed: record.closed, byLibuv: record.closed - record.closedByReactor >= 1 })
        .toEqual({ fd, closed: record.created, byLibuv: true });
    }
    // The reactor thread closed the two duplicates and the connection the
    // adopted server accepted, each number no more often than it was handed out.
    const closedByReactor = Object.entries(report.fds).filter(([, record]) => record.closedByReactor > 0);
    expect(closedByReactor.length).toBeGreaterThanOrEqual(3);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}, 30000);
