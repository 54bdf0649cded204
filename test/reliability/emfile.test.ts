// Running out of fds. The server lives in a child with a low fd limit
// (prlimit), which fills its own fd table with /dev/null on command.
import * as net from 'node:net';

import { releaseTracked, track } from '../helpers/cleanup';
import { cpuShareOver, echoThrough, startFaultServer } from './fault-child';

afterEach(releaseTracked);
jest.setTimeout(60000);

/** Connects to port and resolves with how the connection ended: 'data', 'end', an error code, or 'open' after ms. */
function outcome(port: number, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const socket = track(net.connect(port, '127.0.0.1'));
    const timer = setTimeout(() => { socket.destroy(); resolve('open'); }, ms);
    const finish = (what: string): void => { clearTimeout(timer); socket.destroy(); resolve(what); };
    socket.on('data', () => finish('data'));
    socket.on('end', () => finish('end'));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? 'error'));
    socket.on('connect', () => socket.write('hello'));
  });
}

test('RELIABILITY #24: EMFILE on accept: clients are shed, under 10% CPU over 2 s, reported as an EMFILE server error, accepting resumes within 1 s of fds being freed', async () => {
  const server = await startFaultServer({ shim: false, nofile: 128, env: { SERVER_ERROR_LISTENER: '1' } });
  server.send('fill');
  const filled = await server.next((line) => line.event === 'filled');
  expect(filled.code).toBe('EMFILE');

  // While the table is full, connections keep coming; each is accepted with
  // the spare fd and closed at once, so no client hangs and nothing spins.
  const cpu = cpuShareOver(`/proc/${server.pid}/stat`, 2000);
  const outcomes: Array<Promise<string>> = [];
  for (let i = 0; i < 10; i++) {
    outcomes.push(outcome(server.port));
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  expect(await cpu).toBeLessThan(0.1);
  for (const seen of await Promise.all(outcomes)) expect(['end', 'ECONNRESET']).toContain(seen);
  const reported = await server.next((line) => line.event === 'serverError');
  expect(reported).toMatchObject({ code: 'EMFILE', syscall: 'accept' });

  server.send('free');
  await server.next((line) => line.event === 'freed');
  const freedAt = Date.now();
  const echoed = await echoThrough(server.port, Buffer.from('back in business'), 1000);
  expect(echoed.toString()).toBe('back in business');
  expect(Date.now() - freedAt).toBeLessThan(1000);
  expect((await server.exit()).code).toBe(0);
});

test('RELIABILITY #24: without an error listener the EMFILE condition is a process warning, never an uncaught error', async () => {
  const server = await startFaultServer({ shim: false, nofile: 128 });
  server.send('fill');
  await server.next((line) => line.event === 'filled');
  expect(['end', 'ECONNRESET']).toContain(await outcome(server.port));
  const warning = await server.next((line) => line.event === 'warning');
  expect(warning).toMatchObject({ name: 'EpollReactorWarning' });
  expect(String(warning.message)).toMatch(/EMFILE/);
  server.send('free');
  await server.next((line) => line.event === 'freed');
  expect((await echoThrough(server.port, Buffer.from('still serving'), 2000)).toString()).toBe('still serving');
  expect((await server.exit()).code).toBe(0);
});

test('RELIABILITY #25: EMFILE on connect() is a clean EMFILE error event, and connect works again once fds are freed', async () => {
  const server = await startFaultServer({ shim: false, nofile: 128 });
  server.send('fill');
  await server.next((line) => line.event === 'filled');
  server.send('connect');
  expect(await server.next((line) => line.event === 'connectError' || line.event === 'connected'))
    .toMatchObject({ event: 'connectError', code: 'EMFILE' });
  server.send('free');
  await server.next((line) => line.event === 'freed');
  server.send('connect');
  await server.next((line) => line.event === 'connected');
  expect((await server.exit()).code).toBe(0);
});
