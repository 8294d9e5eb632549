/**
 * Length-prefixed framing for the raw libp2p contenders, written the way a user would by hand:
 * an unsigned varint length, then the payload. The decoder is synchronous, keeps at most one
 * partial frame, and delivers empty frames too.
 */
import { encodeUint8Array, encodingLength } from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'
import { HEADER_BYTES, zeroFrom } from './payload.ts'

/** One frame in one allocation; the payload starts at `offset`. */
export function allocFrame (payloadBytes: number): { frame: Uint8Array, offset: number } {
  const offset = encodingLength(payloadBytes)
  // from Node's shared pool, as a Node application allocates; the padding after the header zeroed
  const frame = Buffer.allocUnsafe(offset + payloadBytes)
  zeroFrom(frame, offset + HEADER_BYTES)
  encodeUint8Array(payloadBytes, frame, 0)
  return { frame, offset }
}

/** Bytes of one frame carrying `payloadBytes`. */
export function frameBytes (payloadBytes: number): number {
  return encodingLength(payloadBytes) + payloadBytes
}

/** Writes a frame header for `payloadBytes` at `offset` of `buf`; returns where the payload starts. */
export function writeFrameHeader (buf: Uint8Array, offset: number, payloadBytes: number): number {
  encodeUint8Array(payloadBytes, buf, offset)
  return offset + encodingLength(payloadBytes)
}

const MAX_FRAME_BYTES = 16 * 1024 * 1024

export class FrameDecoder {
  private partial: Uint8Array | undefined
  private readonly onFrame: (payload: Uint8Array) => void

  constructor (onFrame: (payload: Uint8Array) => void) {
    this.onFrame = onFrame
  }

  push (data: Uint8Array | Uint8ArrayList): void {
    if (data instanceof Uint8Array) {
      this.pushChunk(data)
    } else {
      for (const chunk of data) this.pushChunk(chunk)
    }
  }

  private pushChunk (chunk: Uint8Array): void {
    let buf = chunk
    if (this.partial !== undefined) {
      const joined = new Uint8Array(this.partial.byteLength + chunk.byteLength)
      joined.set(this.partial, 0)
      joined.set(chunk, this.partial.byteLength)
      buf = joined
      this.partial = undefined
    }
    let pos = 0
    const end = buf.byteLength
    while (pos < end) {
      // varint length, at most 4 bytes for frames up to MAX_FRAME_BYTES
      let len = 0
      let shift = 0
      let p = pos
      let complete = false
      while (p < end && shift <= 28) {
        const b = buf[p++]
        len += (b & 0x7f) * 2 ** shift
        shift += 7
        if (b < 0x80) { complete = true; break }
      }
      if (!complete) {
        if (shift > 28) throw new Error('frame length varint too long')
        break
      }
      if (len > MAX_FRAME_BYTES) throw new Error(`frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`)
      if (end - p < len) break
      this.onFrame(buf.subarray(p, p + len))
      pos = p + len
    }
    if (pos < end) this.partial = buf.slice(pos)
  }
}
