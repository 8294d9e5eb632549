/**
 * One member's outgoing queues: a drop-oldest Lane per channel, bounded in messages and bytes,
 * and the order in which a writer serves them. A lower priority number goes first and order
 * within a lane is FIFO, so priorities never reorder one channel's messages. No lane starves: a
 * lane that had messages while `STARVATION_WRITES` writes in a row took nothing from it is served
 * first in the next write (the longest-waiting first), so under a saturating load of more urgent
 * traffic it still gets at least one write in `STARVATION_WRITES + 1`.
 *
 * Lanes of equal priority take turns: each write starts with the next one.
 *
 * A plain message is queued as its bytes. Anything more (a key, a deadline, a request or an
 * answer to one) is queued as an Envelope, whose owner hears whether it was written or why not.
 *
 * A reliable lane keeps every message it writes, numbered 1, 2, ... in the order written, until
 * the receiver acknowledges it, and writes the unacknowledged ones again on a new stream. They
 * count against the lane's bounds but are never dropped: an overflow drops the oldest message
 * not yet written, so a message counted dropped was never written, and the numbers a receiver
 * sees have no gaps. While the unacknowledged messages alone fill the bounds, the lane writes
 * nothing more. Requests and answers in a reliable lane are written once, as in any lane.
 */
import { EMPTY, FRAME_CHANNEL, FRAME_MESSAGE, varintLength } from './framing.ts'
import { RingBuffer } from './ring-buffer.ts'

/** The lane of control frames (cancel, credit, errors for channels we do not have): served first, never starved of writes. */
export const CONTROL_CHANNEL = -1
/** The default channel: `net.send` / `'message'`, written as 1.0.0 message frames. */
export const DEFAULT_CHANNEL = 0
/** A lane passed over by this many writes in a row while it had messages goes first in the next. */
export const STARVATION_WRITES = 8

/** Why an envelope left its lane unwritten. */
export type Discard =
  | 'dropped' // the lane overflowed (drop-oldest)
  | 'expired' // its deadline passed while queued
  | 'lost' // it was in a write the stream refused: the stream is dying
  | 'closed' // the member left, or the network stopped
  | 'unsupported' // the member speaks only 1.0.0, which has no channels or requests

export interface EnvelopeOwner {
  /** Handed to the stream. */
  written?: (e: Envelope) => void
  /** Left the lane unwritten; not called for a cancelled envelope. */
  discarded: (e: Envelope, why: Discard) => void
}

export class Envelope {
  /** A FRAME_* kind of framing.ts; plain messages with a key or deadline use FRAME_CHANNEL (FRAME_MESSAGE on the default channel). */
  readonly kind: number
  data: Uint8Array
  /** Request id, or -1. */
  readonly id: number
  /** Error code or credit, or -1. */
  readonly n: number
  readonly key: string | undefined
  /** Epoch ms after which it is not written; Infinity for none. */
  deadline: number
  readonly owner: EnvelopeOwner | undefined
  /** Taken back by its owner: skipped when its turn comes, and not counted. */
  cancelled = false

  constructor (kind: number, data: Uint8Array, id: number, n: number, key: string | undefined, deadline: number, owner: EnvelopeOwner | undefined) {
    this.kind = kind
    this.data = data
    this.id = id
    this.n = n
    this.key = key
    this.deadline = deadline
    this.owner = owner
  }

  get byteLength (): number {
    return this.data.byteLength
  }
}

export type Item = Uint8Array | Envelope

export interface LaneSpec {
  /** Number on the wire (>= 1), DEFAULT_CHANNEL or CONTROL_CHANNEL. */
  readonly channel: number
  readonly name: string
  /** UTF-8 of `name`, written in the BIND frame. */
  readonly nameBytes: Uint8Array
  /** 0 (most urgent) to 7; the control lane uses -1. */
  readonly priority: number
  /** Written messages are kept until acknowledged, and written again on a new stream. */
  readonly reliable: boolean
  readonly sendBufferSize: number
  readonly sendBufferBytes: number
}

