/**
 * Scenario 6, isolation: one sender sending as fast as it goes to R members (separate processes):
 * with all of them reading, with one of them stalled (its event loop blocked, so it reads nothing
 * and its socket buffers fill), and with that member left out of the sends. The figure is the
 * throughput to the healthy members. While broadcasting, the sender paces on all but its deepest
 * queue, as a consensus engine waits for a quorum rather than for its slowest member.
 */
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Scenario } from '../scenario.ts'
import { runTrial } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const SIZE = 256
/** The stalled member sleeps this long; a trial that has not finished by then is cut short. */
const STALL_MS = 6000
const TRIAL_LIMIT_MS = STALL_MS - 1000

/**
 * All members reading (broadcast to all); one stalled (broadcast to all); the stalled one left out
 * (sent to the healthy ones only): the run "without" it.
 */
const RUNS = ['all reading', 'one stalled', 'stalled one left out'] as const
type Run = typeof RUNS[number]

export const isolation: Scenario = {
  name: 'isolation',
  title: 'Isolation: one member stops reading',
  steps: p => 2 + RUNS.length * p.isolation.repeats,
  async run ({ profile, results, progress }) {
    const { receivers, count, repeats } = profile.isolation
    const c = 'consensus-net'
    let cluster: Cluster | undefined
    try {
      progress.step(`isolation: starting 1 sender and ${receivers} receivers`)
      cluster = await startCluster(c, receivers + 1)
      await connectCluster(cluster, 30_000)
      const sender = cluster.workers[0]
      const members = cluster.ids.slice(1)
      const healthy = cluster.workers.slice(1, receivers)
      const stalled = cluster.workers[receivers]
      const trial = async (n: number, run: Run) => await runTrial({
        senders: [{
          worker: sender,
          job: run === 'stalled one left out'
            ? { to: members.slice(0, -1), count: n, size: SIZE, rate: 0, deadline: wallNow() + TRIAL_LIMIT_MS, pace: 'slowest' }
            : { to: members, count: n, size: SIZE, rate: 0, deadline: wallNow() + TRIAL_LIMIT_MS, pace: 'all-but-slowest' }
        }],
        // the last member is left out of the count in every run: it is the one that stalls
        receivers: healthy.map(worker => ({ worker, expect: n })),
        graceMs: 5000
      })
      await trial(Math.round(count / 10), 'all reading') // warm-up
      progress.tick()
      for (let r = 0; r < repeats; r++) {
        const rates = new Map<Run, number>()
        for (const run of RUNS) {
          progress.step(`isolation: ${run}, round ${r + 1}/${repeats}`)
          const stall = run === 'one stalled'
          if (stall) await stalled.call('stall', { ms: STALL_MS }, 5000)
          const t = await trial(count, run)
          // throughput to the healthy members only
          const delivered = t.recv.reduce((n, x) => n + x.received, 0)
          const lastAt = Math.max(...t.recv.map(x => x.lastAt))
          const startedAt = t.send[0].results[0].startedAt
          const rate = delivered / (lastAt - startedAt) * 1000
          rates.set(run, rate)
          const params = { run }
          results.add('isolation', c, 'msgs/s', 'msg/s', params, rate)
          results.add('isolation', c, 'delivered to healthy', '%', params, delivered / ((receivers - 1) * count) * 100)
          results.add('isolation', c, 'dropped (all members)', 'msg', params, t.send[0].results[0].counters.dropped ?? NaN)
          if (stall) {
            // wait until the stalled member answers again (its stall ends), then let it catch up
            await stalled.call('stats', {}, STALL_MS + 30_000)
          }
          progress.tick()
        }
        const stalledRate = rates.get('one stalled')!
        results.add('isolation', c, 'one stalled / stalled one left out', 'x', {}, stalledRate / rates.get('stalled one left out')!)
        results.add('isolation', c, 'one stalled / all reading', 'x', {}, stalledRate / rates.get('all reading')!)
      }
      results.target('isolation: healthy throughput >= 90% of the run without the stalled member',
        results.median('isolation', c, 'one stalled / stalled one left out', {}), 'min', 0.9,
        'median over rounds of (msgs/s to the healthy members, one member stalled) / (same, the stalled member left out of the sends)')
    } finally {
      progress.step('isolation: stopping')
      if (cluster !== undefined) await stopWorkers(cluster.workers)
      progress.tick()
    }
  }
}
