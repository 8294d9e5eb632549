/**
 * Scenario 'sim': the deterministic simulation's speed (issue 15's targets). Each run is a process
 * of its own (benchmarks/sim-run.ts), the two cases alternating, so the RSS is the run's and the
 * machine's noise falls on both alike:
 * - 10 nodes, links 80 ± 10 ms, full mesh: 1,000 rounds of a 100 B vote from every node to every
 *   other on a priority-0 channel (90,000 deliveries): wall time <= 5 s;
 * - 100 nodes: connecting to a full mesh, then one all-to-all round (9,900 deliveries): wall time
 *   <= 3 s and RSS <= 1 GiB.
 * Every repeat of a case uses the same seed: their digests must be equal (a replay is exact).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Scenario } from '../scenario.ts'

const RUNNER = fileURLToPath(new URL('../sim-run.ts', import.meta.url))
const MiB = 2 ** 20

interface Run {
  deliveries: number
  wallMs: number
  meshWallMs: number
  roundsWallMs: number
  virtualMs: number
  roundsVirtualMs: number
  rssBytes: number
  digest: string
}

const CASES = [
  { name: '10 nodes, 1,000 rounds', kind: 'votes', nodes: 10, rounds: 1000, seed: 7, maxWallMs: 5000 },
  { name: '100 nodes, mesh + 1 round', kind: 'mesh', nodes: 100, rounds: 1, seed: 7, maxWallMs: 3000 }
] as const

async function runOnce (c: typeof CASES[number]): Promise<Run> {
  return await new Promise((resolve, reject) => {
    execFile(process.execPath, [RUNNER, c.kind, String(c.nodes), String(c.rounds), String(c.seed)], { timeout: 300_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err != null) reject(new Error(`${c.name}: ${err.message}\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!))
    })
  })
}

export const sim: Scenario = {
  name: 'sim',
  title: 'Simulation: virtual time, 10 and 100 nodes',
  steps: p => p.sim.repeats * CASES.length,
  async run ({ profile, results, progress }) {
    const digests = new Map<string, Set<string>>()
    for (let r = 0; r < profile.sim.repeats; r++) {
      for (const c of CASES) {
        progress.step(`sim: ${c.name}, round ${r + 1}/${profile.sim.repeats}`)
        const run = await runOnce(c)
        const params = { case: c.name }
        results.add('sim', 'consensus-net', 'wall time', 'ms', params, run.wallMs)
        results.add('sim', 'consensus-net', 'wall time to full mesh', 'ms', params, run.meshWallMs)
        results.add('sim', 'consensus-net', 'virtual time', 's', params, run.virtualMs / 1000)
        results.add('sim', 'consensus-net', 'virtual s per wall s', 'x', params, run.virtualMs / run.wallMs)
        results.add('sim', 'consensus-net', 'deliveries per wall s', 'msg/s', params, run.deliveries / (run.roundsWallMs / 1000))
        results.add('sim', 'consensus-net', 'deliveries', 'msg', params, run.deliveries)
        results.add('sim', 'consensus-net', 'RSS', 'MiB', params, run.rssBytes / MiB)
        let seen = digests.get(c.name)
        if (seen === undefined) digests.set(c.name, seen = new Set())
        seen.add(run.digest)
      }
    }
    for (const c of CASES) {
      const params = { case: c.name }
      results.target(`sim ${c.name}: wall time <= ${c.maxWallMs} ms`, results.median('sim', 'consensus-net', 'wall time', params), 'max', c.maxWallMs, 'median of the rounds', 'ms')
      const same = digests.get(c.name)?.size === 1
      results.notes.push(`sim ${c.name}: ${profile.sim.repeats} runs of seed ${c.seed} gave ${same ? 'one digest' : `${digests.get(c.name)?.size ?? 0} different digests`}`)
    }
    const mesh = CASES[1]
    results.target(`sim ${mesh.name}: RSS <= 1024 MiB`, results.median('sim', 'consensus-net', 'RSS', { case: mesh.name }), 'max', 1024, 'median of the rounds, the whole process', 'MiB')
  }
}
