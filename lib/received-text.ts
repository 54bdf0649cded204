// The bytes behind a decoded socket's unread text. With setEncoding(), the
// Readable holds strings, and forward() must send the bytes the peer sent,
// which re-encoding the strings does not always give back: invalid UTF-8
// became U+FFFD, 'ascii' dropped each byte's high bit, and the decoder holds
// the first bytes of a character still incomplete.
import { isAscii } from 'node:buffer';

/** Node's StringDecoder, with the legacy fields that show what it holds back (Node 20 to 26). */
export interface StreamDecoder {
  readonly encoding: string;
  write(chunk: Buffer): string;
  end(chunk?: Buffer): string;
  readonly lastChar: Buffer;
  readonly lastNeed: number;
  readonly lastTotal: number;
}

/**
 * Text the decoder made, in `encoding`, and its bytes when encoding the text
 * again would not give them. Consecutive chunks share an entry up to
 * MERGED_UNITS, so a peer sending a byte at a time makes few entries.
 */
interface Entry {
  text: string;
  bytes: Buffer | undefined;
  encoding: BufferEncoding;
}

/**
 * Chunks are merged into the previous entry while it holds less text than
 * this: it bounds the entries (and trim()'s work) by the readable buffer's
 * length over this, and the bytes copied per merge.
 */
const MERGED_UNITS = 256;

/** The bytes a decoder holds back: the start of a character not yet complete. */
export function heldBack(decoder: StreamDecoder): Buffer {
  const length = decoder.lastTotal - decoder.lastNeed;
  return length > 0 ? Buffer.from(decoder.lastChar.subarray(0, length)) : Buffer.alloc(0);
}

/**
 * Decodes a socket's chunks with its stream's own decoder (the socket then
 * pushes the text, which the stream keeps as is) and remembers, for the
 * chunks its buffer may still hold, which bytes made which text.
 *
 * Only 'utf8' and 'ascii' lose bytes in decoding; for the other encodings the
 * text encodes back to its bytes, and nothing is recorded but what end()
 * drops. Entries cover at least the text the stream holds unread (trimmed
 * after each push by {@link trim}), so memory follows the readable buffer.
 */
export class ReceivedText {
  private readonly entries: Entry[] = [];
  /** The UTF-16 units of text in `entries`. */
  private units = 0;
  private lossy: 'utf8' | 'ascii' | undefined;

  constructor(public decoder: StreamDecoder) {
    this.lossy = lossyEncoding(decoder);
  }

  /**
   * setEncoding() made a new decoder (for the same encoding or another): the
   * entries stay, each with its own encoding, as the text they made stays
   * in the stream's buffer.
   */
  rebind(decoder: StreamDecoder): void {
    this.decoder = decoder;
    this.lossy = lossyEncoding(decoder);
  }

  /** Decodes `chunk`: what the stream would have made of it. */
  decode(chunk: Buffer): string {
    if (this.lossy === undefined) return this.decoder.write(chunk);
    // Only a chunk whose text is lossy needs the bytes a character split
    // across chunks took from earlier ones; those are copied only then.
    const before = this.decoder.lastNeed > 0 ? heldBack(this.decoder) : undefined;
    const text = this.decoder.write(chunk);
    this.record(chunk, text, before);
    return text;
  }

  /** For setEncoding() over chunks already buffered: the stream decoded them into `text`. */
  seed(chunks: Buffer[], text: string): void {
    if (this.lossy !== undefined) this.record(Buffer.concat(chunks), text, undefined);
  }

  /**
   * `chunk`, after `before`, decoded to `text`; the decoder holds back the
   * rest. Text that encodes back to its bytes is recorded only behind text
   * that does not (bytesOf() walks it to find that text's place); so a peer
   * sending valid UTF-8 costs a scan of each chunk's text, nothing more.
   */
  private record(chunk: Buffer, text: string, before: Buffer | undefined): void {
    if (text.length === 0) return;
    if (this.lossy === 'utf8' ? !text.includes('\ufffd') : isAscii(chunk)) {
      if (this.entries.length > 0) this.add({ text, bytes: undefined, encoding: this.decoder.encoding as BufferEncoding });
      return;
    }
    const own = chunk.subarray(0, chunk.length - (this.decoder.lastTotal - this.decoder.lastNeed));
    const bytes = before === undefined ? own : Buffer.concat([before, own]);
    this.add({ text, bytes, encoding: this.decoder.encoding as BufferEncoding });
  }

