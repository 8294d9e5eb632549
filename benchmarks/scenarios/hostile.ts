/**
 * Scenario 12, hostile: three processes, a victim (this project, the small bounds of the hostile
 * tests), an honest member that asks it 256 B requests at a fixed rate (answered with 256 B), and
 * an attacker (benchmarks/attacker.ts: a raw libp2p node speaking the wire of docs/wire.md, a member of
 * the victim, plus fresh identities for the non-member flood). Each round runs a trial with no
 * attack and one under each attack, in an order that rotates round by round; the honest member's
 * round-trip p50 and p99 under each attack are divided by the same round's figures with no attack.
 * A request that fails counts at its timeout, so a p99 cannot improve by failing. The victim's RSS
 * is sampled every 10 ms; its growth over a trial is held against the bound its options give (the
 * worst-case formula of docs/guarantees.md, as test/hostile/scene.ts computes it for the tests). One victim
 * serves every trial: pages V8 kept from an earlier trial absorb part of a later one's growth, so
 * the growth may understate, never overstate.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { heapBound, VICTIM_INIT } from '../../test/hostile/scene.ts'
import { ATTACKS, type AttackName } from '../attacker.ts'
import { pickAddr } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { ChannelSpec } from '../contenders/contender.ts'
import type { Requests } from '../protocol.ts'
import type { Scenario } from '../scenario.ts'
import { latencyPercentiles } from '../stats.ts'
import { newTrialId } from '../trial.ts'
import { stopWorkers, Worker } from '../workers.ts'

const SIZE = 256
const MiB = 2 ** 20
const TIMEOUT_MS = 5000
/** The attack runs this long before the honest member's requests start, so that they meet it in full swing. */
const LEAD_MS = 500
const SVC: ChannelSpec = { name: 'svc', priority: 4, serve: true }
const PARTS: ChannelSpec = { name: 'parts', priority: 4, parts: 1024 }
const NONE = 'no attack'
const C = 'consensus-net'
/**
 * The member message flood again, against a second victim that reads each member at most
 * `maxReceiveRate` (its options otherwise the first's): what the option buys.
 */
const RATED = 'member message flood, maxReceiveRate 16 MiB/s'
/** The second victim with no attack: RATED's own baseline, in the same round. */
const RATED_NONE = 'no attack, maxReceiveRate 16 MiB/s'
const RATE = 16 * MiB

type Case = typeof NONE | AttackName | typeof RATED | typeof RATED_NONE

/** What the tests' bound says for this victim: two remote members (the honest one and the attacker). */
const BOUND = heapBound({
  init: VICTIM_INIT,
  channels: [{ name: 'svc', options: {}, serve: 'echo' }, { name: 'parts', options: {}, serve: 'parts' }],
  manyHosts: true
}, 2).bytes

