// The reactor thread failing (issue 12 item 4): epoll_wait failing with an
// error other than EINTR, and the thread failing to start. Either must reach
// JS as errors (servers emit 'error', sockets are destroyed with it), leave
// the JS thread's signal mask alone, let a new reactor serve afterwards, and
// let the process exit by itself. Faults come from the LD_PRELOAD shim.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { track, releaseTracked } from '../helpers/cleanup';
import { preloadWithShim } from '../fault/build';

afterEach(releaseTracked);
jest.setTimeout(30000);

type Line = Record<string, unknown>;

async function runFixture(env: Record<string, string>): Promise<{ code: number | null; signal: string | null; lines: Line[]; stderr: string }> {
  const script = path.join(__dirname, '..', 'fixtures', 'reactor-failure.js');
  const child = track(spawn(process.execPath, [script], {
    // The shim fails the reactor thread's calls (and its pthread_create).
    env: { ...process.env as Record<string, string>, LD_PRELOAD: preloadWithShim(), EPOLL_REACTOR_THREAD: 'own', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const lines: Line[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      lines.push({ event: 'unparsed', text });
    }
  });
  // The fixture ends itself after 20 s (exit code 3); this bounds the wait too.
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 25000);
    child.once('exit', (exitCode, exitSignal) => {
      clearTimeout(timer);
      resolve({ code: exitCode, signal: exitSignal });
    });
  });
  await new Promise((resolve) => setImmediate(resolve));
  return { code, signal, lines, stderr };
}

test('epoll_wait failing (EINVAL): the server emits it and closes, its socket is destroyed with it, a new reactor serves (a connect still looking up too), the process exits by itself', async () => {
  const { code, signal, lines, stderr } = await runFixture({
    FAILURE: 'epoll_wait', FAULT_ARM_ON_SIGUSR2: '1', FAULT_EPOLL_WAIT_AFTER: '0', FAULT_EPOLL_WAIT_COUNT: '1',
  });
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  const events = lines.map((line) => line.event);
  expect(lines.filter((line) => line.event === 'serverError')).toEqual([{ event: 'serverError', code: 'EINVAL', syscall: 'epoll_wait' }]);
  expect(lines.filter((line) => line.event === 'socketError')).toEqual([{ event: 'socketError', code: 'EINVAL', syscall: 'epoll_wait' }]);
  expect(events.filter((event) => event === 'socketClose')).toHaveLength(1);
  expect(events.filter((event) => event === 'serverClose')).toHaveLength(1);
  // The reactor closed the accepted socket, so the node:net client sees it end.
  expect(events).toContain('clientClose');
  expect(lines.filter((line) => line.event === 'secondEcho')).toEqual([{ event: 'secondEcho', received: 'again' }]);
  // A connect whose lookup answered after the failure connected on the new reactor.
  expect(lines.filter((line) => line.event === 'lateEcho' || line.event === 'lateError'))
    .toEqual([{ event: 'lateEcho', received: 'late' }]);
  // The failed reactor's fds are closed once its endpoints are: only the new reactor's epoll fd remains.
  expect(lines.filter((line) => line.event === 'epollFds')).toEqual([{ event: 'epollFds', count: 1 }]);
});

// Under scripts/sanitize.sh ASan intercepts pthread_create and does not survive
// a failure injected beneath it (the child hangs in its thread registry).
const threadFaultTest = /libasan/.test(process.env.LD_PRELOAD ?? '') ? test.skip : test;

threadFaultTest('the reactor thread failing to start (pthread_create EAGAIN): listen emits the error, no signal stays blocked on the JS thread, the next reactor serves', async () => {
  const { code, signal, lines, stderr } = await runFixture({
    FAILURE: 'thread', FAULT_PTHREAD_CREATE_AFTER: '0', FAULT_PTHREAD_CREATE_COUNT: '1',
  });
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  expect(lines.filter((line) => line.event === 'serverError')).toEqual([
    { event: 'serverError', code: 'EAGAIN', syscall: 'pthread_create', sigblk: '0000000000000000' },
  ]);
  expect(lines.filter((line) => line.event === 'listening')).toEqual([]);
  expect(lines.filter((line) => line.event === 'secondEcho')).toEqual([{ event: 'secondEcho', received: 'again' }]);
  expect(lines.filter((line) => line.event === 'epollFds')).toEqual([{ event: 'epollFds', count: 1 }]);
});
