/**
 * The seed-on-failure pattern, for every test that runs a simulation. A test names a fixed seed,
 * so CI runs the same runs every time; the environment may replace it:
 *
 *   it('commits across a partition', seeded(7, async seed => {
 *     const sim = createSimulation({ seed, nodes: 4, link: { latency: 80, jitter: 10 } })
 *     ...
 *   }))
 *
 * When it fails, the error (and a diagnostic line) names the seed and the command that replays
 * the same run, event for event:
 *
 *   SEED=7 node --test --test-name-pattern="^commits across a partition$" test/sim/x.test.ts
 *
 * `SEED=random` gives every test a fresh seed, printed only if it fails: run a file in a loop with
 * it to hunt for a failing seed, then replay that one with `SEED=<n>`. A test that needs a second,
 * different run uses `seed + 1`.
 */
import { randomInt } from 'node:crypto'
import { relative } from 'node:path'
import type { TestContext } from 'node:test'

/** The seed a test runs with: SEED from the environment (an integer, or "random"), else `fixed`. */
export function seedOf (fixed: number): number {
  const env = process.env.SEED
  if (env === undefined || env === '') return fixed
  if (env === 'random') return randomInt(0, 2 ** 32)
  const seed = Number(env)
  if (!Number.isSafeInteger(seed)) throw new RangeError(`SEED must be an integer or "random", got "${env}"`)
  return seed
}

/** The command that replays the test `t` with `seed`. */
export function replayCommand (t: Pick<TestContext, 'name' | 'filePath'>, seed: number): string {
  const pattern = `^${t.name.replace(/[\\^$.*+?()[\]{}|"`]/g, '\\$&')}$`
  const file = t.filePath === undefined ? '<test file>' : relative(process.cwd(), t.filePath)
  return `SEED=${seed} node --test --test-name-pattern="${pattern}" ${file}`
}

/** A test body run with its seed (see the file's comment); a failure names the seed and how to replay it. */
export function seeded (fixed: number, body: (seed: number, t: TestContext) => Promise<void>): (t: TestContext) => Promise<void> {
  return async t => {
    const seed = seedOf(fixed)
    try {
      await body(seed, t)
    } catch (err) {
      const replay = replayCommand(t, seed)
      t.diagnostic(`failed with seed ${seed}; replay: ${replay}`)
      if (err instanceof Error) err.message += `\n    seed ${seed}; replay: ${replay}`
      throw err
    }
  }
}