export const hostile: Scenario = {
  name: 'hostile',
  title: 'Hostile peers: an honest member\'s requests under each attack, against none',
  steps: p => 2 + p.hostile.repeats,
  async run ({ profile, results, progress }) {
    const cfg = profile.hostile
    const workers: Worker[] = []
    try {
      progress.step('hostile: starting victim, honest member and attacker')
      const victim = new Worker('hostile/victim')
      const rated = new Worker('hostile/victim (maxReceiveRate)')
      const honest = new Worker('hostile/honest')
      const attacker = new Worker('hostile/attacker')
      workers.push(victim, rated, honest, attacker)
      const [vi, ri, hi, xi] = await Promise.all([
        // loopback: the non-member flood's fresh identities all come from 127.0.0.1 (one host to libp2p)
        victim.call('init', { contender: C, nodes: [{ nodeId: 'v', index: 0 }], options: VICTIM_INIT, loopback: true, channels: [SVC, PARTS], respond: SIZE }, 60_000),
        rated.call('init', { contender: C, nodes: [{ nodeId: 'r', index: 2 }], options: { ...VICTIM_INIT, maxReceiveRate: RATE }, loopback: true, channels: [SVC, PARTS], respond: SIZE }, 60_000),
        honest.call('init', { contender: C, nodes: [{ nodeId: 'h', index: 1 }], channels: [{ name: 'svc', priority: 4 }] }, 60_000),
        attacker.call('hostile-init', {}, 60_000)
      ])
      const v = pickAddr(vi.addrs[0])
      const r = pickAddr(ri.addrs[0])
      const h = pickAddr(hi.addrs[0])
      await Promise.all([
        victim.call('connect', { peers: [{ v, h, x: xi.addr }], timeoutMs: 30_000, waitFor: 3 }, 35_000),
        rated.call('connect', { peers: [{ r, h, x: xi.addr }], timeoutMs: 30_000, waitFor: 3 }, 35_000),
        honest.call('connect', { peers: [{ v, r, h }], timeoutMs: 30_000 }, 35_000)
      ])

      const trial = async (c: Case): Promise<{ p50: number, p99: number }> => {
        const onRated = c === RATED || c === RATED_NONE
        const [target, node, attackName] = onRated ? [rated, 'r', c === RATED ? 'member message flood' : NONE] as const : [victim, 'v', c] as const
        const addr = onRated ? r : v
        await target.call('memory-start', { intervalMs: 10, pauses: true }, 30_000)
        const attack = attackName === NONE ? undefined : attacker.call('hostile-attack', { attack: attackName, target: addr, ms: LEAD_MS + cfg.trialMs }, LEAD_MS + cfg.trialMs + 60_000)
        if (attack !== undefined) await sleep(LEAD_MS)
        const count = Math.round(cfg.rate * cfg.trialMs / 1000)
        const res = (await honest.call('request', {
          job: { trial: newTrialId(), to: node, count, size: SIZE, rate: cfg.rate, concurrency: 1024, timeoutMs: TIMEOUT_MS, deadline: wallNow() + cfg.trialMs + 1000, channel: 'svc' }
        }, cfg.trialMs + TIMEOUT_MS + 60_000)).results[0]
        const a = await attack
        const mem: Requests['memory-stop']['result'] = await target.call('memory-stop', {}, 30_000)
        // a failed request counts at its timeout: failing cannot shorten the tail
        const latencies = new Float64Array(res.latencies.length + res.failed)
        latencies.set(res.latencies)
        latencies.fill(TIMEOUT_MS, res.latencies.length)
        const p = latencyPercentiles([latencies])
        const params = { attack: c }
        results.add('hostile', C, 'p50', 'ms', params, p.p50)
        results.add('hostile', C, 'p99', 'ms', params, p.p99)
        results.add('hostile', C, 'max', 'ms', params, p.max)
        results.add('hostile', C, 'answered', '%', params, res.succeeded / count * 100)
        results.add('hostile', C, 'victim RSS at start (after GC)', 'MiB', params, mem.before / MiB)
        results.add('hostile', C, 'victim RSS peak', 'MiB', params, mem.peak / MiB)
        results.add('hostile', C, 'victim RSS growth (peak)', 'MiB', params, (mem.peak - mem.before) / MiB)
        results.add('hostile', C, 'victim live heap growth (after GC)', 'MiB', params, (mem.liveAfterGc - mem.liveBefore) / MiB)
        if (mem.pauses !== undefined) {
          // what no queue of the library can shorten: the victim's loop busy, or the whole process paused
          results.add('hostile', C, 'victim event-loop delay p99', 'ms', params, mem.pauses.loopDelayP99)
          results.add('hostile', C, 'victim GC pause max', 'ms', params, mem.pauses.gcMaxMs)
          results.add('hostile', C, 'victim GC pauses total', 'ms', params, mem.pauses.gcTotalMs)
        }
        if (a !== undefined) {
          results.add('hostile', C, 'attacker wrote', 'MiB', params, a.sent / MiB)
          results.add('hostile', C, 'attacker got back', 'MiB', params, a.received / MiB)
          results.add('hostile', C, 'attacker streams', 'n', params, a.streams)
        }
        if (res.failed > 0) results.notes.push(`hostile ${c}: ${res.failed} of ${count} honest requests failed ${JSON.stringify(res.errors)}`)
        return { p50: p.p50, p99: p.p99 }
      }

      const attacks = (cfg.attacks ?? Object.keys(ATTACKS)) as AttackName[]
      const withRated = attacks.includes('member message flood')
      await trial(NONE) // warm-up: JIT, windows
      if (withRated) await trial(RATED_NONE)
      progress.tick()
      const cases: Case[] = [NONE, ...attacks, ...(withRated ? [RATED, RATED_NONE] as Case[] : [])]
      for (let round = 0; round < cfg.repeats; round++) {
        progress.step(`hostile: round ${round + 1}/${cfg.repeats}`)
        const order = cases.map((_, i) => cases[(i + round) % cases.length])
        const got = new Map<Case, { p50: number, p99: number }>()
        for (const c of order) {
          try {
            got.set(c, await trial(c))
          } catch (err) {
            results.notes.push(`hostile ${c}, round ${round + 1}: ${(err as Error).message.split('\n')[0]}`)
            for (const w of [victim, rated]) if (w.child.exitCode !== null || w.child.signalCode !== null) throw err
          }
        }
        for (const [c, f] of got) {
          if (c === NONE || c === RATED_NONE) continue
          const none = got.get(c === RATED ? RATED_NONE : NONE)
          if (none === undefined) continue
          results.add('hostile', C, 'p99 vs no attack', 'x', { attack: c }, f.p99 / none.p99)
          results.add('hostile', C, 'p50 vs no attack', 'x', { attack: c }, f.p50 / none.p50)
        }
        progress.tick()
      }
      results.add('hostile', C, 'victim bound (options)', 'MiB', { attack: NONE }, BOUND / MiB)
      for (const c of cases.filter(c => c !== NONE && c !== RATED_NONE)) {
        results.target(`hostile ${c}: honest p99 <= 3x no attack`, results.median('hostile', C, 'p99 vs no attack', { attack: c }), 'max', 3,
          'median over rounds of the honest member\'s request p99 under the attack / with no attack, same round (failed requests count at the 5 s timeout)')
        const growth = results.figures().find(f => f.scenario === 'hostile' && f.metric === 'victim RSS growth (peak)' && f.params.attack === c)
        results.target(`hostile ${c}: victim RSS growth within the bound of its options`, growth?.max, 'max', BOUND / MiB,
          'largest over rounds of the victim\'s peak RSS during the trial minus its RSS after GC at the start, against the README\'s worst-case formula for its options (test/hostile/scene.ts)', 'MiB')
      }
      for (const [c, what] of Object.entries(ATTACKS)) results.notes.push(`hostile ${c}: ${what}`)
    } finally {
      progress.step('hostile: stopping')
      await stopWorkers(workers)
      progress.tick()
    }
  }
}
