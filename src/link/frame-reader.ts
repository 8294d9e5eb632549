/**
 * A FrameReader turns the frames of one inbound stream into calls on its `inbound`, in order, as
 * the decoder hands them out: it checks each frame's body against the wire format of its kind,
 * makes one view (of the payload), and keeps what the format makes the stream remember: on a
 * 1.1.0 stream its channel bindings (number -> name, at most MAX_BINDINGS) and the writer's
 * session (its HELLO). A body that breaks the format fails the decoder (`fail`), which stops.
 *
 * `inbound` may be swapped between two frames (a handler may do it while its frame is handed
 * out): the next frame goes to the new one.
 */
import { EMPTY, FRAME_BIND, FRAME_CANCEL, FRAME_CHANNEL, FRAME_CREDIT, FRAME_END, FRAME_ERROR, FRAME_HELLO, FRAME_MESSAGE, FRAME_PART, FRAME_PING, FRAME_RELIABLE, FRAME_REQUEST, FRAME_RESPONSE, MAX_ERROR_CODE, MAX_KIND_1_0, MAX_KIND_1_1, readVarint, varintEnd } from '../wire/frames.ts'
import { bodyOf, FrameDecoder } from '../wire/decoder.ts'

/** What a Receiver hands its frames to. */
export interface Inbound {
  /** A message of the default channel. */
  message: (data: Uint8Array) => void
  /** A message of the channel named `name`. */
  channel: (name: string, data: Uint8Array) => void
  /** Message `seq` of the reliable channel named `name`, in the writer's session. */
  reliable: (name: string, seq: number, data: Uint8Array) => void
  /** The writer's session: a new one means the writer restarted. */
  hello: (session: number) => void
  request: (name: string, id: number, data: Uint8Array) => void
  /** FRAME_RESPONSE, FRAME_PART, FRAME_END or FRAME_ERROR (code in `n`) for our request `id`. */
  reply: (kind: number, id: number, n: number, data: Uint8Array) => void
  /** FRAME_CANCEL, or FRAME_CREDIT of `n` parts, for the peer's request `id`. */
  control: (kind: number, id: number, n: number) => void
}

function noop (): void {}

/** Where a closed Receiver's frames go: nowhere. */
export const DETACHED: Inbound = { message: noop, channel: noop, reliable: noop, hello: noop, request: noop, reply: noop, control: noop }

/** Longest channel name, in bytes of UTF-8. */
export const MAX_CHANNEL_NAME_BYTES = 64
/** Channel numbers one stream may bind; one BIND more resets it ('too-many-channels'). */
export const MAX_BINDINGS = 256
/**
 * What a REQUEST costs beyond its frame, so that a turn's budget is about the same CPU whatever
 * the frames: it starts a handler and queues an answer, 2.2-2.4 µs for a 32 B request answered
 * at once against 45-53 ns for a 32 B message of a named channel, 43-50 times (five runs of
 * `node benchmarks/receive-path.ts`). A turn holds 22 small requests.
 */
