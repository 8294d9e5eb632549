/**
 * Scenario 9, resolver (issue 7): 4 nodes (one process each), every one serving every key of a
 * key-value service whose `produce` sleeps PRODUCE ms and answers 1 KiB. Each trial runs 1,000
 * fetches over 100 keys drawn with a Zipf skew (exponent 1) from a seed, spread evenly over the
 * 4 nodes (fetch i on node i mod 4), each node keeping 8 fetches outstanding. The keys are new in
 * every trial (a trial prefix), so no cache starts warm; the resolvers themselves live across
 * trials, as in an engine (their members' response times carry over).
 *
 * Three ways to fetch, taking turns round by round (order alternating), on the same nodes:
 * - `resolver`: `net.resolver(name, { produce })`, default options (hedging on);
 * - `resolver, hedge: false`: the same with `hedge: false`;
 * - `naive: request per fetch`: the same keys and fetching nodes, one `channel.request` per fetch
 *   to a member drawn at random (seeded) among the others, whose handler calls `produce` every
 *   time: no de-duplication, no cache.
 * Each runs with every member fast, then with one member's `produce` slowed to SLOW ms (a
 * different member each round); the slowed member keeps fetching.
 *
 * Two layouts of the same 1,000 fetches: spread over all 4 nodes (each caches on its own, so
 * about one request per distinct (node, key) pair is the floor: ~250 of 1,000 here), and made by
 * one node from the other three, as a node catching up after a restart does.
 */
import type { FetchMode, FetchResult, ResolverSpec } from '../contenders/contender.ts'
import type { ResolverStats } from '../../src/index.ts'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import { zipf } from '../random.ts'
import { mulberry32 } from '../../src/testing/random.ts'
import type { Scenario } from '../scenario.ts'
import { latencyPercentiles } from '../stats.ts'
import { newTrialId } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const SEED = 7
const FETCH_TIMEOUT_MS = 20_000
const TRIAL_LIMIT_MS = 60_000
const MODES: Array<{ mode: FetchMode, label: string }> = [
  { mode: 'resolver', label: 'resolver' },
  { mode: 'resolver-nohedge', label: 'resolver, hedge: false' },
  { mode: 'naive', label: 'naive: request per fetch' }
]

/** Who makes the fetches: all nodes, or one node asking the other three. */
const LAYOUTS = ['fetched by all 4 nodes', 'fetched by 1 node from 3'] as const
type Layout = typeof LAYOUTS[number]

interface KvCounters { networkRequests: number, producerCalls: number, hedged: number, deduped: number, hits: number, askedSlowed: number }

/**
 * The mode's counters summed over the nodes, from the workers' `stats()`; `askedSlowed`: the
 * resolvers' attempts to member `slowed` (its `stats().peers[slowed].requests`).
 */
async function counters (cluster: Cluster, mode: FetchMode, slowed: string | undefined): Promise<KvCounters> {
  const sum: KvCounters = { networkRequests: 0, producerCalls: 0, hedged: 0, deduped: 0, hits: 0, askedSlowed: 0 }
  const all = await Promise.all(cluster.workers.map(async w => await w.call('stats', {}, 10_000)))
  for (const s of all) {
    for (const node of s.nodes) {
      if (mode === 'naive') {
        const n = node.naive as { requests: number, served: number }
        sum.networkRequests += n.requests
        sum.producerCalls += n.served
      } else {
        const r = (node.resolvers as Record<string, ResolverStats>)[mode]
        sum.networkRequests += r.networkRequests
        sum.producerCalls += r.producerCalls
        sum.hedged += r.hedged
        sum.deduped += r.deduped
        sum.hits += r.hits
        if (slowed !== undefined) sum.askedSlowed += r.peers[slowed]?.requests ?? 0
      }
    }
  }
  return sum
}

