/**
 * Scenario 7, request/response: one requester and one responder (separate processes), 256-byte
 * requests answered with 256-byte responses that carry the request's header back. First
 * throughput with a fixed number of requests outstanding (closed loop: each completion issues
 * the next), then round-trip latency at a fixed offered rate. This project's `channel.request`
 * on a channel whose responder allows MAX_CONCURRENT requests per member (its default, 16, would
 * answer `busy` to 64 in flight), against raw libp2p with one stream per request. The two take
 * turns, order alternating round by round; ratios are taken within a round.
 */
import type { ChannelSpec, ContenderName, RequestResult } from '../contenders/contender.ts'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Pauses } from '../protocol.ts'
import type { Scenario } from '../scenario.ts'
import { latencyPercentiles } from '../stats.ts'
import { cpuPercent, newTrialId } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const CONTENDERS: ContenderName[] = ['consensus-net', 'raw-stream-per-request']
const SIZE = 256
/** Inbound requests the responder serves at once per member: twice the most put in flight. */
const MAX_CONCURRENT = 128
/** Requests outstanding at most during the fixed-rate trials (never reached at a modest rate). */
const RATE_CAP = 1024
const CHANNEL: ChannelSpec = { name: 'reqresp', priority: 4, maxConcurrentRequests: MAX_CONCURRENT, serve: true }
const TIMEOUT_MS = 10_000
const TRIAL_LIMIT_MS = 30_000

interface Outcome {
  result: RequestResult
  requesterCpu: number
  responderCpu: number
  /** Fixed-rate trials: event-loop delay and GC pauses of each side, where a slow round trip may have waited. */
  pauses: Array<['requester' | 'responder', Pauses | undefined]>
}

/**
 * One request job from node 0 to node 1; the responder's CPU is measured over the same interval
 * and, at a fixed rate, both sides' event-loop delay and GC pauses.
 */
async function requests (cluster: Cluster, count: number, rate: number, concurrency: number): Promise<Outcome> {
  const [requester, responder] = cluster.workers
  const trial = newTrialId()
  const limit = rate > 0 ? count / rate * 1000 + 10_000 : TRIAL_LIMIT_MS
  const pauses = rate > 0
  // nothing is counted (requests go to the handler, not to 'message'): this measures CPU and pauses
  await responder.call('recv-start', { trial, expect: 0, maxSamples: 0, pauses }, 10_000)
  if (pauses) await requester.call('recv-start', { trial, expect: 0, maxSamples: 0, pauses }, 10_000)
  const r = await requester.call('request', {
    job: { trial, to: cluster.ids[1], count, size: SIZE, rate, concurrency, timeoutMs: TIMEOUT_MS, deadline: wallNow() + limit, channel: CHANNEL.name }
  }, limit + TIMEOUT_MS + 60_000)
  const resp = await responder.call('recv-stop', {}, 10_000)
  const req = pauses ? await requester.call('recv-stop', {}, 10_000) : undefined
  return {
    result: r.results[0],
    requesterCpu: cpuPercent(r.cpu),
    responderCpu: cpuPercent(resp.cpu),
    pauses: [['requester', req?.pauses], ['responder', resp.pauses]]
  }
}

