/**
 * Scenario 11, chaos (issue 8): two nodes (one process each) over real TCP, every connection
 * between them through a userspace proxy (test/fixtures/tcp-proxy.ts, run in this process): one
 * proxy in front of the receiver, which the sender has in its membership, and one in front of the
 * sender, which the receiver has in its, so that neither can reach the other around the faults.
 * Both nodes run with `deadLinkTimeout` DEAD_LINK ms so that blackholes are detected.
 *
 * The sender sends 256 B messages at a steady rate on a reliable channel and on an unreliable
 * one at once (same priority), while a schedule drawn from a seed hits the link with faults,
 * each on both proxies at once, with a healthy gap after each:
 * - cut: every connection reset (RST on both sides); new connections pass at once;
 * - blackhole (hold): nothing forwarded, nothing closed; on heal the held bytes go through, in
 *   order (as TCP retransmission would after a firewall stops dropping);
 * - blackhole (drop): bytes read and discarded, nothing closed; after heal the byte stream has a
 *   gap (Noise fails on it and the connection closes).
 * Once sending ends, the receiver is given time to catch up. The receiver tracks every message
 * by sequence number: lost uncounted = sent - delivered (distinct) - what the sender counted,
 * `dropped` and `lost` (written to a stream that died before the receiver reported reading it;
 * it may count some that arrived, so the figure can go below 0); duplicates; out-of-order deliveries; the time from each fault's heal (a cut's own
 * instant) to the first delivery after it; and delivered messages/s while the faults ran.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { TcpProxy } from '../../test/fixtures/tcp-proxy.ts'
import type { ChannelSpec } from '../contenders/contender.ts'
import { startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { TrackResult } from '../protocol.ts'
import { between } from '../random.ts'
import { mulberry32 } from '../../src/testing/random.ts'
import type { Scenario } from '../scenario.ts'
import { percentileOfSorted } from '../stats.ts'
import { newTrialId } from '../trial.ts'
import { stopWorkers } from '../workers.ts'

const SEED = 8
const SIZE = 256
const RELIABLE: ChannelSpec = { name: 'chaos-reliable', priority: 4, reliable: true }
const UNRELIABLE: ChannelSpec = { name: 'chaos-unreliable', priority: 4 }
const CHANNELS = [
  { spec: RELIABLE, label: 'reliable channel' },
  { spec: UNRELIABLE, label: 'unreliable channel' }
] as const
/** Healthy sending before the first fault and after the last heal, ms. */
const LEAD_MS = 1000
const TAIL_MS = 1000
/** After sending ends: how long the receiver may take to catch up, at most. */
const DRAIN_MS = 15_000

type FaultKind = 'cut' | 'blackhole (hold)' | 'blackhole (drop)'
interface Fault { kind: FaultKind, durationMs: number, gapMs: number }
interface Applied extends Fault { at: number, healedAt: number }

function schedule (n: number, random: () => number, blackholeMs: [number, number], gapMs: [number, number]): Fault[] {
  return Array.from({ length: n }, () => {
    const r = random()
    const kind: FaultKind = r < 0.4 ? 'cut' : r < 0.8 ? 'blackhole (hold)' : 'blackhole (drop)'
    return { kind, durationMs: kind === 'cut' ? 0 : between(random, blackholeMs), gapMs: between(random, gapMs) }
  })
}

function portOf (addr: string): number {
  const m = /\/tcp\/(\d+)\//.exec(addr)
  if (m === null) throw new Error(`no TCP port in ${addr}`)
  return Number(m[1])
}

function peerIdOf (addr: string): string {
  const at = addr.lastIndexOf('/p2p/')
  if (at < 0) throw new Error(`no peer id in ${addr}`)
  return addr.slice(at + 5)
}

/** Index of the first arrival at or after `t` (arrivals ascending), or -1. */
function firstAtOrAfter (arrivals: Float64Array, t: number): number {
  let lo = 0
  let hi = arrivals.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (arrivals[mid] < t) lo = mid + 1
    else hi = mid
  }
  return lo < arrivals.length ? lo : -1
}

