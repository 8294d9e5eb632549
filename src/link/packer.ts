/**
 * The writer's packing: frames from a member's lanes into one write, the most urgent lanes first
 * after any starved one, up to the write's size (docs/architecture.md, "The data path"). A
 * channel's number is bound to its name (BIND) before its first frame on a stream; on a 1.0.0
 * stream only the default channel goes, and the other lanes' frames are dropped (counted) as they
 * come up. What a write took is kept (`touched`, `envelopes`) until the writer settles it
 * (write-ledger.ts).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { EMPTY, FRAME_BIND, FRAME_CHANNEL, FRAME_CREDIT, FRAME_ERROR, FRAME_MESSAGE, FRAME_RELIABLE, FRAME_REQUEST, varintLength } from '../wire/frames.ts'
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

/** Bytes a frame's leading uvarint fields take at most (channel, request id, sequence number, code, credit: two of them). */
const MAX_FIELDS = 16

/**
 * A new buffer for a write, uninitialised from 4 KiB on: only the bytes written into it are
 * handed to the stream, and zeroing it first costs up to half as much again as the copies into it
 * (measured: a 256 KiB buffer, full 41 µs against 46 µs zeroed, half full 28 against 43 µs).
 * Smaller ones are plain typed arrays, which V8 allocates more cheaply than Node's pooled Buffers.
 */
function allocWrite (bytes: number): Uint8Array {
  if (bytes < 4096 || typeof Buffer !== 'function') return new Uint8Array(bytes)
  return new Uint8Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, bytes)
}

export class WritePacker {
  /**
   * The write being assembled by `#pack`: its bytes and frames so far; the buffer its frames are
   * copied into (`#out`, filled to `#at`), the part of it from `#piece` not yet in `#list`; the
   * list, once the write holds a payload by reference or fills a second buffer; our session, to
   * lead the first frame.
   */
  #bytes = 0
  #frames = 0
  /** The stream speaks 1.1.0 (set by each `pack`). */
  #channels = false
  #out: Uint8Array = EMPTY
  #at = 0
  #piece = 0
  #list: Uint8ArrayList | undefined
  #lead: Uint8Array | undefined
  /** At least what the frames still to be taken copy (`#copyBound`): a new buffer need hold no more. */
  #spare = 0
  /** Lanes the write took plain messages from (their `writing` counts them), and the envelopes it took, with their lanes. */
  readonly touched: Lane[] = []
  readonly envelopes: Envelope[] = []
  readonly envelopeLanes: Lane[] = []

