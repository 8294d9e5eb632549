/**
 * Scenario 10, reliable (issue 8): what exactly-once costs. One sender and one receiver
 * (separate processes) open two channels of the same priority, one unreliable and one
 * `{ reliable: true }`; the sender sends 256 B messages as fast as it goes on one of them,
 * pacing on its queue as in the link scenario (so nothing is dropped), and the two channels take
 * turns on the same pair of nodes, order alternating round by round; the ratio is taken within a
 * round. The default channel (`net.send`, what the link scenario measures) takes its turn too,
 * for reference.
 */
import type { ChannelSpec } from '../contenders/contender.ts'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Scenario } from '../scenario.ts'
import { cpuPercent, runTrial } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const SIZE = 256
const TRIAL_LIMIT_MS = 60_000
const CHANNELS: Array<{ spec: ChannelSpec, label: string }> = [
  { spec: { name: 'bench-unreliable', priority: 4 }, label: 'unreliable channel' },
  { spec: { name: 'bench-reliable', priority: 4, reliable: true }, label: 'reliable channel' }
]
/** For reference, not in the target: the default channel (`net.send`), as the link scenario sends. */
const DEFAULT = { spec: undefined, label: 'default channel (net.send)' }
const CASES: Array<{ spec: ChannelSpec | undefined, label: string }> = [...CHANNELS, DEFAULT]

export const reliable: Scenario = {
  name: 'reliable',
  title: 'Reliable vs unreliable channel: one sender, one receiver, 256 B, as fast as it goes',
  steps: p => 2 + p.reliable.repeats,
  async run ({ profile, results, progress }) {
    const cfg = profile.reliable
    const c = 'consensus-net'
    let cluster: Cluster | undefined
    try {
      progress.step('reliable: starting 1 sender and 1 receiver')
      cluster = await startCluster(c, 2, { channels: CHANNELS.map(x => x.spec) })
      await connectCluster(cluster, 30_000)
      const [sender, receiver] = cluster.workers
      const to = cluster.ids[1]
      const trial = async (channel: string | undefined, count: number) => await runTrial({
        senders: [{ worker: sender, job: { to: [to], count, size: SIZE, rate: 0, deadline: wallNow() + TRIAL_LIMIT_MS, ...(channel === undefined ? {} : { channel }) } }],
        receivers: [{ worker: receiver, expect: count }],
        graceMs: 5000
      })
      // warm-up: JIT, yamux windows, TCP buffers
      for (const ch of CASES) await trial(ch.spec?.name, Math.round(cfg.count / 10))
      progress.tick()

      for (let round = 0; round < cfg.repeats; round++) {
        progress.step(`reliable: 256 B, round ${round + 1}/${cfg.repeats}`)
        const rates = new Map<string, number>()
        for (const ch of round % 2 === 0 ? CASES : [...CASES].reverse()) {
          const t = await trial(ch.spec?.name, cfg.count)
          const params = { size: SIZE }
          rates.set(ch.label, t.rate)
          results.add('reliable', ch.label, 'msgs/s', 'msg/s', params, t.rate)
          results.add('reliable', ch.label, 'MB/s', 'MB/s', params, t.rate * SIZE / 1e6)
          results.add('reliable', ch.label, 'sender CPU', '%', params, cpuPercent(t.send[0].cpu))
          results.add('reliable', ch.label, 'receiver CPU', '%', params, cpuPercent(t.recv[0].cpu))
          results.add('reliable', ch.label, 'delivered', '%', params, t.delivered / cfg.count * 100)
          if (t.delivered < cfg.count) {
            results.notes.push(`reliable ${ch.label}: ${t.delivered}/${cfg.count} delivered (${JSON.stringify(t.send[0].results[0].counters)})`)
          }
        }
        results.add('reliable', 'reliable channel', 'vs unreliable', 'x', { size: SIZE }, rates.get('reliable channel')! / rates.get('unreliable channel')!)
        progress.tick()
      }
      results.target('reliable 256 B: >= 0.8x the throughput of an unreliable channel',
        results.median('reliable', 'reliable channel', 'vs unreliable', { size: SIZE }), 'min', 0.8,
        'median over rounds of (reliable channel msgs/s) / (unreliable channel msgs/s), same nodes, same round')
    } finally {
      progress.step('reliable: stopping')
      if (cluster !== undefined) await stopWorkers(cluster.workers)
      progress.tick()
    }
  }
}
