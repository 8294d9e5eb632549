/**
 * Scenario 8, priority: one sender, one receiver (separate processes). The sender floods the
 * receiver with 4 KiB messages, keeping its queue for the receiver FLOOD_QUEUED_BYTES deep (just
 * under the 32 MiB default bound, topped up every millisecond: it never empties and nothing is
 * dropped), and meanwhile sends 256-byte messages at 100/s; the receiver records the one-way
 * latency of those (the send time travels in the payload). With lanes: the 256-byte messages on a
 * priority-0 channel, the flood on a priority-7 channel. Without lanes: both on the default
 * channel, one FIFO queue. Also the flood's delivered throughput in each case. The two cases take
 * turns on the same pair of nodes, order alternating round by round.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ChannelSpec } from '../contenders/contender.ts'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Scenario } from '../scenario.ts'
import { latencyPercentiles } from '../stats.ts'
import { cpuPercent, newTrialId } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const MiB = 2 ** 20
const VOTE_SIZE = 256
const VOTES: ChannelSpec = { name: 'votes', priority: 0 }
const FLOOD: ChannelSpec = { name: 'flood', priority: 7 }
/** 32 MiB (a channel's default sendBufferBytes per member) less 256 KiB of headroom. */
const FLOOD_QUEUED_BYTES = 32 * MiB - 256 * 1024
const CASES = ['with lanes (p0 votes, p7 flood)', 'without lanes (one channel, FIFO)'] as const
type Case = typeof CASES[number]

export const priority: Scenario = {
  name: 'priority',
  title: 'Priority: 256 B priority-0 messages under a priority-7 flood',
  steps: p => 2 + CASES.length * p.priority.repeats,
  async run ({ profile, results, progress }) {
    const cfg = profile.priority
    const c = 'consensus-net'
    let cluster: Cluster | undefined
    try {
      progress.step('priority: starting 1 sender and 1 receiver')
      cluster = await startCluster(c, 2, { channels: [VOTES, FLOOD] })
      await connectCluster(cluster, 30_000)
      const [sender, receiver] = cluster.workers
      const to = cluster.ids[1]
      const floodQueued = Math.floor(FLOOD_QUEUED_BYTES / cfg.floodSize)

      const trial = async (kase: Case, voteMs: number) => {
        const lanes = kase === CASES[0]
        const votes = newTrialId()
        const flood = newTrialId()
        const count = Math.round(cfg.voteRate * voteMs / 1000)
        await receiver.call('recv-start', { trial: votes, expect: count, maxSamples: count, background: flood, pauses: true }, 10_000)
        // the sender receives nothing: this records its event-loop delay and GC pauses
        await sender.call('recv-start', { trial: newTrialId(), expect: 0, maxSamples: 0, pauses: true }, 10_000)
        const floodMs = cfg.fillMs + voteMs + 500
        const floodCall = sender.call('send', {
          job: {
            trial: flood,
            to: [to],
            count: 1e9,
            size: cfg.floodSize,
            rate: 0,
            deadline: wallNow() + floodMs,
            pace: 'slowest',
            queued: floodQueued,
            ...(lanes ? { channel: FLOOD.name } : {})
          }
        }, floodMs + 60_000)
        floodCall.catch(() => {}) // awaited below; not unhandled while the votes start
        await sleep(cfg.fillMs)
        const voteCall = sender.call('send', {
          job: { trial: votes, to: [to], count, size: VOTE_SIZE, rate: cfg.voteRate, deadline: wallNow() + voteMs + 5000, pace: 'none', ...(lanes ? { channel: VOTES.name } : {}) }
        }, voteMs + 60_000)
        const [f, v] = await Promise.all([floodCall, voteCall])
        await receiver.waitReceived(votes, 10_000)
        const r = await receiver.call('recv-stop', {}, 10_000)
        const s = await sender.call('recv-stop', {}, 10_000)
        return { f: f.results[0], floodCpu: f.cpu, sent: v.results[0].sent, r, senderPauses: s.pauses }
      }

      // warm-up: JIT, yamux windows, TCP buffers
      for (const kase of CASES) await trial(kase, 1000)
      progress.tick()

      for (let round = 0; round < cfg.repeats; round++) {
        const order = round % 2 === 0 ? CASES : [...CASES].reverse()
        const p99s = new Map<Case, number>()
        for (const kase of order) {
          progress.step(`priority: ${kase}, round ${round + 1}/${cfg.repeats}`)
          const { f, floodCpu, sent, r, senderPauses } = await trial(kase, cfg.voteMs)
          const params = { case: kase }
          const p = latencyPercentiles([r.latencies])
          p99s.set(kase, p.p99)
          results.add('priority', c, 'p50', 'ms', params, p.p50)
          results.add('priority', c, 'p99', 'ms', params, p.p99)
          results.add('priority', c, 'max', 'ms', params, p.max)
          results.add('priority', c, 'delivered', '%', params, r.received / Math.max(1, sent) * 100)
          const b = r.background
          const floodWindow = Math.max(1e-3, b.lastAt - b.firstAt)
          results.add('priority', c, 'flood msgs/s', 'msg/s', params, b.received / floodWindow * 1000)
          results.add('priority', c, 'flood MB/s', 'MB/s', params, b.bytes / floodWindow / 1000)
          results.add('priority', c, 'flood queued (min)', 'MiB', params, (f.counters.queuedMin ?? NaN) * cfg.floodSize / MiB)
          results.add('priority', c, 'flood queued (mean)', 'MiB', params, (f.counters.queuedMean ?? NaN) * cfg.floodSize / MiB)
          results.add('priority', c, 'flood dropped', 'msg', params, f.counters.dropped ?? NaN)
          results.add('priority', c, 'sender CPU', '%', params, cpuPercent(floodCpu))
          results.add('priority', c, 'receiver CPU', '%', params, cpuPercent(r.cpu))
          // where a late message may have waited outside the library: a busy event loop, a GC pause
          for (const [who, p] of [['sender', senderPauses], ['receiver', r.pauses]] as const) {
            if (p === undefined) continue
            results.add('priority', c, `${who} event-loop delay p99`, 'ms', params, p.loopDelayP99)
            results.add('priority', c, `${who} event-loop delay max`, 'ms', params, p.loopDelayMax)
            results.add('priority', c, `${who} GC pause max`, 'ms', params, p.gcMaxMs)
            results.add('priority', c, `${who} GC time`, '%', params, p.gcTotalMs / p.wallMs * 100)
          }
          if (r.received < sent) results.notes.push(`priority ${kase}: ${r.received}/${sent} priority-0 messages delivered`)
          progress.tick()
        }
        results.add('priority', c, 'p99 without / with lanes', 'x', {}, p99s.get(CASES[1])! / p99s.get(CASES[0])!)
      }
      results.target('priority: p0 p99 under a p7 flood of ~32 MiB queued <= 20 ms',
        results.median('priority', c, 'p99', { case: CASES[0] }), 'max', 20,
        'median over rounds of the p99 one-way latency of 256 B priority-0 messages at 100/s, 4 KiB priority-7 flood kept ~32 MiB deep', 'ms')
    } finally {
      progress.step('priority: stopping')
      if (cluster !== undefined) await stopWorkers(cluster.workers)
      progress.tick()
    }
  }
}
