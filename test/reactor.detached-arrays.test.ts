// The arrays the native side reuses across batches (records, inbox, write
// log) are V8's memory. On Node 22, markAsUntransferable does not stop
// ArrayBuffer#transfer, so JS that reached them could detach them: the
// native side must then make new ones, or refuse, and never write into the
// memory that moved to the new owner. From Node 24 transfer() refuses them.
import { once } from 'node:events';
import * as net from 'node:net';

import { createServer, Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { closeServer, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);

type Transferable = ArrayBuffer & { transfer?: () => ArrayBuffer };
const canTransfer = typeof (ArrayBuffer.prototype as Transferable).transfer === 'function';
const hex = (buffer: ArrayBuffer): string => Buffer.from(buffer).toString('hex');

/** The buffer's memory moved to a new ArrayBuffer, or undefined where V8 refuses (Node 24 on). */
function detach(array: Uint8Array | Float64Array): ArrayBuffer | undefined {
  try {
    return (array.buffer as Transferable).transfer!();
  } catch (error) {
    expect(error).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/not detachable/) });
    return undefined;
  }
}

(canTransfer ? test : test.skip)('batches after their records and inbox were detached use new arrays and leave the old memory alone', async () => {
  const server = track(createServer((socket: Socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk))));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  await once(client, 'connect');
  const echo = async (text: string): Promise<string> => {
    client.write(text);
    const [chunk] = await once(client, 'data') as [Buffer];
    return chunk.toString();
  };
  expect(await echo('first')).toBe('first');

  const reactor = getReactor();
  const records = reactor.lastRecords!;
  const inbox = reactor.lastInbox!;
  const movedRecords = detach(records);
  const movedInbox = detach(inbox);
  if (movedRecords === undefined || movedInbox === undefined) {
    expect(movedRecords).toBeUndefined();
    expect(await echo('still whole')).toBe('still whole');
    client.destroy();
    await closeServer(server);
    return;
  }
  const recordsBefore = hex(movedRecords);
  const inboxBefore = hex(movedInbox);

  for (let i = 0; i < 20; i++) expect(await echo(`message ${i}`)).toBe(`message ${i}`);
  expect(hex(movedRecords)).toBe(recordsBefore);
  expect(hex(movedInbox)).toBe(inboxBefore);
  expect(reactor.lastRecords).not.toBe(records);
  expect(reactor.lastInbox).not.toBe(inbox);
  client.destroy();
  await closeServer(server);
});

(canTransfer ? test : test.skip)('a detached write log is refused once (the next write throws), its memory untouched, and writes go on without it', async () => {
  const { native } = getReactor();
  const [index] = native.writeLog()!;
  index.set([1, 3, 2 ** 52, 3]);
  const moved = detach(index);
  if (moved === undefined) {
    index.set([0, 0]);
    return;
  }
  const before = hex(moved);
  // With acks, as every tick that consumed data flushes: two refusals in one
  // call aborted the process. The flush goes on; the next write reports it.
  expect(() => native.flush(new Float64Array([2 ** 52, 1]))).not.toThrow();
  expect(hex(moved)).toBe(before);
  // (Made in the addon's realm: compared by name, not by class.)
  expect(() => native.write(2 ** 52, 'x')).toThrow(expect.objectContaining({ name: 'TypeError' }));
  expect(() => native.flush(new Float64Array([2 ** 52, 1]))).not.toThrow();
  expect(() => native.write(2 ** 52, 'x')).not.toThrow();

  const server = track(createServer((socket: Socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk))));
  const port = await listenLocal(server);
  const client = track(net.connect(port, '127.0.0.1'));
  await once(client, 'connect');
  for (const text of ['small', 'x'.repeat(9000), 'ü'.repeat(100)]) {
    client.write(text);
    let echoed = '';
    while (echoed.length < text.length) echoed += ((await once(client, 'data')) as [Buffer])[0].toString();
    expect(echoed).toBe(text);
  }
  client.destroy();
  await closeServer(server);
});
