// write(): callbacks once each and in order, 'finish' after the last; the
// return value and 'drain' around the high-water mark; the argument forms.
import { once } from 'node:events';

import { mustCall } from '../helpers';
import { connectPair, delay, listenLocal, readAll, useCompatHarness, within } from './harness';
import { implementations } from './implementations';

useCompatHarness();

const MiB = 1024 * 1024;

describe.each(implementations)('%s', (_name, createServer) => {
  test("100 writes: each callback once, in order, with no error, all before 'finish'", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.resume(); // so that it sees the client's FIN and closes
    const events: string[] = [];
    let expected = '';
    for (let i = 0; i < 100; i++) {
      const chunk = `${i};`;
      expected += chunk;
      socket.write(i % 2 === 0 ? chunk : Buffer.from(chunk), mustCall((error?: Error | null) => {
        events.push(`${i}:${error}`);
      }));
    }
    socket.on('finish', mustCall(() => { events.push('finish'); }));
    socket.end();
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe(expected);
    await within(once(socket, 'close'), 2000, "'close'");
    expect(events).toEqual([...Array.from({ length: 100 }, (_, i) => `${i}:null`), 'finish']);
  });

  test('writes behind one in flight, corked and not, then end(chunk): bytes in order, each callback in order, bytesWritten exact', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.resume();
    const events: string[] = [];
    const note = (name: string) => mustCall((error?: Error | null) => { events.push(`${name}:${error}`); });
    socket.write('A', note('A'));
    socket.write('B', note('B'));
    socket.cork();
    socket.write('C', note('C'));
    socket.cork();
    socket.write(Buffer.from('D'), note('D'));
    const corked = socket.bytesWritten;
    socket.uncork();
    socket.write('E', note('E'));
    socket.uncork();
    socket.write('x'.repeat(100_000), note('big'));
    socket.write('F', note('F'));
    const queued = socket.bytesWritten;
    socket.end('G', note('end'));
    expect((await within(received, 5000, "the client's 'end'")).toString()).toBe(`ABCDE${'x'.repeat(100_000)}FG`);
    await within(once(socket, 'close'), 2000, "'close'");
    expect({ corked, queued, last: socket.bytesWritten }).toEqual({ corked: 4, queued: 100_006, last: 100_007 });
    expect(events).toEqual(['A', 'B', 'C', 'D', 'E', 'big', 'F', 'end'].map((name) => `${name}:null`));
  });

  test("a write's callback comes once the kernel has its bytes, though a larger write behind it waits for the peer", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.pause();
    let small = false;
    let large = false;
    socket.write('X', mustCall(() => { small = true; }));
    // (Destroyed unsent below: net on Node 20 never calls this one.)
    socket.write(Buffer.alloc(64 * MiB), () => { large = true; });
    // A ceiling: net calls it within milliseconds. Queued behind it, the
    // 64 MiB must not hold it until they are sent too.
    await within(new Promise<void>((resolve) => {
      const check = setInterval(() => { if (small) { clearInterval(check); resolve(); } }, 5);
    }), 5000, "the first write's callback");
    expect(large).toBe(false);
    socket.destroy();
  });

  test("writes the kernel cannot take return false until one 'drain', after which write() returns true", async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    client.pause();
    socket.on('drain', mustCall());
    // More than a peer that does not read lets the kernel buffer, so it waits
    // in the socket. (A write the kernel takes whole returns true in node:net,
    // however large.)
    expect(socket.write(Buffer.alloc(32 * MiB))).toBe(false);
    expect(socket.writableNeedDrain).toBe(true);
    expect(socket.write('more')).toBe(false);
    await delay(300);
    expect(socket.writableLength).toBeGreaterThan(0);
    client.resume();
    await within(once(socket, 'drain'), 5000, "'drain' once the peer reads");
    expect(socket.writableNeedDrain).toBe(false);
    expect(socket.writableLength).toBe(0);
    expect(socket.write('small')).toBe(true);
    await delay(100);
  });

  test('write(string, callback), write(string, encoding, callback) and an empty write', async () => {
    const server = createServer();
    const port = await listenLocal(server);
    const { client, socket } = await connectPair(server, port);
    const received = readAll(client);
    socket.resume(); // so that it sees the client's FIN and closes
    const order: string[] = [];
    socket.write('abc', mustCall(() => { order.push('plain'); }));
    socket.write('616263', 'hex', mustCall(() => { order.push('hex'); }));
    socket.write('', mustCall(() => { order.push('empty'); }));
    socket.write(Buffer.alloc(0), mustCall(() => { order.push('empty buffer'); }));
    socket.end();
    expect((await within(received, 2000, "the client's 'end'")).toString()).toBe('abcabc');
    await within(once(socket, 'close'), 2000, "'close'");
    expect(order).toEqual(['plain', 'hex', 'empty', 'empty buffer']);
  });
});