export const REQUEST_COST = 44
/** Longest error message carried by FRAME_ERROR, in bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 1024

const utf8 = new TextDecoder('utf-8', { fatal: true })

export class FrameReader {
  /** The stream's decoder, whose frames this reader checks and hands on. */
  readonly decoder: FrameDecoder
  inbound: Inbound
  /** The writer's session from its HELLO (at most one per stream), or -1 before it. */
  session = -1
  /** Channel numbers bound on this stream, and the other way round. */
  readonly #names = new Map<number, string>()
  readonly #numbers = new Map<string, number>()

  /** `channels`: the stream speaks 1.1.0 (channels and requests). */
  constructor (maxMessageSize: number, channels: boolean, inbound: Inbound) {
    this.inbound = inbound
    this.decoder = new FrameDecoder(maxMessageSize, this.#onFrame, channels ? MAX_KIND_1_1 : MAX_KIND_1_0)
  }

  /** The number channel `name` is bound to on this stream, if it is. */
  numberOf (name: string): number | undefined {
    return this.#numbers.get(name)
  }

  /**
   * One frame: `kind`, body `buf[start, end)`; one view is made, of the payload. Returns false
   * (from the decoder's `fail`) when the body breaks the format.
   */
  readonly #onFrame = (kind: number, buf: Uint8Array, start: number, end: number): false | undefined => {
    const decoder = this.decoder
    if (kind === FRAME_MESSAGE) {
      // a 1.1.0 decoder lets frames exceed maxMessageSize by their fields: a message has none
      if (end - start > decoder.maxMessageSize) return decoder.fail('too-large')
      this.inbound.message(bodyOf(buf, start, end))
      return
    }
    if (kind === FRAME_CHANNEL) {
      // the other hot kind, kept apart from the rest so that this function stays small
      const channel = readVarint(buf, start, end)
      if (channel < 0) return decoder.fail('malformed-body')
      const name = this.#names.get(channel)
      if (name === undefined) return decoder.fail('unbound-channel')
      const at = varintEnd
      if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
      this.inbound.channel(name, bodyOf(buf, at, end))
      return
    }
    return this.#onOther(kind, buf, start, end)
  }

  /** Every kind but MESSAGE and CHANNEL. */
  #onOther (kind: number, buf: Uint8Array, start: number, end: number): false | undefined {
    const decoder = this.decoder
    if (kind === FRAME_PING) {
      if (end !== start) decoder.fail('malformed-body')
      return
    }
    const a = readVarint(buf, start, end)
    if (a < 0) return decoder.fail('malformed-body')
    let at = varintEnd
    switch (kind) {
      case FRAME_REQUEST:
      case FRAME_RELIABLE: {
        const name = this.#names.get(a)
        if (name === undefined) return decoder.fail('unbound-channel')
        if (kind === FRAME_RELIABLE) {
          const seq = readVarint(buf, at, end)
          if (seq < 1 || this.session < 0) return decoder.fail('malformed-body')
          at = varintEnd
          if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
          this.inbound.reliable(name, seq, bodyOf(buf, at, end))
          return
        }
        const id = readVarint(buf, at, end)
        if (id < 1) return decoder.fail('malformed-body')
        at = varintEnd
        if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
        decoder.budget -= REQUEST_COST
        this.inbound.request(name, id, bodyOf(buf, at, end))
        return
      }
      case FRAME_BIND: {
        const bytes = end - at
        if (a < 1 || bytes < 1 || bytes > MAX_CHANNEL_NAME_BYTES || this.#names.has(a)) return decoder.fail('malformed-body')
        if (this.#names.size >= MAX_BINDINGS) return decoder.fail('too-many-channels')
        let name: string
        try {
          name = utf8.decode(buf.subarray(at, end))
        } catch {
          return decoder.fail('malformed-body')
        }
        this.#names.set(a, name)
        this.#numbers.set(name, a)
        return
      }
      case FRAME_HELLO:
        if (this.session >= 0 || at !== end) return decoder.fail('malformed-body')
        this.session = a
        this.inbound.hello(a)
        return
      case FRAME_RESPONSE:
      case FRAME_PART:
        if (a < 1) return decoder.fail('malformed-body')
        if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
        this.inbound.reply(kind, a, -1, bodyOf(buf, at, end))
        return
      case FRAME_END:
      case FRAME_CANCEL:
        if (a < 1 || at !== end) return decoder.fail('malformed-body')
        if (kind === FRAME_END) this.inbound.reply(kind, a, -1, EMPTY)
        else this.inbound.control(kind, a, -1)
        return
      case FRAME_ERROR: {
        const code = at < end ? buf[at] : 0
        if (a < 1 || code < 1 || code > MAX_ERROR_CODE || end - at - 1 > MAX_ERROR_MESSAGE_BYTES) return decoder.fail('malformed-body')
        this.inbound.reply(kind, a, code, bodyOf(buf, at + 1, end))
        return
      }
      case FRAME_CREDIT: {
        const n = readVarint(buf, at, end)
        if (a < 1 || n < 1 || varintEnd !== end) return decoder.fail('malformed-body')
        this.inbound.control(kind, a, n)
      }
    }
  }
}
