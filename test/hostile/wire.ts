/**
 * The consensus-net wire, 1.0.0 and 1.1.0, written from docs/wire.md alone
 * (nothing from src/): what a hostile peer needs to speak it. An encoder for every kind, and a
 * push decoder that splits a byte stream into frames and reads the fields of the kinds a victim
 * sends back (FLOW, ACK, HELLO_BACK on the reverse direction; HELLO, BIND, RESPONSE, PART, END,
 * ERROR, PING, CHANNEL, MESSAGE on its own stream).
 *
 *   frame = uvarint(N) kind body     N = 1 + body length
 */

/** Protocol IDs, as docs/wire.md writes them. */
export const WIRE_1_1 = '/consensus-net/1.1.0'
export const WIRE_1_0 = '/consensus-net/1.0.0'

/** Kinds in the writing direction (0x00-0x0C) and in the reverse one (0x40-0x42). */
export const KIND = {
  MESSAGE: 0x00,
  BIND: 0x01,
  CHANNEL: 0x02,
  REQUEST: 0x03,
  RESPONSE: 0x04,
  PART: 0x05,
  END: 0x06,
  ERROR: 0x07,
  CANCEL: 0x08,
  CREDIT: 0x09,
  RELIABLE: 0x0a,
  PING: 0x0b,
  HELLO: 0x0c,
  FLOW: 0x40,
  ACK: 0x41,
  HELLO_BACK: 0x42
} as const

/** ERROR codes. */
export const CODE = { busy: 1, 'no-handler': 2, 'remote-error': 3, 'too-large': 4, dropped: 5 } as const

const utf8 = new TextEncoder()

/** Bytes of `n` as a minimal unsigned LEB128 (n a non-negative safe integer). */
export function uvarint (n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`uvarint of ${n}`)
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

