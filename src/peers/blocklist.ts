/**
 * The peers this node refuses, by peer ID: blocked by the engine (`net.block`), for a while or
 * until unblocked, or automatically, for `blockDuration`, a peer that is not a member and whose
 * streams were reset for breaking the wire format VIOLATIONS times within VIOLATION_WINDOW_MS.
 * What a block does to connections, streams and queues is the network's business (it is told
 * through `onChange`); this file only keeps who is blocked until when, and counts violations.
 *
 * Bounded whatever peers do: violations are kept for at most MAX_OFFENDERS peers (the oldest
 * forgotten first), and automatic blocks for at most MAX_AUTO_BLOCKS peers (the oldest lifted
 * first). Blocks the engine makes are its own to bound.
 */
import type { BlockedPeer, BlockReason, NodeId } from '../types.ts'
import { background, type Clock, type Timer } from '../clock.ts'

/** Resets for violations that block a non-member... */
export const VIOLATIONS = 3
/** ...within this many ms. */
export const VIOLATION_WINDOW_MS = 60_000
/** Peers whose recent violations are remembered. */
export const MAX_OFFENDERS = 1024
/** Peers blocked automatically at once. */
export const MAX_AUTO_BLOCKS = 4096

export type { BlockedPeer, BlockReason }

interface Entry {
  readonly until: number | undefined
  readonly reason: BlockReason
  readonly timer: Timer | undefined
}

export interface BlocklistEvents {
  /** `peer` is blocked now (again, perhaps, with a new end). */
  blocked: (peer: string, until: number | undefined, reason: BlockReason) => void
  /** `peer`'s block ended: by `unblock`, or because its time ran out. */
  unblocked: (peer: string) => void
}

export class Blocklist {
  readonly #entries = new Map<string, Entry>()
  /** Recent violations by peer, oldest peer first. */
  readonly #violations = new Map<string, number[]>()
  #auto = 0
  readonly #events: BlocklistEvents
  readonly #clock: Clock

  constructor (events: BlocklistEvents, clock: Clock) {
    this.#events = events
    this.#clock = clock
  }

  has (peer: string): boolean {
    return this.#entries.has(peer)
  }

  get size (): number {
    return this.#entries.size
  }

  /** Blocks `peer` for `duration` ms (undefined: until `unblock`), replacing any block it had. */
  block (peer: string, duration: number | undefined, reason: BlockReason): void {
    this.#forget(peer)
    if (reason === 'violations') {
      if (this.#auto >= MAX_AUTO_BLOCKS) this.#liftOldestAuto()
      this.#auto++
    }
    const until = duration === undefined ? undefined : this.#clock.now() + duration
    const timer = duration === undefined ? undefined : background(this.#clock.setTimeout(() => { this.unblock(peer) }, duration))
    this.#entries.set(peer, { until, reason, timer })
    this.#violations.delete(peer)
    this.#events.blocked(peer, until, reason)
  }

  /** Ends `peer`'s block; false if it had none. */
  unblock (peer: string): boolean {
    if (!this.#forget(peer)) return false
    this.#events.unblocked(peer)
    return true
  }

  /**
   * Records that a stream of `peer` was reset for breaking the wire format; true when that makes
   * VIOLATIONS within VIOLATION_WINDOW_MS (the caller decides whether to block: members never are).
   */
  violation (peer: string, now = this.#clock.now()): boolean {
    const times = (this.#violations.get(peer) ?? []).filter(t => now - t < VIOLATION_WINDOW_MS)
    times.push(now)
    this.#violations.delete(peer) // re-inserted last: the map's first entry is the one heard of longest ago
    if (times.length >= VIOLATIONS) return true
    this.#violations.set(peer, times)
    if (this.#violations.size > MAX_OFFENDERS) this.#violations.delete(this.#violations.keys().next().value!)
    return false
  }

  list (nodeOf: (peer: string) => NodeId | undefined): BlockedPeer[] {
    return [...this.#entries].map(([peer, e]) => blockedPeer(peer, e, nodeOf(peer)))
  }

  /** Forgets everything, silently (the network stops). */
  clear (): void {
    for (const e of this.#entries.values()) this.#clock.clearTimeout(e.timer)
    this.#entries.clear()
    this.#violations.clear()
    this.#auto = 0
  }

  #forget (peer: string): boolean {
    const e = this.#entries.get(peer)
    if (e === undefined) return false
    this.#clock.clearTimeout(e.timer)
    this.#entries.delete(peer)
    if (e.reason === 'violations') this.#auto--
    return true
  }

  #liftOldestAuto (): void {
    for (const [peer, e] of this.#entries) {
      if (e.reason === 'violations') {
        this.unblock(peer)
        return
      }
    }
  }
}

export function blockedPeer (peer: string, e: { until: number | undefined, reason: BlockReason }, node: NodeId | undefined): BlockedPeer {
  const out: BlockedPeer = { peer, reason: e.reason }
  if (node !== undefined) out.node = node
  if (e.until !== undefined) out.until = e.until
  return out
}
