/**
 * `npm run bench [-- <scenario>...] [--full] [--cpu-prof]`: runs the scenarios (all of them by
 * default, in the quick profile), prints a table and writes benchmarks/results/latest.{json,svg,md}
 * (latest-<scenarios>.* when only some ran).
 * Every worker process it starts is killed when it ends, fails or is interrupted.
 */
import { link } from './scenarios/link.ts'
import { latency } from './scenarios/latency.ts'
import { broadcast } from './scenarios/broadcast.ts'
import { memory } from './scenarios/memory.ts'
import { scale } from './scenarios/scale.ts'
import { isolation } from './scenarios/isolation.ts'
import { reqresp } from './scenarios/reqresp.ts'
import { priority } from './scenarios/priority.ts'
import { resolver } from './scenarios/resolver.ts'
import { chaos } from './scenarios/chaos.ts'
import { reliable } from './scenarios/reliable.ts'
import { hostile } from './scenarios/hostile.ts'
import { sim } from './scenarios/sim.ts'
import { FULL, QUICK } from './profile.ts'
import { ATTACKS } from './attacker.ts'
import { Progress } from './progress.ts'
import { Results } from './results.ts'
import { writeReports, formatTable } from './report.ts'
import { installCleanup, liveWorkers, setWorkerExecArgv } from './workers.ts'
import type { Scenario, ScenarioContext } from './scenario.ts'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const SCENARIOS: Scenario[] = [link, latency, broadcast, memory, scale, isolation, reqresp, priority, reliable, resolver, chaos, hostile, sim]

function usage (): string {
  return [
    'usage: npm run bench [-- [scenario...] [--full] [--cpu-prof] [--out DIR] [--sizes 32,4096]]',
    `scenarios: ${SCENARIOS.map(s => s.name).join(', ')} (default: all)`,
    '  --full      longer, larger profile (default: quick, about 9 minutes on 2 cores)',
    '  --cpu-prof  write a V8 CPU profile of every worker to benchmarks/results/tmp/prof/ (workers.txt: pid -> worker)',
    '  --out DIR   write the reports to DIR (default benchmarks/results)',
    '  --sizes L   link: only these message sizes of the profile (bytes, comma-separated)',
    '  --attacks L hostile: only these attacks (names as in the report, comma-separated)',
    'writes latest.{json,md,svg} (every scenario) or latest-<scenarios>.{json,md,svg} (some)'
  ].join('\n')
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage())
    return
  }
  let profile = args.includes('--full') ? FULL : QUICK
  const valueOf = (flag: string): string | undefined => {
    const i = args.indexOf(flag)
    return i >= 0 ? args[i + 1] ?? '' : undefined
  }
  const outDir = valueOf('--out') ?? fileURLToPath(new URL('./results/', import.meta.url))
  const sizesArg = valueOf('--sizes')
  const attacksArg = valueOf('--attacks')
  const values = new Set(['--out', '--sizes', '--attacks'].map(f => args.indexOf(f) + 1).filter(i => i > 0))
  const names = args.filter((a, i) => !a.startsWith('--') && !values.has(i))
  const unknown = names.filter(n => SCENARIOS.find(s => s.name === n) === undefined)
  if (sizesArg !== undefined) {
    const sizes = sizesArg.split(',').map(Number)
    const kept = profile.link.sizes.filter(s => sizes.includes(s.size))
    if (kept.length !== sizes.length) unknown.push(`--sizes ${sizesArg} (the profile has ${profile.link.sizes.map(s => s.size).join(', ')})`)
    profile = { ...profile, link: { ...profile.link, sizes: kept } }
  }
  if (attacksArg !== undefined) {
    const attacks = attacksArg.split(',')
    const missing = attacks.filter(a => !(a in ATTACKS))
    if (missing.length > 0) unknown.push(`--attacks ${missing.join(',')} (there are ${Object.keys(ATTACKS).join(', ')})`)
    profile = { ...profile, hostile: { ...profile.hostile, attacks } }
  }
  if (unknown.length > 0 || outDir === '') {
    console.error(`unknown scenario or option: ${unknown.join(', ')}\n${usage()}`)
    process.exitCode = 2
    return
  }
  const chosen = names.length === 0 ? SCENARIOS : SCENARIOS.filter(s => names.includes(s.name))
  if (args.includes('--cpu-prof')) {
    const dir = fileURLToPath(new URL('./results/tmp/prof/', import.meta.url))
    mkdirSync(dir, { recursive: true })
    setWorkerExecArgv(['--cpu-prof', `--cpu-prof-dir=${dir}`], `${dir}workers.txt`)
  }

  const progress = new Progress(chosen.reduce((n, s) => n + s.steps(profile), 0))
  installCleanup(() => { progress.end() })
  const results = new Results()
  const ctx: ScenarioContext = { profile, results, progress, linkMax: new Map() }
  const started = Date.now()
  for (const s of chosen) {
    try {
      await s.run(ctx)
    } catch (err) {
      const msg = (err as Error)?.stack ?? String(err)
      results.errors.push({ scenario: s.name, error: msg })
      progress.log(`scenario ${s.name} failed: ${msg}`)
    }
    if (liveWorkers() > 0) progress.log(`warning: ${liveWorkers()} workers still alive after ${s.name}`)
  }
  progress.end()
  const seconds = (Date.now() - started) / 1000
  // a run of every scenario writes latest.*; a run of some writes latest-<names>.*, so that trying
  // one scenario does not overwrite the figures README.md and docs/performance.md quote
  const base = chosen.length === SCENARIOS.length ? 'latest' : `latest-${chosen.map(s => s.name).join('-')}`
  const report = await writeReports(outDir, base, results, { profile: profile.name, scenarios: chosen.map(s => s.name), seconds })
  console.log(formatTable(results))
  console.log(`\n${profile.name} profile, ${seconds.toFixed(0)} s; wrote ${report.files.join(', ')}`)
  if (results.errors.length > 0) process.exitCode = 1
}

await main()
