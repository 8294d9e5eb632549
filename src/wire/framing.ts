/**
 * The wire format (README, "Wire format"): a stream is a sequence of frames
 *
 *   frame = uvarint(N) kind body      N = 1 + body length, so N >= 1
 *
 * with `uvarint` the minimal unsigned LEB128 of multiformats/unsigned-varint and `kind` one byte.
 * Version 1.0.0 knows only kind 0 (one message of the default channel); 1.1.0 adds the channel,
 * request and response kinds below. Zero-length messages are legal (N = 1).
 *
 * The decoder is synchronous and push-based: bytes in, one callback per frame, in order, no
 * promise per frame. A frame is handed out as its kind and where its body lies (`buf[start, end)`:
 * the chunk itself when the frame lies inside one, no copy and no view), so the caller makes one
 * view, of the payload, whatever fields come before it. Parsing those fields (channel numbers,
 * request ids) is the Receiver's business. It stops between two frames once its `budget` is
 * spent, so that its owner can process a large chunk in slices (receiver.ts).
 */
import { InvalidFrameError, type InvalidFrameReason } from '../errors.ts'

/** One message of the default channel; body = payload. The only kind of 1.0.0. */
export const FRAME_MESSAGE = 0
/** body = uvarint(channel) name: binds a channel number (>= 1) to a name for the rest of the stream. */
export const FRAME_BIND = 1
/** body = uvarint(channel) payload: one message of a bound channel. */
export const FRAME_CHANNEL = 2
/** body = uvarint(channel) uvarint(id) payload: a request (id >= 1) on a bound channel. */
export const FRAME_REQUEST = 3
/** body = uvarint(id) payload: the one answer to request `id`; ends it. */
export const FRAME_RESPONSE = 4
/** body = uvarint(id) payload: one part of a streamed answer. */
export const FRAME_PART = 5
/** body = uvarint(id): the streamed answer ended. */
export const FRAME_END = 6
/** body = uvarint(id) code message: the request failed; `code` one byte, `message` UTF-8 (at most 1 KiB). */
export const FRAME_ERROR = 7
/** body = uvarint(id): the requester gave up; the responder stops. */
export const FRAME_CANCEL = 8
/** body = uvarint(id) uvarint(n): the requester takes `n` more parts of a streamed answer. */
export const FRAME_CREDIT = 9
/** body = uvarint(channel) uvarint(seq) payload: message `seq` (1, 2, ...) of a reliable channel, in the writer's session. */
export const FRAME_RELIABLE = 10
/** body empty: a heartbeat on an idle stream, so that the receiver's FLOW shows the link is alive. */
export const FRAME_PING = 11
/** body = uvarint(session): the writer's session (random, new at every start); first frame of a stream. */
export const FRAME_HELLO = 12

/**
 * The reverse direction of a 1.1.0 stream, written by the receiving side, carries only these:
 * FLOW, body = uvarint(total): `total` bytes of the stream have been consumed. The writer keeps at
 * most its window of bytes written but not yet reported consumed, so what waits is in its lanes,
 * where priorities act, and not in transport buffers; a link that reports nothing for too long is
 * dead.
 */
export const FRAME_FLOW = 0x40
/** Reverse: body = uvarint(channel) uvarint(seq): reliable messages up to `seq` of that channel were delivered. */
export const FRAME_ACK = 0x41
/** Reverse: body = uvarint(session): the receiver's session; first frame of the reverse direction. */
export const FRAME_HELLO_BACK = 0x42

/** The highest kind each protocol version accepts in the writing direction, and in the reverse one. */
export const MAX_KIND_1_0 = FRAME_MESSAGE
export const MAX_KIND_1_1 = FRAME_HELLO
export const MAX_KIND_REVERSE = FRAME_HELLO_BACK

/** Error codes of FRAME_ERROR. */
export const ERROR_BUSY = 1
export const ERROR_NO_HANDLER = 2
export const ERROR_REMOTE = 3
export const ERROR_TOO_LARGE = 4
export const ERROR_DROPPED = 5
export const MAX_ERROR_CODE = ERROR_DROPPED

/** A streamed answer may send this many parts before the first FRAME_CREDIT. */
export const INITIAL_STREAM_CREDIT = 16

/** Bytes of `n` as a uvarint. */
export function varintLength (n: number): number {
  let bytes = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    bytes++
  }
  return bytes
}

/** Writes `n` as a uvarint at `offset`; returns the offset after it. */
function writeVarint (buf: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[offset++] = n
  return offset
}

/**
 * Reads a minimal uvarint of at most 7 bytes at `offset` of `buf`, before `end` (at most
 * `buf.byteLength`); returns the value, or -1 if it is truncated, not minimal or too long. On success `varintEnd` is the offset after it.
 */
