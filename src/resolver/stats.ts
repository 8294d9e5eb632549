/**
 * What a resolver counts: its fetches and how each was answered, and the requests it served.
 * The fetching side and the serving side add to one set of counters.
 */
import type { ResolverPeerStats } from './ranking.ts'
import type { NodeId } from '../types.ts'

export interface ResolverStats {
  fetches: number
  /** Fetches answered from the cache (a group's value included). */
  hits: number
  misses: number
  /** Fetches answered "missing" from the negative cache. */
  negativeHits: number
  /** Fetches that joined one already in flight. */
  deduped: number
  /** Requests sent to members (hedges included). */
  networkRequests: number
  /** Second members asked because the first was slow. */
  hedged: number
  notFound: number
  timedOut: number
  invalid: number
  busy: number
  /** Requests from members answered. */
  served: number
  /** Requests from members refused unanswered: no key, an unknown key type, or a key over `maxKeySize`. */
  rejected: number
  /** Calls of `produce`. */
  producerCalls: number
  /** Requests that joined a `produce` call in progress. */
  producerJoined: number
  /** `bytes`: values' byteLength plus keys' lengths (see CacheOptions.maxBytes). */
  cache: { entries: number, bytes: number }
  /** Members asked, while they are members. */
  peers: Record<NodeId, ResolverPeerStats>
}

/** The counts, without the cache's and the members' figures, which are read when stats are asked for. */
export type Counters = Omit<ResolverStats, 'cache' | 'peers'>

export function counters (): Counters {
  return {
    fetches: 0,
    hits: 0,
    misses: 0,
    negativeHits: 0,
    deduped: 0,
    networkRequests: 0,
    hedged: 0,
    notFound: 0,
    timedOut: 0,
    invalid: 0,
    busy: 0,
    served: 0,
    rejected: 0,
    producerCalls: 0,
    producerJoined: 0
  }
}
