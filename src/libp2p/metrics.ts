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
import type { ChannelMemberStats, ChannelStats, RequestStats } from '../channels/types.ts'
import type { ConsensusNetStats, MemberStats } from '../types.ts'
import { setOwn } from '../validate.ts'
import type { Metrics } from '@libp2p/interface'

/** What the figures are read from: the service (`stats()` throws once it is stopped). */
export interface MetricsSource {
  isStarted: () => boolean
  stats: () => ConsensusNetStats
  channels: () => Array<{ readonly name: string, stats: () => ChannelStats }>
}

/** One scrape's reading: the node's stats and each channel's. */
interface Snapshot {
  net: ConsensusNetStats
  channels: Map<string, ChannelStats>
}

type Read = (s: Snapshot) => Record<string, number>

/** Request round trips, in seconds, for `consensus_net_request_duration_seconds`. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Registers every figure; returns the observer of request durations (channel, ms) that the
 * request path calls on each success: the only figure not read from `stats()`.
 */
export function registerMetrics (metrics: Metrics, source: MetricsSource, protocol: string): (channel: string, ms: number) => void {
  // one reading per scrape, shared by every group (and so consistent across them): reused until
  // the next turn of the event loop
  let cached: Snapshot | undefined
  const snapshot = (): Snapshot | undefined => {
    if (!source.isStarted()) return undefined
    if (cached === undefined) {
      cached = { net: source.stats(), channels: new Map(source.channels().map(c => [c.name, c.stats()])) }
      setImmediate(() => { cached = undefined })
    }
    return cached
  }
  const gauge = (name: string, label: string, help: string, read: Read): void => {
    metrics.registerMetricGroup(name, { label, help, calculate: gaugeValues(snapshot, read) })
  }
  const counter = (name: string, label: string, help: string, read: Read): void => {
    metrics.registerCounterGroup(name, { label, help, calculate: counterIncrements(snapshot, read) })
  }

  // per member of the membership, this node included
  const perMember = (figure: (m: MemberStats) => number): Read => s => {
    const out: Record<string, number> = {}
    for (const [node, m] of Object.entries(s.net.members)) setOwn(out, node, figure(m))
    return out
  }
  gauge('consensus_net_member_connected', 'member', '1 while an outgoing stream to the member is open', perMember(m => m.connected ? 1 : 0))
  gauge('consensus_net_member_queued', 'member', 'Messages waiting in the member\'s send queue', perMember(m => m.queued))
  counter('consensus_net_member_sent_total', 'member', 'Messages handed to the member\'s stream', perMember(m => m.sent))
  counter('consensus_net_member_dropped_total', 'member', 'Messages dropped from the member\'s send queue: full, or refused by a closing stream', perMember(m => m.dropped))
  counter('consensus_net_member_lost_total', 'member', 'Messages written to the member\'s stream that died before the member reported reading them (may include some that arrived)', perMember(m => m.lost))
  counter('consensus_net_member_reconnects_total', 'member', 'Outgoing streams to the member re-opened after one was lost', perMember(m => m.reconnects))
  counter('consensus_net_member_received_total', 'member', 'Messages delivered from the member', perMember(m => m.received))

  // node-wide figures, labelled with the service's protocol ID as libp2p labels its per-protocol ones
  const whole = (figure: (s: ConsensusNetStats) => number): Read => s => ({ [protocol]: figure(s.net) })
  gauge('consensus_net_tentative_receivers', 'protocol', 'Peers that are not members held', whole(s => s.tentative.receivers))
  gauge('consensus_net_tentative_buffered', 'protocol', 'Messages held from peers that are not members', whole(s => s.tentative.buffered))
  counter('consensus_net_tentative_dropped_total', 'protocol', 'Held messages discarded: full buffer, eviction, or a handler that removed the peer', whole(s => s.tentative.dropped))
  counter('consensus_net_tentative_evicted_total', 'protocol', 'Held peers evicted because too many were held', whole(s => s.tentative.evicted))
  counter('consensus_net_tentative_promoted_total', 'protocol', 'Held peers promoted to members', whole(s => s.tentative.promoted))
  counter('consensus_net_invalid_frames_total', 'protocol', 'Inbound streams reset for breaking the wire format', whole(s => s.invalidFrames))
  counter('consensus_net_unknown_channel_total', 'protocol', 'Frames for a channel this node has not opened', whole(s => s.unknownChannel))
  gauge('consensus_net_blocked_peers', 'protocol', 'Peers blocked now', whole(s => s.blocked))
  counter('consensus_net_refused_connections_total', 'protocol', 'Connections and streams refused or closed because their peer is blocked', whole(s => s.refusedConnections))
  counter('consensus_net_late_replies_total', 'protocol', 'Answers dropped: their request had timed out, been aborted or failed', whole(s => s.lateReplies))

  // per channel (label: its name), summed over the members
  const perChannel = (figure: (c: ChannelStats) => number): Read => s => {
    const out: Record<string, number> = {}
    for (const [name, c] of s.channels) out[name] = figure(c)
    return out
  }
  const members = (field: keyof ChannelMemberStats) => (c: ChannelStats): number => {
    let n = 0
    for (const m of Object.values(c.members)) n += m[field]
    return n
  }
  const requests = (field: keyof RequestStats) => (c: ChannelStats): number => c.requests[field]
  gauge('consensus_net_channel_queued', 'channel', 'Messages waiting in the channel\'s lanes', perChannel(members('queued')))
  gauge('consensus_net_channel_unacked', 'channel', 'Reliable messages written and not yet acknowledged', perChannel(members('unacked')))
  for (const [field, help] of [
    ['sent', 'Messages handed to the members\' streams'],
    ['dropped', 'Messages dropped from the channel\'s lanes'],
    ['lost', 'Messages written to a stream that died before the member reported reading them (may include some that arrived)'],
    ['superseded', 'Queued messages replaced by a newer one with the same key'],
    ['expired', 'Queued messages not written: their deadline passed'],
    ['received', 'Messages delivered from members'],
    ['retransmitted', 'Reliable messages written again after a reconnect'],
    ['duplicatesSuppressed', 'Reliable messages that arrived again and were not delivered twice'],
    ['rateLimited', 'Messages and requests from members over the channel\'s rateLimit']
  ] as const) counter(`consensus_net_channel_${snake(field)}_total`, 'channel', help, perChannel(members(field)))
  for (const [field, help] of [
    ['sent', 'Requests written'],
    ['succeeded', 'Requests answered'],
    ['failed', 'Requests that failed, timeouts aside'],
    ['timedOut', 'Requests that timed out'],
    ['aborted', 'Requests given up by the caller'],
    ['served', 'Requests from members answered by the handler'],
    ['rejectedBusy', 'Requests from members answered busy']
  ] as const) counter(`consensus_net_requests_${snake(field)}_total`, 'channel', help, perChannel(requests(field)))
  const durations = metrics.registerHistogramGroup('consensus_net_request_duration_seconds', {
    label: 'channel',
    help: 'Time from a request to its answer (a stream: to its end), for requests that succeeded',
    buckets: REQUEST_BUCKETS
  })
  return (channel, ms) => { durations.observe({ [channel]: ms / 1000 }) }
}

