// Small writes (Buffers and strings up to 512 bytes) are copied into buffers
// that the reactor thread hands back for reuse (src-native/batch.h). A buffer
// reused while its bytes still wait in a write queue would corrupt the
// stream: every byte must arrive as written, in order, across the size where
// writes stop fitting one buffer.
import * as net from 'node:net';

import { Socket } from '../lib';
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
  return result;
}

test('every small write, Buffer or string, arrives intact and in order while buffers are reused', async () => {
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
}, 30000);