export function readVarint (buf: Uint8Array, offset: number, end = buf.byteLength): number {
  let n = 0
  let scale = 1
  for (let i = 0; i < MAX_VARINT_BYTES - 1 && offset + i < end; i++) {
    const b = buf[offset + i]
    n += (b & 0x7f) * scale
    if (b < 0x80) {
      if (b === 0 && i > 0) return -1
      varintEnd = offset + i + 1
      return n
    }
    scale *= 0x80
  }
  return -1
}

/** Where the last successful `readVarint` ended (module state keeps the hot path allocation-free). */
export let varintEnd = 0

/** Bytes of a frame's header (length prefix, kind and the body's leading fields) for a payload of `payloadLength`. */
export function headerLength (payloadLength: number, fields = 0): number {
  return varintLength(payloadLength + 1 + fields) + 1 + fields
}

/** Writes the header of a message frame of `payloadLength` bytes at `offset`; returns the offset after it. */
export function writeHeader (buf: Uint8Array, offset: number, payloadLength: number): number {
  offset = writeVarint(buf, offset, payloadLength + 1)
  buf[offset++] = FRAME_MESSAGE
  return offset
}

/**
 * Writes the header of a frame of `kind` whose body is `a` (a uvarint; -1: none), `b` (likewise),
 * then `payloadLength` bytes; `fields` must be the bytes of `a` and `b`. Returns the offset after it.
 */
export function writeFrameHeader (buf: Uint8Array, offset: number, kind: number, a: number, b: number, fields: number, payloadLength: number): number {
  offset = writeVarint(buf, offset, payloadLength + 1 + fields)
  buf[offset++] = kind
  if (a >= 0) offset = writeVarint(buf, offset, a)
  if (b >= 0) offset = writeVarint(buf, offset, b)
  return offset
}

/** One whole message frame carrying `payload`: for tests and one-off writes (the dispatcher packs many). */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(headerLength(payload.byteLength) + payload.byteLength)
  buf.set(payload, writeHeader(buf, 0, payload.byteLength))
  return buf
}

/** One whole frame of any kind: for tests and one-off writes. `a`/`b` are uvarint fields (-1: none). */
export function encodeKindFrame (kind: number, a: number, b: number, payload: Uint8Array = EMPTY): Uint8Array {
  const fields = (a >= 0 ? varintLength(a) : 0) + (b >= 0 ? varintLength(b) : 0)
  const buf = new Uint8Array(headerLength(payload.byteLength, fields) + payload.byteLength)
  buf.set(payload, writeFrameHeader(buf, 0, kind, a, b, fields, payload.byteLength))
  return buf
}

/** A varint longer than this cannot encode a length below 2^53 minimally. */
const MAX_VARINT_BYTES = 8

/** A shared empty payload (an empty frame body, a message taken back). */
export const EMPTY = new Uint8Array(0)

/** A decoded frame: its kind, and its body, `buf[start, end)`. */
export type OnFrame = (kind: number, buf: Uint8Array, start: number, end: number) => void

/** The body `buf[start, end)` as a view (EMPTY when empty): for callers that want it whole. */
export function bodyOf (buf: Uint8Array, start: number, end: number): Uint8Array {
  return start === end ? EMPTY : buf.subarray(start, end)
}

export class FrameDecoder {
  readonly maxMessageSize: number
  /** The highest frame kind accepted: `MAX_KIND_1_0` or `MAX_KIND_1_1`. */
  readonly maxKind: number
  /** The first violation seen; once set, `push()` ignores all input. */
  error?: InvalidFrameError
  #onFrame: OnFrame
  // length prefix being read
  #length = 0
  #scale = 1
  #varintBytes = 0
  // frame (kind + body) being assembled across chunks, in a buffer that doubles as bytes
  // arrive: memory follows what a peer sent (at most 2x), not the length it announced
  #frameLength = 0
  #frame = EMPTY
  #filled = 0
  #stopped = false
  /**
   * What the frames handed out may still cost before `push` stops (between two frames): each
   * costs 1, plus 1 per KiB of it. Its owner refills it; Infinity (the default) never stops.
   */
  budget = Infinity
  /**
   * Where the frame being handed out ends in the chunk being pushed: if `onFrame` throws, the
   * chunk is consumed up to here (the decoder is between two frames), and the rest may be pushed
   * again, from here.
   */
  next = 0