export const chaos: Scenario = {
  name: 'chaos',
  title: 'Chaos: reliable vs unreliable channel over TCP through a proxy that cuts and blackholes',
  steps: p => 2 + p.chaos.repeats,
  async run ({ profile, results, progress }) {
    const cfg = profile.chaos
    let cluster: Cluster | undefined
    const proxies: TcpProxy[] = []
    try {
      progress.step('chaos: starting 2 nodes and 2 proxies')
      cluster = await startCluster('consensus-net', 2, {
        channels: [RELIABLE, UNRELIABLE],
        options: { deadLinkTimeout: cfg.deadLinkTimeout }
      })
      const [sender, receiver] = cluster.workers
      const [a0, a1] = cluster.addrs
      const toReceiver = await TcpProxy.start(portOf(a1))
      proxies.push(toReceiver)
      const toSender = await TcpProxy.start(portOf(a0))
      proxies.push(toSender)
      const [n0, n1] = cluster.ids
      await Promise.all([
        sender.call('connect', { peers: [{ [n0]: a0, [n1]: toReceiver.multiaddr(peerIdOf(a1)) }], timeoutMs: 30_000 }, 35_000),
        receiver.call('connect', { peers: [{ [n0]: toSender.multiaddr(peerIdOf(a0)), [n1]: a1 }], timeoutMs: 30_000 }, 35_000)
      ])
      progress.tick()

      for (let round = 0; round < cfg.repeats; round++) {
        const seed = SEED + round
        const faults = schedule(cfg.faults, mulberry32(seed), cfg.blackholeMs, cfg.gapMs)
        const faultMs = faults.reduce((n, f) => n + f.durationMs + f.gapMs, 0)
        const durationMs = LEAD_MS + faultMs + TAIL_MS
        progress.step(`chaos: ${faults.length} faults over ${(durationMs / 1000).toFixed(0)} s, round ${round + 1}/${cfg.repeats} (seed ${seed})`)
        const count = Math.round(cfg.rate * durationMs / 1000)
        const trials = CHANNELS.map(() => newTrialId())
        await receiver.call('track-start', { trials, maxSeq: count, maxArrivals: 2 * count }, 10_000)
        const statsBefore = await Promise.all([sender.call('stats', {}, 10_000), receiver.call('stats', {}, 10_000)])
        const sendCalls = CHANNELS.map((c, i) => sender.call('send', {
          job: { trial: trials[i], to: [n1], count, size: SIZE, rate: cfg.rate, deadline: wallNow() + durationMs + 5000, pace: 'none', channel: c.spec.name }
        }, durationMs + 65_000))
        for (const c of sendCalls) c.catch(() => {}) // awaited below, after the faults
        const sendStart = wallNow()

        await sleep(LEAD_MS)
        const applied: Applied[] = []
        for (const f of faults) {
          const at = wallNow()
          if (f.kind === 'cut') {
            for (const p of proxies) p.cut()
            applied.push({ ...f, at, healedAt: at })
          } else {
            const mode = f.kind === 'blackhole (hold)' ? 'hold' : 'drop'
            for (const p of proxies) p.blackhole('both', mode)
            await sleep(f.durationMs)
            for (const p of proxies) p.heal('both')
            applied.push({ ...f, at, healedAt: wallNow() })
          }
          await sleep(f.gapMs)
        }
        const faultsEnd = applied[applied.length - 1].healedAt
        const sends = await Promise.all(sendCalls)
        const sendEnd = wallNow()
        const sent = sends.map(s => s.results[0].sent)
        const dropped = sends.map(s => s.results[0].counters.dropped ?? 0)

        // catch up: until every reliable message not counted dropped arrived and the unreliable
        // count stopped moving, or DRAIN_MS
        const drainUntil = wallNow() + DRAIN_MS
        let last = -1
        let stillSince = wallNow()
        while (wallNow() < drainUntil) {
          const { unique } = await receiver.call('track-count', {}, 10_000)
          const reliableDone = (unique[trials[0]] ?? 0) + dropped[0] >= sent[0]
          const u = unique[trials[1]] ?? 0
          if (u !== last) { last = u; stillSince = wallNow() }
          if (reliableDone && wallNow() - stillSince >= 1000) break
          await sleep(100)
        }
        const tracked = (await receiver.call('track-stop', {}, 10_000)).trials
        const statsAfter = await Promise.all([sender.call('stats', {}, 10_000), receiver.call('stats', {}, 10_000)])

        for (const [i, c] of CHANNELS.entries()) {
          const t = tracked.find(x => x.trial === trials[i]) as TrackResult
          const params = {}
          const sender0 = (statsBefore[0].nodes[0].channels as Record<string, { members: Record<string, Record<string, number>> }>)[c.spec.name].members[n1]
          const sender1 = (statsAfter[0].nodes[0].channels as Record<string, { members: Record<string, Record<string, number>> }>)[c.spec.name].members[n1]
          const counted = (sender1.lost ?? 0) - (sender0.lost ?? 0)
          const lost = sent[i] - t.unique - dropped[i] - counted
          results.add('chaos', c.label, 'faults', 'faults', params, applied.length)
          results.add('chaos', c.label, 'sent', 'msg', params, sent[i])
          results.add('chaos', c.label, 'delivered', 'msg', params, t.unique)
          results.add('chaos', c.label, 'dropped (counted)', 'msg', params, dropped[i])
          results.add('chaos', c.label, 'lost (counted)', 'msg', params, counted)
          results.add('chaos', c.label, 'lost uncounted', 'msg', params, lost)
          results.add('chaos', c.label, 'duplicates', 'msg', params, t.duplicates)
          results.add('chaos', c.label, 'out of order', 'msg', params, t.reordered)
          // delivered msgs/s from the first fault to the last heal, against the offered rate
          const inFaults = firstAtOrAfter(t.arrivals, faultsEnd) - firstAtOrAfter(t.arrivals, applied[0].at)
          const faultWindow = faultsEnd - applied[0].at
          results.add('chaos', c.label, 'msgs/s during faults', 'msg/s', params, inFaults / faultWindow * 1000)
          results.add('chaos', c.label, 'msgs/s offered', 'msg/s', params, sent[i] / (sendEnd - sendStart) * 1000)
          const recv0 = (statsBefore[1].nodes[0].channels as Record<string, { members: Record<string, Record<string, number>> }>)[c.spec.name].members[n0]
          const recv1 = (statsAfter[1].nodes[0].channels as Record<string, { members: Record<string, Record<string, number>> }>)[c.spec.name].members[n0]
          if (c.spec.reliable === true) {
            results.add('chaos', c.label, 'retransmitted (sender)', 'msg', params, sender1.retransmitted - sender0.retransmitted)
            results.add('chaos', c.label, 'duplicates suppressed (receiver)', 'msg', params, recv1.duplicatesSuppressed - recv0.duplicatesSuppressed)
          }
          // heal (a cut's own instant) to the first delivery after it, per fault
          const delays = new Map<string, number[]>([['all faults', []]])
          let unrecovered = 0
          for (const f of applied) {
            const k = firstAtOrAfter(t.arrivals, f.healedAt)
            if (k < 0) { unrecovered++; continue }
            const d = t.arrivals[k] - f.healedAt
            delays.get('all faults')!.push(d)
            if (!delays.has(f.kind)) delays.set(f.kind, [])
            delays.get(f.kind)!.push(d)
          }
          for (const [kind, ds] of delays) {
            const sorted = Float64Array.from(ds).sort()
            const p = { faults: `${kind} (${ds.length})` }
            results.add('chaos', c.label, 'heal to first delivery p50', 'ms', p, percentileOfSorted(sorted, 50))
            results.add('chaos', c.label, 'heal to first delivery p99', 'ms', p, percentileOfSorted(sorted, 99))
          }
          if (unrecovered > 0) results.notes.push(`chaos ${c.label}, round ${round + 1}: no delivery after ${unrecovered} heal(s)`)
          if (lost !== 0 || t.duplicates > 0 || t.outOfRange > 0) {
            results.notes.push(`chaos ${c.label}, round ${round + 1} (seed ${seed}): sent ${sent[i]}, delivered ${t.unique}, dropped ${dropped[i]}, lost (counted) ${counted}, lost uncounted ${lost}, duplicates ${t.duplicates}, out of order ${t.reordered}${t.outOfRange > 0 ? `, ${t.outOfRange} out of range` : ''}`)
          }
        }
        const reconnects = (s: Record<string, unknown>, m: string): number => ((s.members as Record<string, { reconnects: number }>)[m]?.reconnects ?? 0)
        results.add('chaos', 'sender node', 'reconnects to the receiver', 'n', {}, reconnects(statsAfter[0].nodes[0], n1) - reconnects(statsBefore[0].nodes[0], n1))
        results.notes.push(`chaos round ${round + 1} (seed ${seed}): ${applied.filter(f => f.kind === 'cut').length} cuts, ${applied.filter(f => f.kind === 'blackhole (hold)').length} holding and ${applied.filter(f => f.kind === 'blackhole (drop)').length} dropping blackholes (${cfg.blackholeMs.join('-')} ms), ${cfg.rate}/s per channel, deadLinkTimeout ${cfg.deadLinkTimeout} ms; proxies reset ${proxies.reduce((n, p) => n + p.cuts, 0)} connections so far`)
        progress.tick()
      }
      const faults = results.median('chaos', 'reliable channel', 'faults', {}) ?? 0
      results.target(`chaos: 0 lost uncounted on the reliable channel over ${faults} faults`,
        results.figures().filter(f => f.scenario === 'chaos' && f.contender === 'reliable channel' && f.metric === 'lost uncounted').reduce((n, f) => n + f.values.reduce((a, b) => a + Math.abs(b), 0), 0),
        'max', 0, 'sum over rounds of |sent - delivered - counted dropped and lost| on the reliable channel', 'msg')
      results.target(`chaos: 0 duplicates on the reliable channel over ${faults} faults`,
        results.figures().filter(f => f.scenario === 'chaos' && f.contender === 'reliable channel' && f.metric === 'duplicates').reduce((n, f) => n + f.values.reduce((a, b) => a + b, 0), 0),
        'max', 0, 'sum over rounds of messages delivered twice on the reliable channel', 'msg')
    } finally {
      progress.step('chaos: stopping')
      await Promise.allSettled(proxies.map(async p => { await p.stop() }))
      if (cluster !== undefined) await stopWorkers(cluster.workers)
      progress.tick()
    }
  }
}
