/**
 * A resolver's key: a string or bytes, at most `maxKeySize` bytes as sent. A key is sent,
 * hex-encoded into an id and cached, so its size bounds all three. Its id is a Map key in which a
 * string and bytes never collide, and an error message shows at most its first few bytes.
 */
import { describeType } from '../validate.ts'

export type Key = string | Uint8Array

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Throws unless `key` is a string or a Uint8Array of at most `max` bytes as sent (UTF-8 for a string). */
export function checkKey (name: string, key: unknown, max: number): asserts key is Key {
  if (typeof key === 'string') {
    // a UTF-16 unit takes 1 to 3 bytes of UTF-8: encode only a key that may not fit, never a long one
    if (3 * key.length <= max) return
    const size = key.length > max ? undefined : encoder.encode(key).byteLength
    if (size !== undefined && size <= max) return
    throw new RangeError(`${name} exceeds maxKeySize (${max} bytes): ${size === undefined ? `${key.length} characters` : `${size} bytes of UTF-8`}`)
  }
  if (!(key instanceof Uint8Array)) throw new TypeError(`${name} must be a string or a Uint8Array, got ${describeType(key)}`)
  if (key.byteLength > max) throw new RangeError(`${name} exceeds maxKeySize (${max} bytes): ${key.byteLength} bytes`)
}

/** A Map key for `key`: strings and bytes never collide. */
export function keyId (key: Key): string {
  return typeof key === 'string' ? 's' + key : 'b' + hex(key)
}

/** The two ASCII hex digits of each byte value, at 2 * value. */
const HEX_DIGITS = new Uint8Array(512)
for (let b = 0; b < 256; b++) {
  HEX_DIGITS[2 * b] = '0123456789abcdef'.charCodeAt(b >> 4)
  HEX_DIGITS[2 * b + 1] = '0123456789abcdef'.charCodeAt(b & 15)
}

/**
 * Lower-case hex of `bytes`, written into one buffer and decoded once: building it a string per
 * byte costs a string and a concatenation per byte (96 ms and tens of MB of garbage for 1 MiB),
 * and an id is made on every fetch and every request served.
 */
function hex (bytes: Uint8Array): string {
  const out = new Uint8Array(2 * bytes.byteLength)
  for (let i = 0; i < bytes.byteLength; i++) {
    const d = 2 * bytes[i]
    out[2 * i] = HEX_DIGITS[d]
    out[2 * i + 1] = HEX_DIGITS[d + 1]
  }
  return decoder.decode(out)
}

/** Bytes (or characters) of a key shown in an error message. */
const DESCRIBED = 32

/** `key` for an error message: at most its first DESCRIBED bytes or characters, so that a message stays short. */
export function describe (key: Key): string {
  if (typeof key === 'string') return key.length <= DESCRIBED ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, DESCRIBED))}... (${key.length} characters)`
  return `key 0x${hex(key.subarray(0, DESCRIBED))}${key.byteLength <= DESCRIBED ? '' : `... (${key.byteLength} bytes)`}`
}
