// Small writes (Buffers and strings under 8 KiB) are copied into pooled
// buffers of 512 B to 8 KiB that the reactor thread hands back for reuse
// (src-native/batch.h). A buffer reused while its bytes still wait in a write
// queue, or one too small for its write, would corrupt the stream: every byte
// must arrive as written, in order, across each size where writes stop
// fitting one pool's buffers.
import * as net from 'node:net';

import { Socket } from '../lib';
import { getReactor } from '../lib/reactor';
import { checkMustCalls, listenLocal } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';

afterEach(releaseTracked);
afterEach(checkMustCalls);

/** Writes of every size from 1 to 1,100 bytes, alternating Buffers and multi-byte strings. */
function writes(): Array<Buffer | string> {
  const result: Array<Buffer | string> = [];
  for (let size = 1; size <= 1100; size++) {
    if (size % 2 === 0) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (size * 31 + i) & 0xff;
      result.push(bytes);
    } else {
      // 'é' is two bytes in UTF-8, so byte lengths straddle 511/512/513.
      result.push('é'.repeat(size >> 1) + String.fromCharCode(97 + (size % 26)));
    }
  }
  // A string is copied in one pass when it fits a buffer with room for one
  // more character: ones whose last character (1 to 4 bytes, or a lone
  // surrogate, sent as U+FFFD) ends on each side of that edge and of 512.
  for (const last of ['a', 'é', '€', '😀', '\ud800']) {
    for (let ascii = 500; ascii <= 514; ascii++) result.push('x'.repeat(ascii) + last, String.fromCharCode(65 + (ascii % 26)));
  }
  // Each larger pool's edge (1, 2, 4 and 8 KiB): Buffers (8 KiB and over are
  // sent from their own memory), ASCII strings (copied natively with room
  // for a NUL from 2,731 UTF-16 units, the write log's bound, or always past
  // the log), and 2-byte strings whose UTF-8 ends on each side of 8 KiB.
  for (const edge of [1024, 2048, 4096, 8192]) {
    for (let size = edge - 2; size <= edge + 2; size++) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (size * 17 + i * 7) & 0xff;
      result.push(bytes, String.fromCharCode(65 + (size % 26)).repeat(size));
    }
  }
  for (let pairs = 4094; pairs <= 4097; pairs++) result.push('é'.repeat(pairs), 'é'.repeat(pairs) + 'z');
  return result;
}

async function sendAndCompare(): Promise<void> {
  const chunks = writes();
  const expected = Buffer.concat(chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)));
  const received: Buffer[] = [];
  let receivedBytes = 0;
  const allReceived = new Promise<void>((resolve) => {
    const server = track(net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        receivedBytes += chunk.length;
        if (receivedBytes >= expected.length) resolve();
      });
    }));
    listenLocal(server).then((port) => {
      const socket = track(new Socket());
      socket.connect(port, '127.0.0.1', () => {
        // Half of them one by one after each callback (buffers come back
        // between writes), half in one burst (many in flight at once).
        let next = 0;
        const half = chunks.length >> 1;
        const writeNext = (): void => {
          if (next < half) {
            socket.write(chunks[next++], writeNext);
            return;
          }
          while (next < chunks.length) socket.write(chunks[next++]);
        };
        writeNext();
      });
    });
  });
  await allReceived;
  const actual = Buffer.concat(received);
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

test('every small write, Buffer or string, arrives intact and in order while buffers are reused', async () => {
  await sendAndCompare();
}, 30000);

// lib appends Buffers under 8 KiB and strings under 2,731 UTF-16 units to the
// write log, whose records the native side copies as bytes; a write() made
// natively copies strings itself (one pass into 512 B when short, else
// measured first). With the log declined every write takes that path.
test('the same writes made natively, past the write log: every one arrives intact and in order', async () => {
  const reactor = getReactor();
  const logBytes = jest.spyOn(reactor, 'logBytes').mockReturnValue(false);
  const logString = jest.spyOn(reactor, 'logString').mockReturnValue(-1);
  try {
    await sendAndCompare();
    expect(logBytes).toHaveBeenCalled();
    expect(logString).toHaveBeenCalled();
  } finally {
    logBytes.mockRestore();
    logString.mockRestore();
  }
}, 30000);