export const reqresp: Scenario = {
  name: 'reqresp',
  title: 'Request/response: 256 B requests and responses',
  steps: p => 2 + 2 * p.reqresp.repeats,
  async run ({ profile, results, progress }) {
    const cfg = profile.reqresp
    const clusters: Cluster[] = []
    const countOf = (c: ContenderName): number => c === 'raw-stream-per-request' ? cfg.streamPerRequestCount : cfg.count
    const record = (c: ContenderName, params: Record<string, string>, o: Outcome, issued: number): { rate: number, p99: number } => {
      const r = o.result
      const p = latencyPercentiles([r.latencies])
      const rate = r.succeeded / Math.max(1e-3, r.endedAt - r.startedAt) * 1000
      results.add('reqresp', c, 'req/s', 'req/s', params, rate)
      results.add('reqresp', c, 'p50', 'ms', params, p.p50)
      results.add('reqresp', c, 'p99', 'ms', params, p.p99)
      results.add('reqresp', c, 'max', 'ms', params, p.max)
      results.add('reqresp', c, 'succeeded', '%', params, r.succeeded / issued * 100)
      results.add('reqresp', c, 'requester CPU', '%', params, o.requesterCpu)
      results.add('reqresp', c, 'responder CPU', '%', params, o.responderCpu)
      for (const [who, x] of o.pauses) {
        if (x === undefined) continue
        results.add('reqresp', c, `${who} event-loop delay p99`, 'ms', params, x.loopDelayP99)
        results.add('reqresp', c, `${who} GC pause max`, 'ms', params, x.gcMaxMs)
      }
      if (r.failed > 0 || r.issued < issued || r.capped > 0) {
        results.notes.push(`reqresp ${params.load} ${c}: ${r.succeeded}/${issued} succeeded, ${r.issued} issued, failures ${JSON.stringify(r.errors)}${r.capped > 0 ? `, ${r.capped} times at the cap of ${RATE_CAP} outstanding` : ''}`)
      }
      return { rate, p99: p.p99 }
    }
    try {
      progress.step('reqresp: starting 2 requester/responder pairs')
      for (const c of CONTENDERS) {
        const cluster = await startCluster(c, 2, { channels: [CHANNEL], respond: SIZE })
        clusters.push(cluster)
        await connectCluster(cluster, 30_000)
      }
      // warm-up: JIT, yamux windows, stream bookkeeping
      for (const cluster of clusters) await requests(cluster, Math.round(countOf(cluster.contender) / 10), 0, cfg.concurrency)
      progress.tick()

      const inFlight = { load: `${cfg.concurrency} in flight` }
      for (let r = 0; r < cfg.repeats; r++) {
        progress.step(`reqresp: ${cfg.concurrency} in flight, round ${r + 1}/${cfg.repeats}`)
        const order = r % 2 === 0 ? clusters : [...clusters].reverse()
        const got = new Map<ContenderName, { rate: number, p99: number }>()
        for (const cluster of order) {
          const c = cluster.contender
          got.set(c, record(c, inFlight, await requests(cluster, countOf(c), 0, cfg.concurrency), countOf(c)))
        }
        const own = got.get('consensus-net')!
        const raw = got.get('raw-stream-per-request')!
        results.add('reqresp', 'consensus-net', 'vs stream-per-request', 'x', inFlight, own.rate / raw.rate)
        results.add('reqresp', 'consensus-net', 'p99 vs stream-per-request', 'x', inFlight, own.p99 / raw.p99)
        progress.tick()
      }

      const atRate = { load: `${cfg.latencyRate}/s` }
      const count = Math.round(cfg.latencyRate * cfg.latencyMs / 1000)
      for (let r = 0; r < cfg.repeats; r++) {
        progress.step(`reqresp: ${cfg.latencyRate}/s, round ${r + 1}/${cfg.repeats}`)
        const order = r % 2 === 0 ? clusters : [...clusters].reverse()
        const got = new Map<ContenderName, { rate: number, p99: number }>()
        for (const cluster of order) {
          const c = cluster.contender
          got.set(c, record(c, atRate, await requests(cluster, count, cfg.latencyRate, RATE_CAP), count))
        }
        results.add('reqresp', 'consensus-net', 'p99 vs stream-per-request', 'x', atRate,
          got.get('consensus-net')!.p99 / got.get('raw-stream-per-request')!.p99)
        progress.tick()
      }

      results.target(`reqresp ${inFlight.load}: >= 5x one stream per request (req/s)`,
        results.median('reqresp', 'consensus-net', 'vs stream-per-request', inFlight), 'min', 5,
        'median over rounds of (this project req/s) / (raw one stream per request req/s), same round')
      results.target(`reqresp ${atRate.load}: round-trip p99 no worse than one stream per request`,
        results.median('reqresp', 'consensus-net', 'p99 vs stream-per-request', atRate), 'max', 1,
        'median over rounds of p99 (this project) / p99 (raw one stream per request), taking turns')
      results.target(`reqresp ${inFlight.load}: round-trip p99 no worse than one stream per request`,
        results.median('reqresp', 'consensus-net', 'p99 vs stream-per-request', inFlight), 'max', 1,
        'median over rounds of p99 (this project) / p99 (raw one stream per request), same round')
    } finally {
      progress.step('reqresp: stopping')
      await stopWorkers(clusters.flatMap(c => c.workers))
      progress.tick()
    }
  }
}
