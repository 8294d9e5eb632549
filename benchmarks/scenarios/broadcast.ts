/**
 * Scenario 3, broadcast: N nodes, each in its own process, every node broadcasting 256-byte
 * messages to all the others. First as fast as each contender goes (delivered messages/s across
 * the cluster), then at a fixed cluster-wide rate (one-way latency percentiles over every
 * delivery). This project against gossipsub, signed (its default) and StrictNoSign.
 */
import type { ContenderName } from '../contenders/contender.ts'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Scenario } from '../scenario.ts'
import { latencyPercentiles } from '../stats.ts'
import { cpuPercent, runTrial, type TrialResult } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const CONTENDERS: ContenderName[] = ['consensus-net', 'gossipsub', 'gossipsub-nosign']
const SIZE = 256
const SEND_LIMIT_MS = 30_000

/** Every node sends `perNode` messages to all others at `rate` per node (0: as fast as it goes). */
async function allToAll (cluster: Cluster, perNode: number, rate: number, samples: boolean): Promise<TrialResult> {
  const n = cluster.ids.length
  const limit = rate > 0 ? perNode / rate * 1000 + 10_000 : SEND_LIMIT_MS
  const deadline = wallNow() + limit
  return await runTrial({
    senders: cluster.workers.map((worker, i) => ({
      worker,
      job: { to: cluster.ids.filter((_, j) => j !== i), count: perNode, size: SIZE, rate, deadline }
    })),
    receivers: cluster.workers.map(worker => ({ worker, expect: perNode * (n - 1) })),
    maxSamples: samples ? perNode * (n - 1) : 0,
    graceMs: 10_000
  })
}

export const broadcast: Scenario = {
  name: 'broadcast',
  title: 'Broadcast: N nodes, all broadcasting',
  steps: p => p.broadcast.nodes.length * CONTENDERS.length * (3 + p.broadcast.repeats),
  async run ({ profile, results, progress }) {
    const cfg = profile.broadcast
    for (const n of cfg.nodes) {
      for (const c of CONTENDERS) {
        const gossip = c !== 'consensus-net'
        // deliveries per node are fixed; each node sends its share
        const perNode = Math.ceil((gossip ? cfg.gossipsubCount : cfg.count) / (n - 1))
        let cluster: Cluster | undefined
        try {
          progress.step(`broadcast N=${n}: starting ${n} ${c} nodes`)
          cluster = await startCluster(c, n)
          await connectCluster(cluster, 60_000)
          await allToAll(cluster, Math.ceil(perNode / 10), 0, false) // warm-up
          progress.tick()
          const params = { nodes: n }
          for (let r = 0; r < cfg.repeats; r++) {
            progress.step(`broadcast N=${n}: ${c} as fast as it goes, round ${r + 1}/${cfg.repeats}`)
            const t = await allToAll(cluster, perNode, 0, false)
            results.add('broadcast', c, 'msgs/s', 'msg/s', params, t.rate)
            results.add('broadcast', c, 'delivered', '%', params, t.delivered / t.expected * 100)
            results.add('broadcast', c, 'CPU per node', '%', params, t.recv.reduce((s, x) => s + cpuPercent(x.cpu), 0) / n)
            const failures = t.send.reduce((s, x) => s + (x.results[0].counters.publishFailures ?? 0), 0)
            if (t.delivered < t.expected) {
              let why = ''
              if (failures > 0) {
                const stats = await Promise.all(cluster.workers.map(async w => (await w.call('stats', {}, 10_000)).nodes[0]))
                const first = stats.map(x => x.firstFailure).find(x => typeof x === 'string' && x !== '')
                why = `, ${failures} publish() calls rejected${first === undefined ? '' : ` (${String(first)})`}`
              }
              results.notes.push(`broadcast N=${n} ${c}: ${t.delivered}/${t.expected} delivered${why}`)
            }
            progress.tick()
          }
          progress.step(`broadcast N=${n}: ${c} at ${cfg.latencyRate}/s cluster-wide`)
          const ratePerNode = cfg.latencyRate / n
          const t = await allToAll(cluster, Math.round(ratePerNode * cfg.latencyMs / 1000), ratePerNode, true)
          const p = latencyPercentiles(t.recv.map(x => x.latencies))
          const lparams = { nodes: n, rate: cfg.latencyRate }
          results.add('broadcast', c, 'p50', 'ms', lparams, p.p50)
          results.add('broadcast', c, 'p99', 'ms', lparams, p.p99)
          results.add('broadcast', c, 'max', 'ms', lparams, p.max)
          results.add('broadcast', c, 'delivered', '%', lparams, t.delivered / t.expected * 100)
          progress.tick()
        } finally {
          progress.step(`broadcast N=${n}: stopping ${c}`)
          if (cluster !== undefined) await stopWorkers(cluster.workers)
          progress.tick()
        }
      }
    }
    const n4 = { nodes: 4 }
    const own = results.median('broadcast', 'consensus-net', 'msgs/s', n4)
    for (const g of ['gossipsub', 'gossipsub-nosign'] as const) {
      const theirs = results.median('broadcast', g, 'msgs/s', n4)
      if (own !== undefined && theirs !== undefined) {
        results.add('broadcast', 'consensus-net', `vs ${g}`, 'x', n4, own / theirs)
        results.target(`broadcast N=4: >= 20x ${g} msgs/s`, own / theirs, 'min', 20,
          `this project ${Math.round(own)} msgs/s / ${g} ${Math.round(theirs)} msgs/s delivered across the cluster`)
      }
      const l4 = { nodes: 4, rate: cfg.latencyRate }
      const ownP99 = results.median('broadcast', 'consensus-net', 'p99', l4)
      const theirP99 = results.median('broadcast', g, 'p99', l4)
      if (ownP99 !== undefined && theirP99 !== undefined) {
        results.target(`broadcast N=4, ${cfg.latencyRate}/s: p99 lower than ${g}`, ownP99 / theirP99, 'max', 1,
          `p99 ${ownP99.toFixed(2)} ms / ${theirP99.toFixed(2)} ms`)
      }
    }
  }
}
