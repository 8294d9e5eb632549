/**
 * Seeded randomness for the testing network: the same seed and labels give the same sequence,
 * so a failing fault schedule can be replayed. Each consumer (the test's `random()`, the jitter
 * of each link direction, each node's key) draws from its own stream, derived from the seed and
 * a label, so that traffic on one link never shifts the numbers another consumer sees.
 */

/** mulberry32: a small, fast 32-bit PRNG; returns numbers in [0, 1). */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A 32-bit seed for the stream named by `labels` under `seed` (FNV-1a over the labels, mixed with the seed). */
export function deriveSeed (seed: number, ...labels: string[]): number {
  let h = (0x811C9DC5 ^ (seed >>> 0)) >>> 0
  for (const label of labels) {
    for (let i = 0; i < label.length; i++) {
      h ^= label.charCodeAt(i)
      h = Math.imul(h, 0x01000193) >>> 0
    }
    h ^= 0xFF // separator: ('ab', 'c') and ('a', 'bc') differ
    h = Math.imul(h, 0x01000193) >>> 0
  }
  // one round of mulberry32's finaliser spreads seeds that differ in one bit
  return Math.floor(mulberry32(h)() * 4294967296) >>> 0
}

/** `n` bytes from the stream named by `labels` under `seed` (e.g. an Ed25519 key seed). */
export function seededBytes (n: number, seed: number, ...labels: string[]): Uint8Array {
  const next = mulberry32(deriveSeed(seed, ...labels))
  const bytes = new Uint8Array(n)
  for (let i = 0; i < n; i++) bytes[i] = Math.floor(next() * 256)
  return bytes
}