export class Lane {
  readonly spec: LaneSpec
  readonly ring: RingBuffer<Item>
  /** Messages (and requests and answers) handed to the stream. */
  sent = 0
  /** Dropped: the oldest when the lane was full, or in a write the stream refused. */
  dropped = 0
  /**
   * Messages written to a 1.1.0 stream that died before its receiver reported their write
   * consumed (FLOW); a write partly consumed counts whole, so some may have arrived. Not on
   * reliable lanes, which write them again, nor for requests and answers, which fail on their own.
   */
  lost = 0
  /** The Dispatcher's bookkeeping for `lost`: messages written to the current stream, and those in writes its receiver reported consumed. */
  onStream = 0
  confirmed = 0
  /** Replaced in the queue by a newer message with the same key. */
  superseded = 0
  /** Not written because their deadline passed while they were queued. */
  expired = 0
  /** Writes in a row that took nothing from this lane while it had messages. */
  passedOver = 0
  /** The write being assembled took from this lane. */
  took = false
  /** Plain messages in the write being assembled (the Dispatcher's bookkeeping). */
  writing = 0
  /** The stream on which this lane's channel number was last bound. */
  boundOn: unknown = undefined
  /** Reliable lanes: messages written again after a reconnect. */
  retransmitted = 0
  /** Reliable lanes: the sequence number of the message `shift()` just took, or -1 for one that has none. */
  seq = -1
  #keys: Map<string, Envelope> | undefined
  /** Reliable lanes: written, not yet acknowledged, in order; the first is number `#acked + 1`. */
  readonly #unacked: RingBuffer<Uint8Array> | undefined
  #acked = 0
  /** Reliable lanes: how many of `#unacked` were written on the current stream. */
  #replayed = 0
  /** Envelopes taken back but still in the ring (skipped when reached). */
  #holes = 0

  /** Bytes of the channel number a frame of this lane carries (0 on the default channel, which carries none). */
  readonly fieldBytes: number