export const resolver: Scenario = {
  name: 'resolver',
  title: 'Resolver: 1,000 fetches over 100 Zipf-skewed keys on 4 nodes, vs a request per fetch',
  steps: p => 2 + p.resolver.repeats * MODES.length * LAYOUTS.length,
  async run ({ profile, results, progress }) {
    const cfg = profile.resolver
    const spec: ResolverSpec = { name: 'kv', valueSize: cfg.valueSize, produceMs: cfg.produceMs }
    let cluster: Cluster | undefined
    let planNo = 0
    /** The fetches of one trial, per node: the same plan (but new keys) for every mode of a round. */
    const plan = (prefix: string, seed: number, ids: string[], layout: Layout): Array<Array<{ key: string, to: string }>> => {
      const random = mulberry32(seed)
      const rank = zipf(cfg.keys, cfg.zipf, random)
      const perNode = ids.map(() => [] as Array<{ key: string, to: string }>)
      for (let i = 0; i < cfg.fetches; i++) {
        const at = layout === LAYOUTS[1] ? 0 : i % ids.length
        const others = ids.filter((_, j) => j !== at)
        const key = `${prefix}/${rank()}`
        perNode[at].push({ key, to: others[Math.floor(random() * others.length)] })
      }
      return perNode
    }
    const trial = async (c: Cluster, mode: FetchMode, seed: number, slow: number | undefined, layout: Layout) => {
      const prefix = `t${newTrialId()}-${planNo++}`
      const fetches = plan(prefix, seed, c.ids, layout)
      await Promise.all(c.workers.map(async (w, i) => await w.call('produce-delay', { ms: i === slow ? cfg.slowMs : cfg.produceMs }, 10_000)))
      const slowed = slow === undefined ? undefined : c.ids[slow]
      const before = await counters(c, mode, slowed)
      const deadline = wallNow() + TRIAL_LIMIT_MS
      const runs = await Promise.all(c.workers.map(async (w, i) => await w.call('fetch', {
        job: { mode, fetches: fetches[i], concurrency: cfg.concurrency, timeoutMs: FETCH_TIMEOUT_MS, deadline }
      }, TRIAL_LIMIT_MS + FETCH_TIMEOUT_MS + 30_000)))
      const after = await counters(c, mode, slowed)
      await Promise.all(c.workers.map(async w => await w.call('produce-delay', { ms: cfg.produceMs }, 10_000)))
      const r: FetchResult[] = runs.map(x => x.results[0])
      const delta = Object.fromEntries(Object.keys(after).map(k => [k, after[k as keyof KvCounters] - before[k as keyof KvCounters]])) as unknown as KvCounters
      const distinct = fetches.reduce((n, list) => n + new Set(list.map(f => f.key)).size, 0)
      return { r, delta, distinct }
    }
    try {
      progress.step(`resolver: starting ${cfg.nodes} nodes`)
      cluster = await startCluster('consensus-net', cfg.nodes, { resolver: spec })
      await connectCluster(cluster, 30_000)
      // warm-up: JIT, streams, and every resolver's response times of every member
      for (const m of MODES) await trial(cluster, m.mode, SEED - 1, undefined, LAYOUTS[0])
      progress.tick()

      const cases = ['all members fast', `one member at ${cfg.slowMs} ms`] as const
      for (let round = 0; round < cfg.repeats; round++) {
        for (const layout of LAYOUTS) {
          // the slowed member serves: in the one-fetcher layout it is never node 0, the fetcher
          const slowNode = layout === LAYOUTS[1] ? 1 + round % (cfg.nodes - 1) : round % cfg.nodes
          const seed = SEED + round
          const order = round % 2 === 0 ? MODES : [...MODES].reverse()
          const got = new Map<string, { requests: number, p99: number }>()
          for (const m of order) {
            progress.step(`resolver: ${m.label}, ${layout}, round ${round + 1}/${cfg.repeats}`)
            for (const kase of cases) {
              const slow = kase === cases[0] ? undefined : slowNode
              const { r, delta, distinct } = await trial(cluster, m.mode, seed, slow, layout)
              const params = { layout, case: kase }
              const succeeded = r.reduce((n, x) => n + x.succeeded, 0)
              const p = latencyPercentiles(r.map(x => x.latencies))
              const window = Math.max(...r.map(x => x.endedAt)) - Math.min(...r.map(x => x.startedAt))
              results.add('resolver', m.label, 'network requests', 'req', params, delta.networkRequests)
              results.add('resolver', m.label, 'producer calls', 'calls', params, delta.producerCalls)
              if (m.mode !== 'naive') {
                results.add('resolver', m.label, 'hedged', 'req', params, delta.hedged)
                results.add('resolver', m.label, 'deduped', 'fetches', params, delta.deduped)
                results.add('resolver', m.label, 'cache hits', 'fetches', params, delta.hits)
                if (slow !== undefined) results.add('resolver', m.label, 'attempts to the slowed member', 'req', params, delta.askedSlowed)
              } else {
                results.add('resolver', m.label, 'distinct (node, key) fetched', 'pairs', params, distinct)
              }
              results.add('resolver', m.label, 'fetch p50', 'ms', params, p.p50)
              results.add('resolver', m.label, 'fetch p99', 'ms', params, p.p99)
              results.add('resolver', m.label, 'fetch max', 'ms', params, p.max)
              results.add('resolver', m.label, 'all fetches done in', 'ms', params, window)
              results.add('resolver', m.label, 'succeeded', '%', params, succeeded / cfg.fetches * 100)
              const failed = r.reduce((n, x) => n + x.failed, 0)
              if (succeeded < cfg.fetches) {
                const errors: Record<string, number> = {}
                for (const x of r) for (const [k, v] of Object.entries(x.errors)) errors[k] = (errors[k] ?? 0) + v
                results.notes.push(`resolver ${m.label}, ${kase}, round ${round + 1}: ${succeeded}/${cfg.fetches} succeeded, ${failed} failed ${JSON.stringify(errors)}`)
              }
              got.set(`${m.mode}|${kase}`, { requests: delta.networkRequests, p99: p.p99 })
            }
            progress.tick()
          }
          const naive = got.get(`naive|${cases[0]}`)!
          for (const m of MODES.filter(x => x.mode !== 'naive')) {
            const fast = got.get(`${m.mode}|${cases[0]}`)!
            const slow = got.get(`${m.mode}|${cases[1]}`)!
            results.add('resolver', m.label, 'network requests vs naive', 'x', { layout, case: cases[0] }, fast.requests / naive.requests)
            results.add('resolver', m.label, 'p99 slowed / p99 fast', 'x', { layout, case: cases[1] }, slow.p99 / fast.p99)
          }
          const naiveSlow = got.get(`naive|${cases[1]}`)!
          results.add('resolver', 'naive: request per fetch', 'p99 slowed / p99 fast', 'x', { layout, case: cases[1] }, naiveSlow.p99 / naive.p99)
        }
      }
      for (const layout of LAYOUTS) {
        results.target(`resolver (${layout}): network requests <= 1/5 of a naive request per fetch`,
          results.median('resolver', 'resolver', 'network requests vs naive', { layout, case: cases[0] }), 'max', 0.2,
          `median over rounds of network requests (resolver, hedging on) / (one channel.request per fetch), ${cfg.fetches} fetches over ${cfg.keys} keys (Zipf ${cfg.zipf}), ${layout}, all members fast`)
        results.target(`resolver (${layout}): p99 with one member at ${cfg.slowMs} ms <= 2x the p99 without (hedging on)`,
          results.median('resolver', 'resolver', 'p99 slowed / p99 fast', { layout, case: cases[1] }), 'max', 2,
          'median over rounds of fetch p99 with one member\'s produce slowed / fetch p99 with all fast, same round and keys plan')
      }
    } finally {
      progress.step('resolver: stopping')
      if (cluster !== undefined) await stopWorkers(cluster.workers)
      progress.tick()
    }
  }
}
