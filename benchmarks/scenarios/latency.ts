/**
 * Scenario 2, latency: one sender, one receiver (separate processes), 256-byte messages offered at
 * a fixed rate: 1k/s; 50% of each contender's own link maximum; and 50% of the one-write-per-
 * message maximum for both (the same load). Link maxima come from the 'link' scenario of the same
 * run, or are measured here when it did not run. The send time travels in the payload; the
 * receiver records one-way latency for every message.
 */
import type { ContenderName } from '../contenders/contender.ts'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Scenario } from '../scenario.ts'
import { latencyPercentiles } from '../stats.ts'
import { runTrial } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

/** Pre-packed writes have no send time per message: latency compares the two per-message senders. */
const CONTENDERS: ContenderName[] = ['consensus-net', 'raw-per-message']
const SIZE = 256

export const latency: Scenario = {
  name: 'latency',
  title: 'Latency at a fixed offered load',
  steps: p => 2 + p.latency.loads.reduce((n, l) => n + l.repeats, 0),
  async run ({ profile, results, progress, linkMax }) {
    const clusters: Cluster[] = []
    try {
      progress.step('latency: starting pairs')
      for (const c of CONTENDERS) {
        const cluster = await startCluster(c, 2)
        clusters.push(cluster)
        await connectCluster(cluster, 30_000)
      }
      const trial = async (cluster: Cluster, rate: number, count: number, samples: boolean) => await runTrial({
        senders: [{ worker: cluster.workers[0], job: { to: [cluster.ids[1]], count, size: SIZE, rate, deadline: wallNow() + count / (rate > 0 ? rate : 10_000) * 1000 * 2 + 10_000 } }],
        receivers: [{ worker: cluster.workers[1], expect: count }],
        maxSamples: samples ? count : 0,
        graceMs: 5000
      })
      for (const cluster of clusters) {
        await trial(cluster, 1000, 500, false) // warm-up
        if (!linkMax.has(cluster.contender)) {
          const n = cluster.contender === 'raw-per-message' ? profile.link.sizes[0].perMessageCount : profile.link.sizes[0].count
          linkMax.set(cluster.contender, (await trial(cluster, 0, n, false)).rate)
        }
      }
      progress.tick()
      for (const { load, repeats } of profile.latency.loads) {
        const params = { load }
        const rateOf = (c: ContenderName): number => load === '1k/s'
          ? 1000
          : Math.round(linkMax.get(load === '50% of own max' ? c : 'raw-per-message')! / 2)
        const measure = async (cluster: Cluster): Promise<number> => {
          const c = cluster.contender
          const rate = rateOf(c)
          const count = Math.round(rate * profile.latency.durationMs / 1000)
          const t = await trial(cluster, rate, count, true)
          const p = latencyPercentiles(t.recv.map(x => x.latencies))
          results.add('latency', c, 'offered', 'msg/s', params, rate)
          results.add('latency', c, 'delivered', '%', params, t.delivered / count * 100)
          results.add('latency', c, 'p50', 'ms', params, p.p50)
          results.add('latency', c, 'p99', 'ms', params, p.p99)
          results.add('latency', c, 'max', 'ms', params, p.max)
          return p.p99
        }
        for (let r = 0; r < repeats; r++) {
          progress.step(`latency: ${load}, round ${r + 1}/${repeats}`)
          // 1k/s loads the machine so little that both contenders run at the same time and share
          // whatever else the machine is doing; heavier loads take turns, in alternating order
          let p99s: number[]
          if (load === '1k/s') {
            p99s = await Promise.all(clusters.map(measure))
          } else {
            const order = r % 2 === 0 ? [0, 1] : [1, 0]
            p99s = []
            for (const i of order) p99s[i] = await measure(clusters[i])
          }
          // a ratio only where both were offered the same load
          if (rateOf('consensus-net') === rateOf('raw-per-message')) {
            results.add('latency', 'consensus-net', 'p99 vs raw-per-message', 'x', params, p99s[0] / p99s[1])
          }
          progress.tick()
        }
      }
      results.target('latency 1k/s: p99 <= 1.2x one write per message',
        results.median('latency', 'consensus-net', 'p99 vs raw-per-message', { load: '1k/s' }), 'max', 1.2,
        'median over rounds of p99 (this project) / p99 (raw one-send-per-message), both running at the same time')
    } finally {
      progress.step('latency: stopping')
      await stopWorkers(clusters.flatMap(c => c.workers))
      progress.tick()
    }
  }
}
