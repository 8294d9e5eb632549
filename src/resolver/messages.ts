/**
 * A resolver's two messages, carried inside its channel's requests: a request is one byte, the
 * key's type (0: bytes, 1: UTF-8 string), and the key's bytes; an answer is one byte (1: found,
 * then the value; 0: missing).
 */
import type { Key } from './key.ts'

/** A request's first byte: the key's type. */
const BYTES_KEY = 0
const STRING_KEY = 1
const FOUND = 1
/** The answer "missing". */
export const NOT_FOUND = Uint8Array.of(0)
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeRequest (key: Key): Uint8Array {
  const bytes = typeof key === 'string' ? encoder.encode(key) : key
  const out = new Uint8Array(bytes.byteLength + 1)
  out[0] = typeof key === 'string' ? STRING_KEY : BYTES_KEY
  out.set(bytes, 1)
  return out
}

/**
 * Why a request this resolver would not send (no key, an unknown key type, a key over
 * `maxKeySize`) is refused: a message shorter than the request (none for the shortest ones), or
 * undefined for a request to serve.
 */
export function refusal (request: Uint8Array, maxKeySize: number): string | undefined {
  return request.byteLength === 0 || (request[0] !== BYTES_KEY && request[0] !== STRING_KEY)
    ? ''
    : request.byteLength - 1 > maxKeySize ? 'key too large' : undefined
}

/** The key of a request `refusal` let through. */
export function decodeRequest (request: Uint8Array): Key {
  // a copy: `request` may be a Buffer, whose slice() is a view into the receive buffer
  return request[0] === STRING_KEY ? decoder.decode(request.subarray(1)) : new Uint8Array(request.subarray(1))
}

export function encodeFound (value: Uint8Array): Uint8Array {
  const answer = new Uint8Array(value.byteLength + 1)
  answer[0] = FOUND
  answer.set(value, 1)
  return answer
}

/** The value an answer holds, or undefined for "missing". */
export function decodeAnswer (answer: Uint8Array): Uint8Array | undefined {
  if (answer.byteLength === 0 || answer[0] !== FOUND) return undefined
  // a copy: a view would keep the whole receive buffer alive in the cache, unaccounted for by maxBytes
  return new Uint8Array(answer.subarray(1))
}
