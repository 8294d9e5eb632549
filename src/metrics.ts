/**
 * The service's figures, registered with libp2p's `Metrics` component when the node has one
 * (e.g. @libp2p/prometheus-metrics). Every figure is calculated on scrape from the public
 * `stats()`, so sending and receiving pay nothing for metrics.
 *
 * Names follow js-libp2p's own (`libp2p_connection_manager_dials_total{...}`): snake_case, a
 * `consensus_net_` prefix, `_total` on counters, and one label per group (the Metrics interface
 * takes one): `member` for per-member figures, `protocol` for node-wide ones. Gauges are metric groups, set to the value read.
 * Counters are counter groups whose `calculate` returns what was added since the previous
 * scrape: both js-libp2p implementations (prometheus, opentelemetry) add that to the counter.
 *
 * A new family of figures (per channel, say) is one more block in `registerMetrics` reading its
 * part of the stats with `gauge` / `counter` and its own label.
 */
import type { ConsensusNetStats, MemberStats } from './consensus-net.ts'
import type { Metrics } from '@libp2p/interface'

/** What the figures are read from: the service (`stats()` throws once it is stopped). */
export interface MetricsSource {
  isStarted: () => boolean
  stats: () => ConsensusNetStats
}

type Read = (stats: ConsensusNetStats) => Record<string, number>

export function registerMetrics (metrics: Metrics, source: MetricsSource, protocol: string): void {
  const snapshot = (): ConsensusNetStats | undefined => source.isStarted() ? source.stats() : undefined
  const gauge = (name: string, label: string, help: string, read: Read): void => {
    metrics.registerMetricGroup(name, { label, help, calculate: gaugeValues(snapshot, read) })
  }
  const counter = (name: string, label: string, help: string, read: Read): void => {
    metrics.registerCounterGroup(name, { label, help, calculate: counterIncrements(snapshot, read) })
  }

  // per member of the membership, this node included
  const perMember = (figure: (m: MemberStats) => number): Read => s => {
    const out: Record<string, number> = {}
    for (const [node, m] of Object.entries(s.members)) out[node] = figure(m)
    return out
  }
  gauge('consensus_net_member_connected', 'member', '1 while an outgoing stream to the member is open', perMember(m => m.connected ? 1 : 0))
  gauge('consensus_net_member_queued', 'member', 'Messages waiting in the member\'s send queue', perMember(m => m.queued))
  counter('consensus_net_member_sent_total', 'member', 'Messages handed to the member\'s stream', perMember(m => m.sent))
  counter('consensus_net_member_dropped_total', 'member', 'Messages dropped from the member\'s send queue: full, or refused by a closing stream', perMember(m => m.dropped))
  counter('consensus_net_member_reconnects_total', 'member', 'Outgoing streams to the member re-opened after one was lost', perMember(m => m.reconnects))
  counter('consensus_net_member_received_total', 'member', 'Messages delivered from the member', perMember(m => m.received))

  // node-wide figures, labelled with the service's protocol ID as libp2p labels its per-protocol ones
  const whole = (figure: (s: ConsensusNetStats) => number): Read => s => ({ [protocol]: figure(s) })
  gauge('consensus_net_tentative_receivers', 'protocol', 'Peers that are not members held', whole(s => s.tentative.receivers))
  gauge('consensus_net_tentative_buffered', 'protocol', 'Messages held from peers that are not members', whole(s => s.tentative.buffered))
  counter('consensus_net_tentative_dropped_total', 'protocol', 'Held messages discarded: full buffer, eviction, or a handler that removed the peer', whole(s => s.tentative.dropped))
  counter('consensus_net_tentative_evicted_total', 'protocol', 'Held peers evicted because too many were held', whole(s => s.tentative.evicted))
  counter('consensus_net_tentative_promoted_total', 'protocol', 'Held peers promoted to members', whole(s => s.tentative.promoted))
  counter('consensus_net_invalid_frames_total', 'protocol', 'Inbound streams reset for breaking the wire format', whole(s => s.invalidFrames))
}

/**
 * The values read now; a key read at the previous scrape but gone now (a member that left, or
 * everything once stopped) reads 0 once, so its gauge does not keep its last value.
 */
function gaugeValues (snapshot: () => ConsensusNetStats | undefined, read: Read): () => Record<string, number> {
  let previous: string[] = []
  return () => {
    const s = snapshot()
    const now = s == null ? {} : read(s)
    const out = { ...now }
    for (const key of previous) if (!(key in now)) out[key] = 0
    previous = Object.keys(now)
    return out
  }
}

/**
 * What each counter gained since the previous scrape. A counter read lower than before (its
 * member left and came back, so its stats restarted from 0) gained its whole value.
 */
function counterIncrements (snapshot: () => ConsensusNetStats | undefined, read: Read): () => Record<string, number> {
  let previous = new Map<string, number>()
  return () => {
    const s = snapshot()
    const now = s == null ? {} : read(s)
    const out: Record<string, number> = {}
    const next = new Map<string, number>()
    for (const [key, value] of Object.entries(now)) {
      const before = previous.get(key) ?? 0
      out[key] = value >= before ? value - before : value
      next.set(key, value)
    }
    previous = next
    return out
  }
}