  constructor (spec: LaneSpec) {
    this.spec = spec
    this.fieldBytes = spec.channel > 0 ? varintLength(spec.channel) : 0
    // the lane enforces its bounds itself (push): holes and unacknowledged messages are not the ring's to count
    this.ring = new RingBuffer(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
    if (spec.reliable) this.#unacked = new RingBuffer(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  }

  /**
   * What is left to write: messages queued (holes left by messages taken back are not counted;
   * on a reliable lane, none while its unacknowledged messages fill its bounds), and on a
   * reliable lane the unacknowledged ones not yet written again on this stream.
   */
  get length (): number {
    const queued = this.ring.length - this.#holes
    const u = this.#unacked
    if (u === undefined) return queued
    // while the unacknowledged fill the bounds nothing queued can be written (`peek` returns
    // none): counting it would have a writer loop forever on a lane it cannot take from
    return u.length - this.#replayed + (this.#full(u) ? 0 : queued)
  }

  /** Reliable lanes: the unacknowledged messages fill the lane's bounds; nothing more is written until acknowledgements come. */
  #full (u: RingBuffer<Uint8Array>): boolean {
    return u.length >= this.spec.sendBufferSize || (u.bytes >= this.spec.sendBufferBytes && u.length > 0)
  }

  /** Messages queued, not yet written. */
  get queued (): number {
    return this.ring.length - this.#holes
  }

  /** Reliable lanes: written, not yet acknowledged. */
  get unacked (): number {
    return this.#unacked?.length ?? 0
  }

  /** Items in the lane, queued or kept unacknowledged, and the bytes of their payloads: at least what is left to write. */
  get items (): number {
    return this.ring.length + (this.#unacked?.length ?? 0)
  }

  get bytes (): number {
    return this.ring.bytes + (this.#unacked?.bytes ?? 0)
  }

  readonly #onDrop = (item: Item): void => {
    if (item instanceof Envelope) {
      // a hole (taken back: superseded, timed out, aborted) is not a message: not counted, owner not told
      if (item.cancelled) {
        this.#holes--
        return
      }
      this.#gone(item, 'dropped')
    }
    this.dropped++
  }

  /**
   * Queues a plain message or an envelope, first dropping the oldest queued while the lane's
   * bounds would be exceeded: messages queued (holes left by messages taken back do not count)
   * and, on a reliable lane, unacknowledged ones count against `sendBufferSize` and
   * `sendBufferBytes`. A message larger than the byte bound on its own is kept, alone.
   */
  push (item: Item): void {
    const ring = this.ring
    const u = this.#unacked
    const otherLength = u === undefined ? 0 : u.length
    const otherBytes = u === undefined ? 0 : u.bytes
    const { sendBufferSize, sendBufferBytes } = this.spec
    while (ring.length > 0 && (ring.length - this.#holes + otherLength >= sendBufferSize || ring.bytes + otherBytes + item.byteLength > sendBufferBytes)) {
      this.#onDrop(ring.shift()!)
    }
    ring.push(item)
  }

  /**
   * Queues a message with a key and/or a deadline. A message with the same key still queued is
   * replaced where it stands (counted `superseded`), unless the larger replacement would break
   * the byte bound: then the old one is taken out and the new one queued last.
   */
  pushKeyed (data: Uint8Array, key: string | undefined, deadline: number): void {
    if (key !== undefined) {
      const old = this.#keys?.get(key)
      if (old !== undefined) {
        this.superseded++
        const delta = data.byteLength - old.byteLength
        if (this.ring.bytes + (this.#unacked?.bytes ?? 0) + delta <= this.spec.sendBufferBytes || this.queued === 1) {
          this.ring.resized(delta)
          old.data = data
          old.deadline = deadline
          return
        }
        this.cancel(old)
      }
    }
    const e = new Envelope(FRAME_CHANNEL, data, -1, -1, key, deadline, undefined)
    if (key !== undefined) (this.#keys ??= new Map()).set(key, e)
    this.push(e)
  }

  /** Takes `e` back: it stays in the ring as a hole of zero bytes and is skipped, uncounted. */
  cancel (e: Envelope): void {
    if (e.cancelled) return
    e.cancelled = true
    this.ring.resized(-e.byteLength)
    e.data = EMPTY
    if (e.key !== undefined) this.#forgetKey(e)
    // holes are skipped when their turn comes; while a member stays down they would pile up
    if (++this.#holes > HOLES_COMPACTED && this.#holes > this.ring.length - this.#holes) this.#compact()
  }

  /** Takes the holes out of the ring, keeping the order of the rest. */
  #compact (): void {
    const kept: Item[] = []
    for (let item = this.ring.shift(); item !== undefined; item = this.ring.shift()) {
      if (!(item instanceof Envelope && item.cancelled)) kept.push(item)
    }
    for (const item of kept) this.ring.push(item)
    this.#holes = 0
  }

  /**
   * The next item to write, without taking it, once holes and expired messages ahead of it
   * are removed (expired ones counted).
   */
  peek (now: number): Item | undefined {
    const u = this.#unacked
    if (u !== undefined) {
      if (this.#replayed < u.length) return u.peek(this.#replayed)
      // the unacknowledged fill the bounds: wait for acknowledgements
      if (this.#full(u)) return undefined
    }
    for (;;) {
      const item = this.ring.peek(0)
      if (item === undefined || item instanceof Uint8Array) return item
      if (!item.cancelled && item.deadline > now) return item
      this.ring.shift()
      if (item.cancelled) {
        this.#holes--
        continue
      }
      this.expired++
      this.#gone(item, 'expired')
    }
  }

  /** Takes the item `peek` returned; on a reliable lane a message is kept, numbered (`seq`), until acknowledged. */
  shift (): Item {
    const u = this.#unacked
    if (u !== undefined && this.#replayed < u.length) {
      this.retransmitted++
      this.seq = this.#acked + ++this.#replayed
      return u.peek(this.#replayed - 1)!
    }
    const item = this.ring.shift()!
    if (item instanceof Envelope && item.key !== undefined) this.#forgetKey(item)
    this.seq = -1
    if (u !== undefined && isMessage(item)) {
      const data = item instanceof Envelope ? item.data : item
      u.push(data)
      this.#replayed++
      this.seq = this.#acked + u.length
      return data
    }
    return item
  }

  /** Reliable lanes: the receiver delivered every message up to `seq`. */
  ack (seq: number): void {
    const u = this.#unacked
    if (u === undefined) return
    while (this.#acked < seq && u.length > 0) {
      u.shift()
      this.#acked++
      if (this.#replayed > 0) this.#replayed--
    }
  }

  /** Reliable lanes: a new stream; the unacknowledged messages are written again first. */
  rewind (): void {
    this.#replayed = 0
  }

  /** Discards everything queued, telling envelope owners `why`; returns how many messages that was. */
  clear (why: Discard): number {
    let n = this.#unacked?.clear() ?? 0
    this.#replayed = 0
    for (let item = this.ring.shift(); item !== undefined; item = this.ring.shift()) {
      if (item instanceof Envelope) {
        if (item.cancelled) continue
        this.#gone(item, why)
      }
      n++
    }
    this.#keys = undefined
    this.#holes = 0
    return n
  }

  #gone (e: Envelope, why: Discard): void {
    if (e.key !== undefined) this.#forgetKey(e)
    e.owner?.discarded(e, why)
  }

  #forgetKey (e: Envelope): void {
    if (this.#keys?.get(e.key!) === e) this.#keys.delete(e.key!)
  }
}

/** A message (not a request, an answer or a control frame): what a reliable lane numbers and keeps, and what `lost` counts. */
export function isMessage (item: Item): boolean {
  return item instanceof Uint8Array || item.kind === FRAME_CHANNEL || item.kind === FRAME_MESSAGE
}

/** Holes (taken-back envelopes) a lane keeps before it compacts, once they outnumber its messages. */
const HOLES_COMPACTED = 64

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
    ordered.splice(first, 1)
    ordered.splice(end, 0, lane)
  }

  /** Discards every queued message, telling envelope owners `why`. */
  clear (why: Discard): void {
    for (const lane of this.ordered) lane.clear(why)
  }
}
