// new Socket({ readable: false }) / ({ writable: false }) without an fd, as
// net makes them (its Duplex reads the two options): a socket whose read side
// is closed from birth is never read, and one whose write side is closed
// fails writes with ERR_STREAM_WRITE_AFTER_END. connect() passes its options
// to the socket it makes, so the same holds there. Node 20 to 26 agree.
import * as net from 'node:net';

import { delay, listenLocal, trackServer, trackSocket, useCompatHarness, within } from './harness';
import { netImplementations } from './implementations';

useCompatHarness();

/** A server that sends 'hello' to each client and records what each sends. */
async function greeter(): Promise<{ port: number; received: () => string }> {
  let received = '';
  const server = trackServer(net.createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk) => { received += chunk; });
    socket.write('hello');
  }));
  return { port: await listenLocal(server), received: () => received };
}

describe.each(netImplementations)('%s', (_name, implementation) => {
  test.each([
    ['new Socket()', (port: number) => new implementation.Socket({ readable: false }).connect(port, '127.0.0.1')],
    ['connect()', (port: number) => implementation.connect({ port, host: '127.0.0.1', readable: false })],
  ])('readable: false by %s: nothing is read, and writes go', async (_how, make) => {
    const { port, received } = await greeter();
    const client = trackSocket(make(port));
    expect(client.readable).toBe(false);
    const seen: string[] = [];
    client.on('data', (chunk: Buffer) => seen.push(String(chunk)));
    client.on('end', () => seen.push('end'));
    client.on('error', (error: Error) => seen.push(`error ${(error as { code?: string }).code}`));
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    await within(new Promise((resolve) => client.write('ping', resolve)), 2000, 'the write');
    await delay(100);
    expect(seen).toEqual([]);
    expect(client.bytesRead).toBe(0);
    expect(received()).toBe('ping');
    expect(client.readable).toBe(false);
    expect(client.writable).toBe(true);
  });

  test('writable: false: the first write fails with ERR_STREAM_WRITE_AFTER_END, which destroys the socket', async () => {
    const { port, received } = await greeter();
    const client = trackSocket(new implementation.Socket({ writable: false }));
    expect(client.writable).toBe(false);
    client.connect(port, '127.0.0.1');
    await within(new Promise((resolve) => client.once('connect', resolve)), 2000, "'connect'");
    const failed: string[] = [];
    client.on('error', (error: Error) => failed.push(`error ${(error as { code?: string }).code}`));
    client.write('ping', (error) => failed.push(`callback ${(error as { code?: string } | null)?.code}`));
    await within(new Promise((resolve) => client.once('close', resolve)), 2000, "'close'");
    expect(failed).toEqual(['callback ERR_STREAM_WRITE_AFTER_END', 'error ERR_STREAM_WRITE_AFTER_END']);
    expect(received()).toBe('');
  });
});
