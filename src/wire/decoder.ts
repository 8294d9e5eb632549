/**
 * Reading frames (docs/wire.md). The decoder is synchronous and push-based: bytes in, one
 * callback per frame, in order, no promise per frame. A frame is handed out as its kind and where
 * its body lies (`buf[start, end)`: the chunk itself when the frame lies inside one, no copy and no
 * view), so the caller makes one view, of the payload, whatever fields come before it. Parsing
 * those fields (channel numbers, request ids) is the frame reader's business (link/frame-reader.ts).
 * It stops between two frames once its `budget` is spent, so that its owner can process a large
 * chunk in slices (link/receiver.ts).
 */
import { InvalidFrameError, type InvalidFrameReason } from '../errors.ts'
import { EMPTY, MAX_FIELD_BYTES, MAX_KIND_1_0, MAX_VARINT_BYTES } from './frames.ts'

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
