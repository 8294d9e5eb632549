/**
 * What both test networks (the simulation, testing/sim/, and the libp2p one, testing/libp2p/)
 * mean by a link: its shape, its stats, the calls that change it and what a trace reports. The
 * two implement the same fault semantics (docs/testing.md, "Fault semantics").
 */

/** How one direction of a link treats bytes. Fields left out keep their current value. */
export interface LinkShape {
  /** Added to every delivery, ms. Default 0. */
  latency?: number
  /** Each chunk waits a further uniform [0, jitter) ms, from the network's seed. Default 0. */
  jitter?: number
  /** Bytes per second through this direction, shared by all connections. Default Infinity. */
  bandwidth?: number
}

/** A chunk scheduled on a link direction: what `trace` reports. */
export interface TraceEvent {
  from: string
  to: string
  bytes: number
  /** The jitter drawn for this chunk, ms. */
  jitter: number
  /** From now until delivery, ms (latency, jitter, queueing behind bandwidth and earlier chunks). */
  delay: number
}

export interface LinkStats {
  /** Delivered to the receiving node since the network started. */
  delivered: number
  /** Sent and scheduled, not yet delivered. */
  inFlight: number
  /** Sent while the direction is blackholed, held until heal. */
  held: number
  /** Connections open between the two nodes (in either direction of dialing). */
  connections: number
}

/** The link between two nodes: its shape per direction and what is on it. */
export interface Link {
  readonly a: string
  readonly b: string
  /**
   * Changes the shape of both directions, or only of what `from` sends. Chunks already scheduled
   * keep their delivery time; later ones follow the new shape (and still never overtake them).
   */
  set: (shape: LinkShape, from?: string) => Link
  /** The current shape of what `from` sends. */
  shape: (from: string) => Required<LinkShape>
  /** Bytes of what `from` sends on this link. */
  stats: (from: string) => LinkStats
}

export function validShape (current: Required<LinkShape>, shape: LinkShape): Required<LinkShape> {
  const next = {
    latency: shape.latency ?? current.latency,
    jitter: shape.jitter ?? current.jitter,
    bandwidth: shape.bandwidth ?? current.bandwidth
  }
  if (!(Number.isFinite(next.latency) && next.latency >= 0)) throw new RangeError(`latency must be a finite number of ms >= 0, got ${next.latency}`)
  if (!(Number.isFinite(next.jitter) && next.jitter >= 0)) throw new RangeError(`jitter must be a finite number of ms >= 0, got ${next.jitter}`)
  if (!(next.bandwidth > 0)) throw new RangeError(`bandwidth must be > 0 bytes/s (Infinity: unbounded), got ${next.bandwidth}`)
  return next
}

/** The unordered pair `a`, `b` as one key (the same either way round). */
export function pairKey (a: string, b: string): string {
  return a < b ? `${a}>${b}` : `${b}>${a}`
}

/**
 * The pairs of nodes in different groups of a partition, each checked by `check` (which throws
 * for an unknown node); a node in two groups is a RangeError.
 */
export function pairsAcross (groups: string[][], check: (node: string) => void): Array<[string, string]> {
  const seen = new Set<string>()
  for (const group of groups) {
    for (const node of group) {
      check(node)
      if (seen.has(node)) throw new RangeError(`${node} is in more than one group`)
      seen.add(node)
    }
  }
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) {
      for (const a of groups[i]) for (const b of groups[j]) pairs.push([a, b])
    }
  }
  return pairs
}

/** What waits for the network to change (a dial across a blackhole waits for a heal): `next` waits, `changed` wakes every waiter. */
export class Changes {
  #waiters = new Set<() => void>()

  changed (): void {
    const waiters = this.#waiters
    this.#waiters = new Set()
    for (const wake of waiters) wake()
  }

  /** Resolves at the next change; rejects with the signal's reason once it aborts. */
  async next (signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(wake)
        reject(signal.reason)
      }
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      this.#waiters.add(wake)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}

/** What the connections of one link direction hold: in flight, and held by a blackhole. */
export function pipeTotals (pipes: Iterable<{ readonly inFlight: number, readonly held: number }>): { inFlight: number, held: number } {
  let inFlight = 0
  let held = 0
  for (const pipe of pipes) {
    inFlight += pipe.inFlight
    held += pipe.held
  }
  return { inFlight, held }
}
