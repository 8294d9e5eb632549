/**
 * Members ranked by response time: a moving average per member orders them, failures counting as
 * a full timeout, members not connected last (a request to one would wait in its queue for a
 * reconnect); the p90 of a member's recent times is how long it gets before a second member is
 * asked in parallel (hedged). Members only are kept: what callers pass cannot grow it.
 */
import { MAX_TIMER_MS, setOwn } from '../validate.ts'
import type { NodeId } from '../types.ts'

export interface ResolverPeerStats {
  /** Attempts made to this member. */
  requests: number
  found: number
  missing: number
  /** Values that failed `validate`. */
  invalid: number
  /** Timeouts, errors, busy, lost connections. */
  failures: number
  /** The moving average that orders members, ms. */
  latency: number
}

/** One member's record: its stats and its recent response times. */
export interface RankedPeer extends ResolverPeerStats {
  readonly samples: number[]
}

/** Weight of a new sample in a member's moving average. */
const EWMA_WEIGHT = 0.2
/** Response times kept per member for its p90. */
const SAMPLES = 32

export class Ranking {
  readonly #peers = new Map<NodeId, RankedPeer>()
  readonly #hedge: number | false | undefined
  readonly #timeout: number

  /** `hedge`: the resolver's option (a fixed delay, false for never, undefined for the p90); `timeout`: ms per attempt. */
  constructor (hedge: number | false | undefined, timeout: number) {
    this.#hedge = hedge
    this.#timeout = timeout
  }

  /** Connected members first, then by their moving average of response time, fastest first (a member never asked: 0). */
  order (nodes: NodeId[], members: Record<NodeId, { connected: boolean }>): NodeId[] {
    return nodes.map((n, i) => ({ n, i, down: members[n]?.connected === false ? 1 : 0, l: this.#peers.get(n)?.latency ?? 0 }))
      .sort((a, b) => a.down - b.down || a.l - b.l || a.i - b.i).map(x => x.n)
  }

  /** ms before a member is asked beside `peer`, or undefined for never. */
  hedgeDelay (peer: RankedPeer): number | undefined {
    const hedge = this.#hedge
    if (hedge === false) return undefined
    if (hedge !== undefined) return hedge
    if (peer.samples.length === 0) return this.#timeout / 4
    const sorted = [...peer.samples].sort((a, b) => a - b)
    // an outrun member's sample, twice what it took, may exceed what a timer can wait
    return Math.min(MAX_TIMER_MS, sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))])
  }

  /** `node`'s record, created for a member of `members` (the records of nodes that left go first). */
  peer (node: NodeId, members: ReadonlySet<NodeId>): RankedPeer {
    let p = this.#peers.get(node)
    if (p === undefined) {
      this.prune(members)
      this.#peers.set(node, p = { requests: 0, found: 0, missing: 0, invalid: 0, failures: 0, latency: 0, samples: [] })
    }
    return p
  }

  /** latency = (1 - w) * latency + w * sample; the first sample sets it. */
  sample (peer: RankedPeer, ms: number): void {
    peer.latency = peer.samples.length === 0 ? ms : (1 - EWMA_WEIGHT) * peer.latency + EWMA_WEIGHT * ms
    peer.samples.push(ms)
    if (peer.samples.length > SAMPLES) peer.samples.shift()
  }

  /** A failed attempt: it counts as a full timeout. */
  sampleFailure (peer: RankedPeer): void {
    this.sample(peer, this.#timeout)
  }

  /** Forgets the records of nodes that are no longer members, so that they are bounded by the membership. */
  prune (members: ReadonlySet<NodeId>): void {
    for (const node of this.#peers.keys()) if (!members.has(node)) this.#peers.delete(node)
  }

  /** The members' stats, a copy. */
  stats (): Record<NodeId, ResolverPeerStats> {
    const peers: Record<NodeId, ResolverPeerStats> = {}
    for (const [node, p] of this.#peers) {
      setOwn(peers, node, { requests: p.requests, found: p.found, missing: p.missing, invalid: p.invalid, failures: p.failures, latency: p.latency })
    }
    return peers
  }
}
