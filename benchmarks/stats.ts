/**
 * Summaries: percentiles of latency samples, and min/median/max of one figure over repeats.
 */

export interface Summary {
  min: number
  median: number
  max: number
  values: number[]
}

export function summarize (values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    min: sorted[0] ?? NaN,
    // with an even count, the mean of the two middle values (nearest rank would take the lower)
    median: sorted.length % 2 === 0 && sorted.length > 0
      ? (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
      : percentileOfSorted(sorted, 50),
    max: sorted[sorted.length - 1] ?? NaN,
    values
  }
}

/** Nearest-rank percentile of ascending `sorted` (NaN when empty). */
export function percentileOfSorted (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  if (p <= 0) return sorted[0]
  const rank = Math.ceil(p / 100 * sorted.length)
  return sorted[Math.min(sorted.length, rank) - 1]
}

export interface Percentiles { p50: number, p99: number, max: number, samples: number }

export function latencyPercentiles (samples: Float64Array[]): Percentiles {
  let n = 0
  for (const s of samples) n += s.length
  const all = new Float64Array(n)
  let at = 0
  for (const s of samples) { all.set(s, at); at += s.length }
  all.sort()
  return { p50: percentileOfSorted(all, 50), p99: percentileOfSorted(all, 99), max: all[n - 1] ?? NaN, samples: n }
}

/**
 * CPU per item (ns) of each of `cases`, run in turns for `rounds` rounds (order alternating
 * round by round), the first `warmup` rounds left out: the best round of each. `run()` does one
 * round's work and returns how many items it handled.
 */
export async function bestCpuPerItem (cases: Array<() => number | Promise<number>>, rounds: number, warmup: number): Promise<number[]> {
  const best = cases.map(() => Infinity)
  const order = cases.map((_, i) => i)
  for (let round = 0; round < rounds; round++) {
    for (const i of round % 2 === 0 ? order : [...order].reverse()) {
      const start = process.cpuUsage()
      const items = await cases[i]()
      const { user, system } = process.cpuUsage(start)
      if (round >= warmup) best[i] = Math.min(best[i], (user + system) * 1000 / items)
    }
  }
  return best
}