  /**
   * @param maxMessageSize - the largest payload; a frame's body may exceed it by the few bytes of
   *   its leading fields (channel number, request id), at most `MAX_FIELD_BYTES`
   * @param onFrame - called with each frame's kind and the bytes of its body, `buf[start, end)`
   *   (valid during the call only: copy what is kept)
   */
  constructor (maxMessageSize: number, onFrame: OnFrame, maxKind = MAX_KIND_1_0) {
    this.maxMessageSize = maxMessageSize
    this.maxKind = maxKind
    this.#onFrame = onFrame
  }

  /** True between frames: the stream may end here without truncating anything. */
  get atBoundary (): boolean {
    return this.#varintBytes === 0 && this.#frameLength === 0 && this.error == null
  }

  /** Ignore all further input, including the rest of a chunk being decoded. */
  stop (): void {
    this.#stopped = true
    this.#frame = EMPTY
  }

  /**
   * Feeds `chunk` from offset `from`. Returns where it stopped: `chunk.byteLength` once all of it
   * was taken, an offset before that once the `budget` is spent (feed the rest later, from there),
   * or -1 once the input broke the format (see `error`).
   */
  push (chunk: Uint8Array, from = 0): number {
    if (this.error != null) return -1
    // a Node Buffer's subarray() builds a Buffer, several times the cost of a plain view's (measured:
    // 8% of a receiver's CPU at 32 B); messages are handed out as plain views of the chunk
    if (chunk.constructor !== Uint8Array) chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let i = from
    const end = chunk.byteLength
    const maxKind = this.maxKind
    while (i < end && !this.#stopped && this.budget > 0) {
      if (this.#frameLength !== 0) {
        // continue a frame that started in an earlier chunk
        if (this.#filled === 0 && chunk[i] > maxKind) return this.#fail('unknown-kind')
        const take = Math.min(end - i, this.#frameLength - this.#filled)
        this.#append(chunk.subarray(i, i + take))
        i += take
        if (this.#filled < this.#frameLength) return i
        const frame = this.#frame
        const length = this.#frameLength
        this.#frame = EMPTY
        this.#frameLength = 0
        this.#filled = 0
        this.budget -= 1 + (length >>> 10)
        this.next = i
        this.#onFrame(frame[0], frame, 1, length)
        continue
      }

      // length prefix, possibly split across chunks
      const b = chunk[i++]
      this.#length += (b & 0x7f) * this.#scale
      this.#scale *= 0x80
      this.#varintBytes++
      if (b >= 0x80) {
        if (this.#varintBytes >= MAX_VARINT_BYTES) return this.#fail('malformed-length')
        continue
      }
      if (b === 0 && this.#varintBytes > 1) return this.#fail('malformed-length') // not minimal
      const n = this.#length
      this.#length = 0
      this.#scale = 1
      this.#varintBytes = 0
      if (n === 0) return this.#fail('empty-frame')
      if (n - 1 > this.maxMessageSize + (maxKind === MAX_KIND_1_0 ? 0 : MAX_FIELD_BYTES)) return this.#fail('too-large')

      // the kind byte is checked as soon as it is here, before any body is buffered
      if (i < end && chunk[i] > maxKind) return this.#fail('unknown-kind')
      if (end - i >= n) {
        // the whole frame is in this chunk: hand out where it lies
        this.budget -= 1 + (n >>> 10)
        this.next = i + n
        this.#onFrame(chunk[i], chunk, i + 1, i + n)
        i += n
      } else {
        this.#frameLength = n
        this.#filled = 0
        this.#append(chunk.subarray(i, end))
        i = end
      }
    }
    return this.error == null ? i : -1 // onFrame may have reported a bad body through fail()
  }

  #append (bytes: Uint8Array): void {
    const need = this.#filled + bytes.byteLength
    if (need > this.#frame.byteLength) {
      const grown = new Uint8Array(Math.min(this.#frameLength, Math.max(need, 2 * this.#frame.byteLength, 4096)))
      grown.set(this.#frame.subarray(0, this.#filled))
      this.#frame = grown
    }
    this.#frame.set(bytes, this.#filled)
    this.#filled = need
  }

  /** Records that the stream ended; a partial frame is a violation. Returns false if so. */
  end (): boolean {
    if (this.error != null) return false
    return this.atBoundary || this.fail('truncated')
  }

  /** Records a violation found in a frame's body by the caller; returns false. */
  fail (reason: InvalidFrameReason): false {
    this.#fail(reason)
    return false
  }

  #fail (reason: InvalidFrameReason): -1 {
    this.error ??= new InvalidFrameError(reason)
    this.#frame = EMPTY
    this.#stopped = true
    return -1
  }
}

/**
 * Bytes a 1.1.0 body may carry beyond a `maxMessageSize` payload: its leading fields (two
 * uvarints, or a channel number and a name of at most 64 bytes).
 */
export const MAX_FIELD_BYTES = 80