export function concat (parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.byteLength
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

const bytesOf = (b: Uint8Array | string): Uint8Array => typeof b === 'string' ? utf8.encode(b) : b

/** One frame: `kind` and its body (the fields, then the payload). */
export function frame (kind: number, ...body: Uint8Array[]): Uint8Array {
  const b = concat(body)
  return concat([uvarint(1 + b.byteLength), Uint8Array.of(kind), b])
}

const EMPTY = new Uint8Array(0)

/** The encoders, one per kind, as docs/wire.md's table lays out their bodies. */
export const encode = {
  message: (payload: Uint8Array = EMPTY) => frame(KIND.MESSAGE, payload),
  bind: (ch: number, name: Uint8Array | string) => frame(KIND.BIND, uvarint(ch), bytesOf(name)),
  channel: (ch: number, payload: Uint8Array = EMPTY) => frame(KIND.CHANNEL, uvarint(ch), payload),
  request: (ch: number, id: number, payload: Uint8Array = EMPTY) => frame(KIND.REQUEST, uvarint(ch), uvarint(id), payload),
  response: (id: number, payload: Uint8Array = EMPTY) => frame(KIND.RESPONSE, uvarint(id), payload),
  part: (id: number, payload: Uint8Array = EMPTY) => frame(KIND.PART, uvarint(id), payload),
  end: (id: number) => frame(KIND.END, uvarint(id)),
  error: (id: number, code: number, message: Uint8Array | string = EMPTY) => frame(KIND.ERROR, uvarint(id), Uint8Array.of(code), bytesOf(message)),
  cancel: (id: number) => frame(KIND.CANCEL, uvarint(id)),
  credit: (id: number, n: number) => frame(KIND.CREDIT, uvarint(id), uvarint(n)),
  reliable: (ch: number, seq: number, payload: Uint8Array = EMPTY) => frame(KIND.RELIABLE, uvarint(ch), uvarint(seq), payload),
  ping: () => frame(KIND.PING),
  hello: (session: number) => frame(KIND.HELLO, uvarint(session)),
  flow: (total: number) => frame(KIND.FLOW, uvarint(total)),
  ack: (ch: number, seq: number) => frame(KIND.ACK, uvarint(ch), uvarint(seq)),
  helloBack: (session: number) => frame(KIND.HELLO_BACK, uvarint(session))
}

/** A decoded frame. `a` and `b` are its leading uvarint fields where its kind has them (else -1). */
export interface Frame {
  kind: number
  /** The whole body, fields included. */
  body: Uint8Array
  /** First field: ch (BIND, CHANNEL, REQUEST, RELIABLE, ACK), id (RESPONSE ... CREDIT), total (FLOW), session (HELLO, HELLO_BACK). */
  a: number
  /** Second field: id (REQUEST), seq (RELIABLE, ACK), n (CREDIT), the one-byte code (ERROR). */
  b: number
  /** What follows the fields: payload, name (BIND), message (ERROR). */
  rest: Uint8Array
}

/** Reads a uvarint at `at` of `buf`; [value, next offset], or undefined if truncated or longer than 7 bytes. */
export function readUvarint (buf: Uint8Array, at: number, end = buf.byteLength): [number, number] | undefined {
  let n = 0
  let scale = 1
  for (let i = 0; i < 7 && at + i < end; i++) {
    const byte = buf[at + i]
    n += (byte & 0x7f) * scale
    if (byte < 0x80) return [n, at + i + 1]
    scale *= 0x80
  }
  return undefined
}

/** How many uvarint fields lead each kind's body. */
const FIELDS: Record<number, number> = {
  [KIND.BIND]: 1,
  [KIND.CHANNEL]: 1,
  [KIND.REQUEST]: 2,
  [KIND.RESPONSE]: 1,
  [KIND.PART]: 1,
  [KIND.END]: 1,
  [KIND.ERROR]: 1,
  [KIND.CANCEL]: 1,
  [KIND.CREDIT]: 2,
  [KIND.RELIABLE]: 2,
  [KIND.HELLO]: 1,
  [KIND.FLOW]: 1,
  [KIND.ACK]: 2,
  [KIND.HELLO_BACK]: 1
}

/** The fields of one frame's body, as docs/wire.md lays them out; undefined if they do not parse. */
export function parse (kind: number, body: Uint8Array): Frame | undefined {
  const fields = FIELDS[kind] ?? 0
  let at = 0
  let a = -1
  let b = -1
  if (fields >= 1) {
    const r = readUvarint(body, at)
    if (r === undefined) return undefined
    ;[a, at] = r
  }
  if (fields >= 2) {
    const r = readUvarint(body, at)
    if (r === undefined) return undefined
    ;[b, at] = r
  }
  if (kind === KIND.ERROR) {
    if (at >= body.byteLength) return undefined
    b = body[at++]
  }
  return { kind, body, a, b, rest: body.subarray(at) }
}

/**
 * Splits a byte stream into frames, whatever the chunking; `onFrame` gets each in order. A frame
 * longer than `maxFrame` (or a length that does not parse) stops the decoder: `error` says why.
 */
export class WireDecoder {
  readonly #onFrame: (f: Frame) => void
  readonly #maxFrame: number
  #buf = new Uint8Array(0)
  /** Bytes consumed: frames handed out in full. */
  consumed = 0
  error: string | undefined

  constructor (onFrame: (f: Frame) => void, maxFrame = 16 * 1024 * 1024) {
    this.#onFrame = onFrame
    this.#maxFrame = maxFrame
  }

  push (chunk: Uint8Array): void {
    if (this.error !== undefined) return
    const buf = this.#buf.byteLength === 0 ? chunk : concat([this.#buf, chunk])
    let at = 0
    while (at < buf.byteLength) {
      const len = readUvarint(buf, at)
      if (len === undefined) {
        if (buf.byteLength - at >= 7) this.error = 'length prefix does not parse'
        break
      }
      const [n, start] = len
      if (n < 1 || n > this.#maxFrame) {
        this.error = `frame length ${n}`
        break
      }
      if (start + n > buf.byteLength) break
      const f = parse(buf[start], buf.subarray(start + 1, start + n))
      if (f === undefined) {
        this.error = `kind 0x${buf[start].toString(16)}: fields do not parse`
        break
      }
      this.consumed += start + n - at
      at = start + n
      this.#onFrame(f)
    }
    this.#buf = at === buf.byteLength ? new Uint8Array(0) : buf.slice(at)
  }
}
