// Seeded pseudo-random data, so every run of a test sends the same bytes in
// the same chunk sizes, and a failure can be replayed.

/** mulberry32: a small seeded PRNG returning 32-bit unsigned integers. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** `size` pseudo-random bytes from `random`. */
export function randomBytes(random: () => number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  let i = 0;
  for (; i + 4 <= size; i += 4) bytes.writeUInt32LE(random(), i);
  for (; i < size; i++) bytes[i] = random() & 0xff;
  return bytes;
}
