/**
 * Draws for the scenarios whose workload or fault schedule is random (resolver, chaos), from a
 * seeded generator (mulberry32, src/testing/random.ts): the same seed gives the same draws.
 */

/** Draws ranks 0..n-1 with P(k) proportional to 1 / (k + 1)^s (Zipf), from `random`. */
export function zipf (n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1) ** s
    cdf[k] = sum
  }
  return () => {
    const x = random() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid] < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Uniform in [min, max). */
export function between (random: () => number, [min, max]: [number, number]): number {
  return min + random() * (max - min)
}
