/**
 * The writer's packing: frames from a member's lanes into one write, the most urgent lanes first
 * after any starved one, up to the write's size (docs/architecture.md, "The data path"). A
 * channel's number is bound to its name (BIND) before its first frame on a stream; on a 1.0.0
 * stream only the default channel goes, and the other lanes' frames are dropped (counted) as they
 * come up. What a write took is kept (`touched`, `envelopes`) until the writer settles it
 * (write-ledger.ts).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { FRAME_BIND, FRAME_CHANNEL, FRAME_CREDIT, FRAME_ERROR, FRAME_MESSAGE, FRAME_RELIABLE, FRAME_REQUEST, varintLength } from '../wire/frames.ts'
import { headerLength, writeFrameHeader, writeHeader } from '../wire/encoder.ts'
import { DEFAULT_CHANNEL, type Lanes } from '../queue/lanes.ts'
import { Envelope, type Item } from '../queue/envelope.ts'
import type { Lane } from '../queue/lane.ts'
import type { LinkStream } from './transport.ts'

/**
 * Payloads of at least this many bytes are written by reference, between copied headers, not
 * copied into the write: a copy costs more than the extra piece libp2p then handles (Noise
 * encrypts a list piece by piece), while smaller messages coalesce into one buffer.
 */
const REF_BYTES = 16 * 1024

export class WritePacker {
  /**
   * The write being assembled by `#pack`: the bytes framed into the scratch buffer, its frames, and
   * the payloads written by reference (at least REF_BYTES: not copied) with the scratch offsets
   * they follow and their total.
   */
  #bytes = 0
  #frames = 0
  /** The stream speaks 1.1.0 (set by each `pack`). */
  #channels = false
  readonly #refs: Uint8Array[] = []
  readonly #refAt: number[] = []
  #refBytes = 0
  /** Lanes the write took plain messages from (their `writing` counts them), and the envelopes it took, with their lanes. */
  readonly touched: Lane[] = []
  readonly envelopes: Envelope[] = []
  readonly envelopeLanes: Lane[] = []

  /**
   * Frames `lane`'s writable items into the write being assembled (`scratch`), while they fit in
   * `max` bytes (the first frame always does); false once the write is full. Past a full window
   * (`urgentOnly`) only priority-0 lanes give.
   */
  #take (lane: Lane, stream: LinkStream, urgentOnly: boolean, now: number, max: number): boolean {
    if (urgentOnly && lane.spec.priority > 0) return true
    const spec = lane.spec
    if (!this.#channels && spec.channel !== DEFAULT_CHANNEL) {
      this.#unsupported(lane, now)
      return true
    }
    const reliable = spec.reliable
    let buf = scratch
    for (let item = lane.peek(now); item !== undefined; item = lane.peek(now)) {
      const bind = lane.boundOn !== stream && spec.channel > 0
      let payloadLength: number
      let size: number
      if (item instanceof Uint8Array) {
        payloadLength = item.byteLength
        size = headerLength(payloadLength, lane.fieldBytes) + payloadLength
      } else {
        payloadLength = item.data.byteLength
        size = frameBytes(lane, item)
      }
      // at most: a reliable message's number adds up to 7 bytes, and 1 to its length prefix
      if (reliable) size += 8
      if (bind) size += bindBytes(lane)
      if (this.#frames > 0 && this.#bytes + this.#refBytes + size > max) return false
      const taken = lane.shift()
      lane.took = true
      let offset = this.#bytes
      // written by reference, not copied into the scratch buffer (nor is one larger than a write)
      const byRef = payloadLength >= REF_BYTES || payloadLength >= max
      const copied = offset + size - (byRef ? payloadLength : 0)
      if (copied > buf.byteLength) buf = growScratch(copied)
      if (bind) {
        lane.boundOn = stream
        const name = spec.nameBytes
        offset = writeFrameHeader(buf, offset, FRAME_BIND, spec.channel, -1, varintLength(spec.channel), name.byteLength)
        buf.set(name, offset)
        offset += name.byteLength
      }
      // a reliable lane hands a keyed message out as its bytes, numbered (lane.seq)
      const plain = taken instanceof Uint8Array
      let payload: Uint8Array
      if (plain && lane.seq < 0) {
        // a plain message, by far the most common: its header without the general shape
        payload = taken
        offset = spec.channel === DEFAULT_CHANNEL
          ? writeHeader(buf, offset, payload.byteLength)
          : writeFrameHeader(buf, offset, FRAME_CHANNEL, spec.channel, -1, lane.fieldBytes, payload.byteLength)
      } else {
        payload = shapeOf(lane, taken, lane.seq)
        offset = writeFrameHeader(buf, offset, shape.kind, shape.a, shape.b, shape.fields, payload.byteLength)
      }
      if (!plain) {
        this.envelopes.push(taken)
        this.envelopeLanes.push(lane)
      } else if (lane.writing++ === 0) {
        this.touched.push(lane)
      }
      this.#frames++
      if (byRef) {
        this.#bytes = offset
        this.#refs.push(payload)
        this.#refAt.push(offset)
        this.#refBytes += payloadLength
        continue
      }
      buf.set(payload, offset)
      this.#bytes = offset + payload.byteLength
    }
    return true
  }

