/**
 * The wire format (docs/wire.md): a stream is a sequence of frames
 *
 *   frame = uvarint(N) kind body      N = 1 + body length, so N >= 1
 *
 * with `uvarint` the minimal unsigned LEB128 of multiformats/unsigned-varint and `kind` one byte.
 * Version 1.0.0 knows only kind 0 (one message of the default channel); 1.1.0 adds the channel,
 * request and response kinds below. Zero-length messages are legal (N = 1). This file: the kinds,
 * the error codes, the limits and the varints; encoder.ts writes frames, decoder.ts reads them.
 */

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
export function writeVarint (buf: Uint8Array, offset: number, n: number): number {
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

/** A varint longer than this cannot encode a length below 2^53 minimally. */
export const MAX_VARINT_BYTES = 8

/** A shared empty payload (an empty frame body, a message taken back). */
export const EMPTY = new Uint8Array(0)

/**
 * Bytes a 1.1.0 body may carry beyond a `maxMessageSize` payload: its leading fields (two
 * uvarints, or a channel number and a name of at most 64 bytes).
 */
export const MAX_FIELD_BYTES = 80