  private add(entry: Entry): void {
    this.units += entry.text.length;
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && last.text.length < MERGED_UNITS && last.encoding === entry.encoding && entry.text.length > 0) {
      if (last.bytes !== undefined || entry.bytes !== undefined) {
        last.bytes = Buffer.concat([last.bytes ?? Buffer.from(last.text, last.encoding), entry.bytes ?? Buffer.from(entry.text, entry.encoding)]);
      }
      last.text += entry.text;
      return;
    }
    this.entries.push(entry);
  }

  /**
   * Records what the decoder's end() (run by the stream at EOF) will make of
   * the bytes it holds back, when that is not those bytes again: U+FFFD for
   * the start of a UTF-8 character, nothing for a UTF-16 code unit's odd byte.
   */
  noteEnd(): void {
    const held = heldBack(this.decoder);
    if (held.length === 0) return;
    const encoding = this.decoder.encoding as BufferEncoding;
    const text = new (this.decoder.constructor as new (encoding: string) => StreamDecoder)(encoding).end(held);
    if (this.lossy === undefined && Buffer.from(text, encoding).equals(held)) return;
    this.units += text.length;
    this.entries.push({ text, bytes: held, encoding });
  }

  /** Forgets the entries read already: the stream holds `unreadUnits` of text. */
  trim(unreadUnits: number): void {
    const entries = this.entries;
    let read = 0;
    while (read < entries.length && this.units - entries[read].text.length >= unreadUnits) {
      this.units -= entries[read++].text.length;
    }
    if (read > 0) entries.splice(0, read);
  }

  /**
   * The bytes that arrived as `unread` (the text the stream holds, in order),
   * then those the decoder holds back. Text put back by unshift() goes as
   * the bytes that came for it when it is the end of what was read (a peek),
   * else as encoded from the string given.
   */
  bytesOf(unread: string): Buffer {
    const parts: Buffer[] = [heldBack(this.decoder)];
    let rest = unread;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const { text, bytes, encoding } = this.entries[i];
      if (rest.length === 0 && text.length > 0) break;
      if (rest.endsWith(text)) {
        parts.push(bytes ?? Buffer.from(text, encoding));
        rest = rest.slice(0, rest.length - text.length);
        continue;
      }
      // The entry read in part (read(n), or unshift() of its end).
      if (bytes !== undefined && text.endsWith(rest)) {
        const tail = tailOf(bytes, text, rest, encoding);
        if (tail !== undefined) {
          parts.push(tail);
          rest = '';
        }
      }
      break;
    }
    // Text the stream holds in its encoding (unshift() converts to it).
    if (rest.length > 0) parts.push(Buffer.from(rest, this.decoder.encoding as BufferEncoding));
    return Buffer.concat(parts.reverse());
  }

  /** After {@link bytesOf} gave everything away: nothing is held any more. */
  clear(): void {
    this.entries.length = 0;
    this.units = 0;
    this.decoder.end();
  }
}

function lossyEncoding(decoder: StreamDecoder): 'utf8' | 'ascii' | undefined {
  const encoding = decoder.encoding;
  return encoding === 'utf8' || encoding === 'ascii' ? encoding : undefined;
}

/**
 * The end of `bytes` (which decode to `text`) that decodes to `rest`, the
 * end of `text`. A prefix's decoded length grows with the prefix, so a binary
 * search finds the longest prefix that decodes to no more than was read.
 * When read(n) split a surrogate pair, the tail starts with the whole
 * character. Undefined when no cut gives the text.
 */
function tailOf(bytes: Buffer, text: string, rest: string, encoding: BufferEncoding): Buffer | undefined {
  const cutAt = (read: number): Buffer => {
    let low = 0;
    let high = bytes.length;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (bytes.toString(encoding, 0, middle).length <= read) low = middle;
      else high = middle - 1;
    }
    return bytes.subarray(low);
  };
  const read = text.length - rest.length;
  const tail = cutAt(read);
  if (tail.toString(encoding) === rest) return tail;
  const first = rest.charCodeAt(0);
  if (first >= 0xdc00 && first <= 0xdfff && read > 0) {
    const whole = cutAt(read - 1);
    if (whole.toString(encoding) === text.slice(read - 1)) return whole;
  }
  return undefined;
}
