/**
 * Writing frames (docs/wire.md): a frame's header (length, kind, leading uvarint fields) into a
 * buffer, or a whole frame as a buffer of its own. The writer packs many into one write
 * (link/dispatcher.ts); the reverse direction's reports are built here too (link/flow-report.ts).
 */
import { EMPTY, FRAME_MESSAGE, varintLength, writeVarint } from './frames.ts'

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