  /** A 1.0.0 stream has only the default channel: `lane`'s items are dropped, counted, as they come up. */
  #unsupported (lane: Lane, now: number): void {
    for (let item = lane.peek(now); item !== undefined; item = lane.peek(now)) {
      lane.shift()
      if (lane.seq >= 0) lane.ack(lane.seq) // a reliable lane forgets it too: it will never be written
      lane.dropped++
      if (item instanceof Envelope) item.owner?.discarded(item, 'unsupported')
    }
  }

  /**
   * Takes frames for one write of up to `max` bytes (at least one frame) from `lanes`, in
   * order of priority after any starved lane, framing them straight into the shared scratch
   * buffer; returns a copy of what was framed (with payloads of REF_BYTES or more in place,
   * uncopied: then a list), or undefined if nothing writable was queued.
   */
  pack (lanes: Lanes, stream: LinkStream, channels: boolean, lead: Uint8Array | undefined, urgentOnly: boolean, now: number, max: number): Uint8Array | Uint8ArrayList | undefined {
    this.#channels = channels
    this.#frames = 0
    this.#refBytes = 0
    // a new stream's first write starts with our session (`lead`)
    if (lead !== undefined) scratch.set(lead)
    this.#bytes = lead?.byteLength ?? 0
    const starved = lanes.starved()
    if (starved === undefined || this.#take(starved, stream, urgentOnly, now, max)) {
      for (const lane of lanes.ordered) if (lane !== starved && !this.#take(lane, stream, urgentOnly, now, max)) break
    }
    lanes.written()
    if (this.#frames === 0) return undefined
    const head = scratch.slice(0, this.#bytes)
    const refs = this.#refs
    if (refs.length === 0) return head
    // headers (and small payloads) from the copy, large payloads as they are, in frame order
    const write = new Uint8ArrayList()
    let at = 0
    for (let i = 0; i < refs.length; i++) {
      const to = this.#refAt[i]
      if (to > at) write.append(head.subarray(at, to))
      write.append(refs[i])
      at = to
    }
    if (at < head.byteLength) write.append(head.subarray(at))
    refs.length = 0
    this.#refAt.length = 0
    return write
  }
}

/**
 * Writes are framed here, then copied out at their exact size (a copy of a few hundred KiB of
 * small messages costs less than keeping a list of what was taken and framing it in a second
 * pass; large payloads are not copied in at all, see REF_BYTES). Shared by every Dispatcher: a
 * write is assembled synchronously, start to end.
 */
let scratch: Uint8Array = new Uint8Array(64 * 1024)

/** Makes the scratch buffer hold at least `bytes`, keeping what it holds. */
function growScratch (bytes: number): Uint8Array {
  const next = new Uint8Array(Math.max(bytes, scratch.byteLength * 2))
  next.set(scratch)
  scratch = next
  return next
}

/** The frame of one queued item: kind, its leading uvarint fields (-1: none) and their bytes. */
const shape = { kind: 0, a: -1, b: -1, fields: 0 }

/** Sets `shape` for `item` queued on `lane` (a reliable message numbered `seq`, else -1); returns its payload. */
function shapeOf (lane: Lane, item: Item, seq: number): Uint8Array {
  const channel = lane.spec.channel
  let kind: number
  let a = -1
  let b = -1
  let payload: Uint8Array
  if (seq >= 0) {
    payload = item as Uint8Array
    kind = FRAME_RELIABLE
    a = channel
    b = seq
  } else if (item instanceof Uint8Array) {
    payload = item
    kind = channel === DEFAULT_CHANNEL ? FRAME_MESSAGE : FRAME_CHANNEL
  } else {
    payload = item.data
    kind = item.kind
    if (kind === FRAME_MESSAGE || kind === FRAME_CHANNEL) {
      kind = channel === DEFAULT_CHANNEL ? FRAME_MESSAGE : FRAME_CHANNEL
    } else if (kind === FRAME_REQUEST) {
      a = channel
      b = item.id
    } else {
      a = item.id
      if (kind === FRAME_ERROR || kind === FRAME_CREDIT) b = item.n
    }
  }
  if (kind === FRAME_CHANNEL) a = channel
  shape.kind = kind
  shape.a = a
  shape.b = b
  shape.fields = (a >= 0 ? varintLength(a) : 0) + (b >= 0 ? varintLength(b) : 0)
  return payload
}

/** Bytes of the frame of an envelope (its header and payload), without a reliable number. */
function frameBytes (lane: Lane, item: Envelope): number {
  const payload = shapeOf(lane, item, -1)
  return headerLength(payload.byteLength, shape.fields) + payload.byteLength
}

function bindBytes (lane: Lane): number {
  return headerLength(lane.spec.nameBytes.byteLength, varintLength(lane.spec.channel)) + lane.spec.nameBytes.byteLength
}
