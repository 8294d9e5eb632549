/**
 * The bytes of each attack, built from test/hostile/wire.ts alone: what the hostile tests write
 * and what `npm run bench -- hostile` writes. Each builder makes one write's worth, cheaply (byte
 * by byte, no frame objects): an attacker that shares a process with an honest member, or that
 * is measured against one, must not spend its CPU building frames.
 */
import { KIND, concat, encode, uvarint } from './wire.ts'

/** The longest channel name (docs/wire.md: 1-64 bytes of UTF-8). */
const NAME_BYTES = 64
const utf8 = new TextEncoder()

/** Writes a 64-byte name for number `n` (its digits, padded with `pad`) at `at`; returns the offset after it. */
function writeName (out: Uint8Array, at: number, n: number, pad: number): number {
  out.fill(pad, at, at + NAME_BYTES)
  const digits = utf8.encode(String(n))
  out.set(digits, at + NAME_BYTES - digits.byteLength)
  return at + NAME_BYTES
}

/** (a) BIND frames of channel numbers first, first + 1, ... (`count` of them), each to a new 64-byte name. */
export function bindings (first: number, count: number): Uint8Array {
  const out = new Uint8Array(count * (2 + 8 + NAME_BYTES))
  let at = 0
  for (let n = first; n < first + count; n++) {
    const ch = uvarint(n)
    out[at++] = 1 + ch.byteLength + NAME_BYTES // N: one byte while it is below 128
    out[at++] = KIND.BIND
    out.set(ch, at)
    at += ch.byteLength
    at = writeName(out, at, n, 0x62)
  }
  return out.subarray(0, at)
}

/** Bindings per stream in (b): within the 256 a stream may make ((a) is another attack). */
export const NAMES_PER_STREAM = 256

/**
 * (b) A whole stream: HELLO(session), then for channel numbers 1-256 a BIND to a new 64-byte name
 * (numbered from `first`, never repeated) and RELIABLE seq 1 with a one-byte payload.
 */
export function reliableNames (session: number, first: number): Uint8Array {
  const hello = encode.hello(session)
  const out = new Uint8Array(hello.byteLength + NAMES_PER_STREAM * (2 + 2 + NAME_BYTES + 6))
  out.set(hello)
  let at = hello.byteLength
  for (let ch = 1; ch <= NAMES_PER_STREAM; ch++) {
    const c = uvarint(ch)
    out[at++] = 1 + c.byteLength + NAME_BYTES
    out[at++] = KIND.BIND
    out.set(c, at)
    at += c.byteLength
    at = writeName(out, at, first + ch - 1, 0x72)
    out[at++] = 1 + c.byteLength + 1 + 1 // RELIABLE ch, seq 1, a one-byte payload
    out[at++] = KIND.RELIABLE
    out.set(c, at)
    at += c.byteLength
    out[at++] = 1
    out[at++] = 0x2a
  }
  return out.subarray(0, at)
}

/** Requests of 13,107 x 5 bytes: about 64 KiB, one write of (c). */
export const REQUESTS_PER_WRITE = 13_107

/**
 * (c) `count` REQUEST frames on channel `ch` (below 128), each exactly 5 bytes: length 4, kind,
 * channel, a 2-byte id (128-16383, counted on from `first` and wrapping), empty payload.
 */
export function requests (first: number, count: number, ch = 1): Uint8Array {
  const out = new Uint8Array(count * 5)
  for (let i = 0; i < count; i++) {
    const id = 128 + (first + i) % (16384 - 128)
    out.set([4, KIND.REQUEST, ch, (id & 0x7f) | 0x80, id >> 7], i * 5)
  }
  return out
}

/** (f) About 64 KiB of valid messages, 4 KiB each: default channel and channel 1 in turn. */
export const MESSAGES = concat(Array.from({ length: 16 }, (_, i) => i % 2 === 0
  ? encode.message(new Uint8Array(4096).fill(i))
  : encode.channel(1, new Uint8Array(4096).fill(i))))

/**
 * The value of a resolver key as the victim and the honest member know it ('value of <key>'): a
 * poisoning member answers anything else, which the victim's `validate` must catch.
 */
export function valueOf (key: string | Uint8Array): Uint8Array {
  return utf8.encode(`value of ${typeof key === 'string' ? key : new TextDecoder().decode(key)}`)
}
