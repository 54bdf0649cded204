// forward() of a socket with an encoding: the upstream gets the bytes the
// client sent, not the text the socket made of them. Re-encoding the text
// loses bytes: invalid UTF-8 became U+FFFD, 'ascii' cleared high bits, and
// the decoder holds the first bytes of a character split across chunks. Each
// case runs with both forms, client (node:net) → reactor server → forward()
// to a reactor socket or to an address → upstream (node:net).
import { once } from 'node:events';
import * as net from 'node:net';
import { StringDecoder } from 'node:string_decoder';

import { connect, createServer, forward, ForwardResult, Socket } from '../lib';
import { ReceivedText, StreamDecoder } from '../lib/received-text';
import { checkMustCalls, listenLocal, waitFor } from './helpers';
import { releaseTracked, track } from './helpers/cleanup';
import { randomBytes, seededRandom } from './helpers/random';

afterEach(releaseTracked);
afterEach(checkMustCalls);

type Form = 'to a socket' | 'to an address';
const forms: Form[] = ['to a socket', 'to an address'];

/** Bytes no UTF-8 decoder keeps: a stray continuation, 0xff, a truncated 3-byte character, a surrogate's encoding. */
const INVALID_UTF8 = Buffer.from([0x80, 0xff, 0xe2, 0x28, 0xed, 0xa0, 0x80, 0xc0, 0xaf]);
/** The first two bytes of '€' (e2 82 ac): a character split across chunks. */
const EURO_START = Buffer.from([0xe2, 0x82]);
const EURO_END = Buffer.from([0xac]);

/**
 * Runs one forward: `take` gets the reactor's accepted socket and resolves
 * once it is ready to forward; the client sends `first`, then, once the
 * forward has started, `then` and its FIN. Resolves with what the upstream got.
 */
