/**
 * One member's outgoing queues: a Lane per channel (lane.ts), and the order in which a writer
 * serves them. A lower priority number goes first and order within a lane is FIFO, so priorities
 * never reorder one channel's messages. No lane starves: a lane that had messages while
 * `STARVATION_WRITES` writes in a row took nothing from it is served first in the next write (the
 * longest-waiting first), so under a saturating load of more urgent traffic it still gets at least
 * one write in `STARVATION_WRITES + 1`.
 *
 * Lanes of equal priority take turns: each write starts with the next one.
 *
 * Every member has two lanes from the start: the control lane, served first, and the default
 * channel's.
 */
import { EMPTY } from '../wire/frames.ts'
import { Lane, type LaneSpec } from './lane.ts'
import type { Discard } from './envelope.ts'

/** The lane of control frames (cancel, credit, errors for channels we do not have): served first, never starved of writes. */
export const CONTROL_CHANNEL = -1
/** The default channel: `net.send` / `'message'`, written as 1.0.0 message frames. */
export const DEFAULT_CHANNEL = 0

/** A channel's priority unless it says otherwise (0 is the most urgent, 7 the least); the default channel's. */
export const DEFAULT_PRIORITY = 4

/** The control lane: cancel, credit and errors, served before every channel. */
export const CONTROL_LANE: LaneSpec = {
  channel: CONTROL_CHANNEL,
  name: '',
  nameBytes: EMPTY,
  priority: -1,
  reliable: false,
  sendBufferSize: 4096,
  sendBufferBytes: 4096 * 1024
}

/** The default channel's lane, bounded by the node's `sendBufferSize` and `sendBufferBytes`. */
export function defaultLane (sendBufferSize: number, sendBufferBytes: number): LaneSpec {
  return { channel: DEFAULT_CHANNEL, name: '', nameBytes: EMPTY, priority: DEFAULT_PRIORITY, reliable: false, sendBufferSize, sendBufferBytes }
}

/** A lane passed over by this many writes in a row while it had messages goes first in the next. */
export const STARVATION_WRITES = 8

/** The lanes of one member, by channel number and in the order of priority. */
export class Lanes {
  /** By priority (the control lane first), then by creation. */
  readonly ordered: Lane[] = []
  readonly #byChannel = new Map<number, Lane>()

  get (channel: number): Lane | undefined {
    return this.#byChannel.get(channel)
  }

  /** The lane of `spec.channel`, created on first use. */
  open (spec: LaneSpec): Lane {
    let lane = this.#byChannel.get(spec.channel)
    if (lane === undefined) {
      lane = new Lane(spec)
      this.#byChannel.set(spec.channel, lane)
      let i = this.ordered.length
      while (i > 0 && this.ordered[i - 1].spec.priority > spec.priority) i--
      this.ordered.splice(i, 0, lane)
    }
    return lane
  }

  /** Messages queued in every lane but the control lane. */
  get queued (): number {
    let n = 0
    for (const lane of this.ordered) if (lane.spec.channel !== CONTROL_CHANNEL) n += lane.queued
    return n
  }

  /** A new stream: reliable lanes write their unacknowledged messages again first. */
  rewind (): void {
    for (const lane of this.ordered) lane.rewind()
  }

  /** True if any lane has something to write. */
  get pending (): boolean {
    for (const lane of this.ordered) if (lane.length > 0) return true
    return false
  }

  /** The lane that has waited longest past `STARVATION_WRITES` writes, if any. */
  starved (): Lane | undefined {
    let worst: Lane | undefined
    for (const lane of this.ordered) {
      if (lane.passedOver >= STARVATION_WRITES && (worst === undefined || lane.passedOver > worst.passedOver)) worst = lane
    }
    return worst
  }

  /**
   * After a write: lanes it took from start over, lanes it passed over while they had messages
   * wait one more, and the first lane it took from goes last among the lanes of its priority,
   * so lanes of equal priority take turns.
   */
  written (): void {
    const ordered = this.ordered
    let first = -1
    for (let i = 0; i < ordered.length; i++) {
      const lane = ordered[i]
      if (lane.took && first < 0) first = i
      lane.passedOver = lane.took || lane.length === 0 ? 0 : lane.passedOver + 1
      lane.took = false
    }
    if (first < 0) return
    const lane = ordered[first]
    let end = first
    while (end + 1 < ordered.length && ordered[end + 1].spec.priority === lane.spec.priority) end++
    if (end === first) return
    // rotated in place: this runs after every write
    for (let i = first; i < end; i++) ordered[i] = ordered[i + 1]
    ordered[end] = lane
  }

  /** Discards every queued message, telling envelope owners `why`. */
  clear (why: Discard): void {
    for (const lane of this.ordered) lane.clear(why)
  }
}
