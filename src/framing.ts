/**
 * The wire format of the protocol (README, "Wire format"): a stream is a sequence of frames
 *
 *   frame = uvarint(N) kind payload      N = 1 + payload length, so N >= 1
 *
 * with `uvarint` the minimal unsigned LEB128 of multiformats/unsigned-varint and `kind` one
 * byte. Kind 0 carries one application message; any other kind is invalid in version 1.0.0.
 * Zero-length messages are legal (N = 1).
 *
 * The decoder is synchronous and push-based: bytes in, one callback per message, in order, no
 * promise per frame. Payloads that lie inside one chunk are handed out as views (no copy).
 */
import { InvalidFrameError, type InvalidFrameReason } from './errors.ts'

export const FRAME_MESSAGE = 0

/** Bytes of the header (length prefix and kind) in front of a payload of `payloadLength` bytes. */
export function headerLength (payloadLength: number): number {
  let n = payloadLength + 1
  let bytes = 2 // at least one varint byte, plus the kind byte
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    bytes++
  }
  return bytes
}

/** Writes the header of a message frame of `payloadLength` bytes at `offset`; returns the offset after it. */
export function writeHeader (buf: Uint8Array, offset: number, payloadLength: number): number {
  let n = payloadLength + 1
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[offset++] = n
  buf[offset++] = FRAME_MESSAGE
  return offset
}

/** One whole frame carrying `payload`: for tests and one-off writes (the dispatcher packs many). */
export function encodeFrame (payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(headerLength(payload.byteLength) + payload.byteLength)
  buf.set(payload, writeHeader(buf, 0, payload.byteLength))
  return buf
}

/** A varint longer than this cannot encode a length below 2^53 minimally. */
const MAX_VARINT_BYTES = 8

const EMPTY = new Uint8Array(0)

export class FrameDecoder {
  readonly maxMessageSize: number
  /** The first violation seen; once set, `push()` ignores all input. */
  error?: InvalidFrameError
  #onMessage: (payload: Uint8Array) => void
  // length prefix being read
  #length = 0
  #scale = 1
  #varintBytes = 0
  // body (kind + payload) being assembled across chunks, in a buffer that doubles as bytes
  // arrive: memory follows what a peer sent (at most 2x), not the length it announced
  #bodyLength = 0
  #body = EMPTY
  #filled = 0
  #stopped = false

  constructor (maxMessageSize: number, onMessage: (payload: Uint8Array) => void) {
    this.maxMessageSize = maxMessageSize
    this.#onMessage = onMessage
  }

  /** True between frames: the stream may end here without truncating anything. */
  get atBoundary (): boolean {
    return this.#varintBytes === 0 && this.#bodyLength === 0 && this.error == null
  }

  /** Ignore all further input, including the rest of a chunk being decoded. */
  stop (): void {
    this.#stopped = true
    this.#body = EMPTY
  }

  /** Feeds bytes; returns false once the input broke the format (see `error`). */
  push (chunk: Uint8Array): boolean {
    if (this.error != null) return false
    let i = 0
    const end = chunk.byteLength
    while (i < end && !this.#stopped) {
      if (this.#bodyLength !== 0) {
        // continue a frame that started in an earlier chunk
        if (this.#filled === 0 && chunk[i] !== FRAME_MESSAGE) return this.#fail('unknown-kind')
        const take = Math.min(end - i, this.#bodyLength - this.#filled)
        this.#append(chunk.subarray(i, i + take))
        i += take
        if (this.#filled < this.#bodyLength) return true
        const body = this.#body
        this.#body = EMPTY
        this.#bodyLength = 0
        this.#filled = 0
        this.#onMessage(body.subarray(1))
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
      if (n - 1 > this.maxMessageSize) return this.#fail('too-large')

      // the kind byte is checked as soon as it is here, before any payload is buffered
      if (i < end && chunk[i] !== FRAME_MESSAGE) return this.#fail('unknown-kind')
      if (end - i >= n) {
        // the whole frame is in this chunk: hand out a view
        this.#onMessage(n === 1 ? EMPTY : chunk.subarray(i + 1, i + n))
        i += n
      } else {
        this.#bodyLength = n
        this.#filled = 0
        this.#append(chunk.subarray(i, end))
        i = end
      }
    }
    return true
  }

  #append (bytes: Uint8Array): void {
    const need = this.#filled + bytes.byteLength
    if (need > this.#body.byteLength) {
      const grown = new Uint8Array(Math.min(this.#bodyLength, Math.max(need, 2 * this.#body.byteLength, 4096)))
      grown.set(this.#body.subarray(0, this.#filled))
      this.#body = grown
    }
    this.#body.set(bytes, this.#filled)
    this.#filled = need
  }

  /** Records that the stream ended; a partial frame is a violation. Returns false if so. */
  end (): boolean {
    if (this.error != null) return false
    return this.atBoundary || this.#fail('truncated')
  }

  #fail (reason: InvalidFrameReason): false {
    this.error = new InvalidFrameError(reason)
    this.#body = EMPTY
    return false
  }
}