async function forwardThrough(form: Form, first: Buffer, then: Buffer,
  take: (client: Socket) => Promise<void>, options: { endWithFirst?: boolean } = {}): Promise<Buffer> {
  let received: Promise<Buffer> | undefined;
  const upstreamPort = await listenLocal(track(net.createServer({ allowHalfOpen: true }, (socket) => {
    const parts: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    received = once(socket, 'end').then(() => Buffer.concat(parts));
    socket.on('end', () => socket.end());
  })));
  let result: Promise<ForwardResult> | undefined;
  const port = await listenLocal(track(createServer({ allowHalfOpen: true }, (client) => {
    void take(client).then(async () => {
      if (form === 'to an address') {
        result = forward(client, { port: upstreamPort, host: '127.0.0.1' });
      } else {
        // Connected first, so that the forward takes the client over at once.
        const upstream = track(connect({ port: upstreamPort, host: '127.0.0.1', allowHalfOpen: true }));
        await once(upstream, 'connect');
        result = forward(client, upstream);
      }
    });
  })));
  const client = track(net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
  client.resume();
  await once(client, 'connect');
  if (options.endWithFirst) client.end(first);
  else client.write(first);
  await waitFor(() => result !== undefined, 5000, 'the forward');
  if (!options.endWithFirst) client.end(then);
  await waitFor(() => received !== undefined, 5000, 'the upstream connection');
  const outcome = await result!;
  expect(outcome.error).toBeUndefined();
  return received!;
}

/** A take for forwardThrough: sets `encoding` and reads `n` units at the first 'readable'; `head` is what it read. */
function readingFirst(encoding: BufferEncoding, n: number): { take: (client: Socket) => Promise<void>; head?: string } {
  const first: { take: (client: Socket) => Promise<void>; head?: string } = {
    take: (client) => {
      client.setEncoding(encoding);
      return new Promise((resolve) => client.once('readable', () => {
        first.head = client.read(n) as string;
        resolve();
      }));
    },
  };
  return first;
}

/** A take for forwardThrough: sets `encoding` and reads nothing until the EOF is in. */
function unreadUntilEnd(encoding: BufferEncoding): (client: Socket) => Promise<void> {
  return async (client) => {
    client.setEncoding(encoding);
    client.pause();
    await waitFor(() => (client as unknown as { _readableState: { ended: boolean } })._readableState.ended, 5000, 'the EOF');
  };
}

describe.each(forms)('forward() %s of a socket with an encoding', (form) => {
  test("sends the start of a character the decoder held back when forward() is called from 'data'", async () => {
    let text: string | undefined;
    const got = await forwardThrough(form, Buffer.concat([Buffer.from('AB'), EURO_START]), Buffer.concat([EURO_END, Buffer.from('CD')]),
      (client) => {
        client.setEncoding('utf8');
        return new Promise((resolve) => client.once('data', (chunk: string) => { text = chunk; resolve(); }));
      });
    expect(text).toBe('AB');
    expect(got).toEqual(Buffer.concat([EURO_START, EURO_END, Buffer.from('CD')]));
  });

  test('a preamble read as text and the rest put back with unshift(): the bytes after it go as sent, invalid UTF-8 and all', async () => {
    const binary = Buffer.concat([INVALID_UTF8, randomBytes(seededRandom(16), 3000), EURO_START]);
    const more = Buffer.concat([EURO_END, INVALID_UTF8, randomBytes(seededRandom(17), 2000)]);
    let preamble: string | undefined;
    const got = await forwardThrough(form, Buffer.concat([Buffer.from('PROXY to-upstream\n'), binary]), more,
      (client) => {
        client.setEncoding('utf8');
        return new Promise((resolve) => client.once('data', (chunk: string) => {
          const end = chunk.indexOf('\n');
          preamble = chunk.slice(0, end);
          client.pause();
          client.unshift(chunk.slice(end + 1));
          // A turn later, as a proxy that looks the route up first.
          setImmediate(resolve);
        }));
      });
    expect(preamble).toBe('PROXY to-upstream');
    expect(got.equals(Buffer.concat([binary, more]))).toBe(true);
  });

  test('read(n) of text, then forward(): the unread part of the chunk goes as sent', async () => {
    const sent = Buffer.concat([Buffer.from('HELLO'), INVALID_UTF8, Buffer.from('héllo'), INVALID_UTF8]);
    const first = readingFirst('utf8', 7);
    const got = await forwardThrough(form, sent, Buffer.from('after'), first.take);
    expect(first.head).toBe('HELLO\ufffd\ufffd');
    expect(got).toEqual(Buffer.concat([sent.subarray(7), Buffer.from('after')]));
  });

  test('an ended socket forwarded unread: bytes the decoder flushed at EOF go as sent, then the FIN', async () => {
    const sent = Buffer.concat([Buffer.from('AB'), INVALID_UTF8, EURO_START]);
    const got = await forwardThrough(form, sent, Buffer.alloc(0), unreadUntilEnd('utf8'), { endWithFirst: true });
    expect(got).toEqual(sent);
  });

  test("'ascii', which clears each byte's high bit in the text: the unread bytes go with theirs", async () => {
    const sent = Buffer.from([0x41, 0x42, 0xc1, 0xff, 0x80, 0x7f, 0x43]);
    const first = readingFirst('ascii', 2);
    const got = await forwardThrough(form, sent, Buffer.from([0xfe]), first.take);
    expect(first.head).toBe('AB');
    expect(got).toEqual(Buffer.from([0xc1, 0xff, 0x80, 0x7f, 0x43, 0xfe]));
  });

  test('setEncoding() called twice (a new decoder each time): the bytes go as sent', async () => {
    const sent = Buffer.concat([Buffer.from('A'), INVALID_UTF8, Buffer.from('B'), EURO_START]);
    const got = await forwardThrough(form, sent, EURO_END, async (client) => {
      client.setEncoding('utf8');
      client.pause();
      await waitFor(() => client.readableLength === sent.length - EURO_START.length, 5000, 'the text');
      client.setEncoding('utf8');
      expect(client.read(1)).toBe('A');
    });
    // The second decoder starts empty, as net's: the first one's held-back
    // start of '€' is dropped for 'data' and forward() alike.
    expect(got).toEqual(Buffer.concat([INVALID_UTF8, Buffer.from('B'), EURO_END]));
  });

  test('read(n) that splits a surrogate pair: the tail starts with the whole character, and what follows goes as sent', async () => {
    const grin = Buffer.from('😀');
    const sent = Buffer.concat([grin, INVALID_UTF8, Buffer.from('z')]);
    const first = readingFirst('utf8', 1);
    const got = await forwardThrough(form, sent, Buffer.from('after'), first.take);
    expect(first.head).toBe('\ud83d');
    expect(got).toEqual(Buffer.concat([sent, Buffer.from('after')]));
  });

  test("'utf16le' ended on an odd byte, forwarded unread: that byte goes too (its decoder's end() drops it)", async () => {
    const sent = Buffer.from([0x41, 0x00, 0x3d, 0xd8, 0x42]);
    const got = await forwardThrough(form, sent, Buffer.alloc(0), unreadUntilEnd('utf16le'), { endWithFirst: true });
    expect(got).toEqual(sent);
  });

  test('setEncoding() over bytes already buffered, then forward(): those bytes go as sent', async () => {
    const sent = Buffer.concat([Buffer.from('xy'), INVALID_UTF8, EURO_START]);
    const got = await forwardThrough(form, sent, Buffer.concat([EURO_END, Buffer.from('z')]), async (client) => {
      client.pause();
      await waitFor(() => client.readableLength === sent.length, 5000, 'the bytes, buffered raw');
      client.setEncoding('utf8');
      expect(client.read(1)).toBe('x');
    });
    expect(got).toEqual(Buffer.concat([sent.subarray(1), EURO_END, Buffer.from('z')]));
  });
});

test("a socket with an encoding that is not forwarded emits the text net's decoder makes, however the bytes are split", async () => {
  const random = seededRandom(18);
  // Mostly multi-byte characters and invalid bytes, so that splits land inside them.
  const pieces: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const pick = Math.floor(random() * 4);
    pieces.push(pick === 0 ? Buffer.from('€😀é') : pick === 1 ? INVALID_UTF8 : pick === 2 ? EURO_START : randomBytes(random, 5));
  }
  const sent = Buffer.concat(pieces);
  let text = '';
  const port = await listenLocal(track(createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { text += chunk; });
    socket.on('end', () => socket.end());
  })));
  const client = track(net.connect(port, '127.0.0.1'));
  client.setNoDelay(true);
  client.resume();
  await once(client, 'connect');
  // Writes of 1 to 7 bytes, each a turn after the last, so the server's chunks split characters.
  for (let at = 0; at < sent.length;) {
    const size = 1 + Math.floor(random() * 7);
    client.write(sent.subarray(at, at + size));
    at += size;
    await new Promise((resolve) => setImmediate(resolve));
  }
  client.end();
  await once(client, 'end');
  const decoder = new StringDecoder('utf8');
  expect(text).toBe(decoder.write(sent) + decoder.end());
});