  /**
   * Frames `lane`'s writable items into the write being assembled, while they fit in `max` bytes
   * (the first frame always does); false once the write is full. Past a full window (`urgentOnly`)
   * only priority-0 lanes give.
   *
   * A frame is copied straight into the buffer handed to the stream, its payload too unless it is
   * written by reference (REF_BYTES): each payload is copied once at most. The buffer is allocated
   * by the first frame, as large as what is left of the write's budget or what the lanes' frames
   * may copy (`#spare`), whichever is less: a lone message gets a small one, a burst one of about
   * `max`, and the write stays one buffer (a list only around payloads written by reference).
   */
  #take (lane: Lane, stream: LinkStream, urgentOnly: boolean, now: number, max: number): boolean {
    if (urgentOnly && lane.spec.priority > 0) return true
    const spec = lane.spec
    if (!this.#channels && spec.channel !== DEFAULT_CHANNEL) {
      this.#unsupported(lane, now)
      return true
    }
    const reliable = spec.reliable
    let buf = this.#out
    // the write's state in locals while frames are taken; in its fields again around #grow and at the end
    let at = this.#at
    let bytes = this.#bytes
    let spare = this.#spare
    let full = false
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
      if (this.#frames > 0 && bytes + size > max) {
        full = true
        break
      }
      const taken = lane.shift()
      lane.took = true
      // written by reference, not copied (nor is one larger than a write)
      const byRef = payloadLength >= REF_BYTES || payloadLength >= max
      const copied = size - (byRef ? payloadLength : 0)
      if (copied > buf.byteLength - at) {
        this.#at = at
        this.#bytes = bytes
        this.#spare = spare
        buf = this.#grow(copied, Math.min(spare, max - bytes))
        at = this.#at
        bytes = this.#bytes
        spare = this.#spare
      }
      let offset = at
      const start = offset
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
      bytes += offset - start + payload.byteLength
      if (byRef) {
        spare -= offset - start
        const list = this.#list ??= new Uint8ArrayList()
        if (offset > this.#piece) list.append(buf.subarray(this.#piece, offset))
        list.append(payload)
        at = this.#piece = offset
        continue
      }
      buf.set(payload, offset)
      at = offset + payload.byteLength
      spare -= at - start
    }
    this.#at = at
    this.#bytes = bytes
    this.#spare = spare
    return !full
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
   * At least the bytes the next write copies, from the lanes it may take from: every payload but
   * those written by reference (of each payload, at most what is copied), a header for each, of at
   * most a length prefix, the kind and two uvarint fields, and a BIND.
   */
  #copyBound (lanes: Lanes, urgentOnly: boolean, max: number): number {
    const copiedAtMost = Math.min(REF_BYTES, max) - 1
    let bound = 0
    for (const lane of lanes.ordered) {
      const items = lane.items
      if (items === 0 || (urgentOnly && lane.spec.priority > 0) || (!this.#channels && lane.spec.channel !== DEFAULT_CHANNEL)) continue
      const bytes = lane.bytes
      bound += Math.min(bytes, items * copiedAtMost) + items * (varintLength(bytes + MAX_FIELDS + 1) + 1 + MAX_FIELDS) + (lane.spec.channel > 0 ? bindBytes(lane) : 0)
    }
    return bound
  }

  /**
   * Starts a new buffer for the write being assembled (what the last one holds goes to the list),
   * of `want` bytes, or what the next frame `need`s if more; led by our session if it leads the write.
   */
  #grow (need: number, want: number): Uint8Array {
    if (this.#at > this.#piece) (this.#list ??= new Uint8ArrayList()).append(this.#out.subarray(this.#piece, this.#at))
    const lead = this.#lead
    const leadBytes = lead?.byteLength ?? 0
    const out = this.#out = allocWrite(Math.max(need + leadBytes, want))
    this.#at = this.#piece = 0
    if (lead !== undefined) {
      out.set(lead)
      this.#at = leadBytes
      this.#bytes += leadBytes
      this.#spare -= leadBytes
      this.#lead = undefined
    }
    return out
  }

  /**
   * Takes frames for one write of up to `max` bytes (at least one frame) from `lanes`, in
   * order of priority after any starved lane, framing them straight into the buffer handed to the
   * stream (with payloads of REF_BYTES or more in place, uncopied: then a list); returns it, or
   * undefined if nothing writable was queued. A buffer is never reused: the stream keeps it.
   */
  pack (lanes: Lanes, stream: LinkStream, channels: boolean, lead: Uint8Array | undefined, urgentOnly: boolean, now: number, max: number): Uint8Array | Uint8ArrayList | undefined {
    this.#channels = channels
    this.#frames = 0
    this.#bytes = 0
    // a new stream's first write starts with our session (`lead`)
    this.#lead = lead
    this.#spare = (lead?.byteLength ?? 0) + this.#copyBound(lanes, urgentOnly, max)
    const starved = lanes.starved()
    if (starved === undefined || this.#take(starved, stream, urgentOnly, now, max)) {
      for (const lane of lanes.ordered) if (lane !== starved && !this.#take(lane, stream, urgentOnly, now, max)) break
    }
    lanes.written()
    const out = this.#out
    const at = this.#at
    const piece = this.#piece
    const list = this.#list
    // what is left of the buffer is not written to again: the next write starts a new one
    this.#out = EMPTY
    this.#at = this.#piece = 0
    this.#list = this.#lead = undefined
    if (this.#frames === 0) return undefined
    if (list === undefined) return at === out.byteLength ? out : out.subarray(0, at)
    if (at > piece) list.append(out.subarray(piece, at))
    return list
  }
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