/**
 * The values read now; a key read at the previous scrape but gone now (a member that left, or
 * everything once stopped) reads 0 once, so its gauge does not keep its last value.
 */
function gaugeValues (snapshot: () => Snapshot | undefined, read: Read): () => Record<string, number> {
  let previous: string[] = []
  return () => {
    const s = snapshot()
    const now = s == null ? {} : read(s)
    const out = { ...now }
    for (const key of previous) if (!Object.hasOwn(now, key)) setOwn(out, key, 0)
    previous = Object.keys(now)
    return out
  }
}

/**
 * What each counter gained since the previous scrape. A counter read lower than before (its
 * member left and came back, so its stats restarted from 0) gained its whole value.
 */
function counterIncrements (snapshot: () => Snapshot | undefined, read: Read): () => Record<string, number> {
  let previous = new Map<string, number>()
  return () => {
    const s = snapshot()
    const now = s == null ? {} : read(s)
    const out: Record<string, number> = {}
    const next = new Map<string, number>()
    for (const [key, value] of Object.entries(now)) {
      const before = previous.get(key) ?? 0
      setOwn(out, key, value >= before ? value - before : value)
      next.set(key, value)
    }
    previous = next
    return out
  }
}

function snake (name: string): string {
  return name.replace(/[A-Z]/g, c => '_' + c.toLowerCase())
}