test.each(['utf-8', 'UTF8', 'binary'] as BufferEncoding[])("new Socket({ encoding: '%s' }), an alias of the decoder's name: 'data' as net's, a character split across chunks whole", async (encoding) => {
  const port = await listenLocal(track(net.createServer(async (socket) => {
    socket.setNoDelay(true);
    socket.write(Buffer.from([0x41, 0xe2, 0x82]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.end(Buffer.from([0xac, 0x42]));
  })));
  const texts = async (socket: net.Socket | Socket): Promise<string[]> => {
    const chunks: string[] = [];
    socket.on('data', (chunk: string) => chunks.push(chunk));
    await once(socket, 'end');
    return chunks;
  };
  const ours = await texts(track(new Socket({ encoding }).connect(port, '127.0.0.1')));
  const nets = await texts(track(new net.Socket({ encoding } as net.SocketConstructorOpts).connect(port, '127.0.0.1')));
  expect(ours).toEqual(nets);
  expect(ours.join('')).toBe(encoding === 'binary' ? 'Aâ\u0082¬B' : 'A€B');
});

test('the record of a socket sent one invalid byte at a time, all unread: every byte given back, in order', () => {
  const decoder = new StringDecoder('utf8') as unknown as StreamDecoder;
  const received = new ReceivedText(decoder);
  const random = seededRandom(19);
  const chunks: Buffer[] = [];
  let text = '';
  // Where a read of the first 1,000 units or more ends on a chunk's end, with nothing held back.
  let cut: { units: number; chunks: number } | undefined;
  for (let i = 0; i < 100000; i++) {
    const chunk = i % 7 === 0 ? Buffer.from('é') : Buffer.from([0x80 + Math.floor(random() * 128)]);
    chunks.push(chunk);
    text += received.decode(chunk);
    received.trim(text.length);
    if (cut === undefined && text.length >= 1000 && decoder.lastNeed === 0) cut = { units: text.length, chunks: i + 1 };
  }
  const sent = Buffer.concat(chunks);
  expect(received.bytesOf(text).equals(sent)).toBe(true);
  const rest = text.slice(cut!.units);
  received.trim(rest.length);
  expect(received.bytesOf(rest).equals(Buffer.concat(chunks.slice(cut!.chunks)))).toBe(true);
});
