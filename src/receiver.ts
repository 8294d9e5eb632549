/**
 * A Receiver reads one inbound stream and hands each frame to its `inbound`, in order,
 * synchronously as the bytes arrive: no queue of its own, no promise per message. Who the
 * sender is comes from the connection's Noise-authenticated peer ID, fixed when the stream is
 * accepted; the owner decides what `inbound` does (deliver from a member, or hold while the peer
 * is tentative) and may swap it between two frames, which is how a tentative peer is promoted
 * without reordering.
 *
 * On a 1.1.0 stream the Receiver keeps the stream's channel bindings (number -> name) and checks
 * every frame's body; a stream that breaks the wire format is reset and reported once through
 * `onInvalid`.
 */
import {
  encodeKindFrame, FrameDecoder, FRAME_BIND, FRAME_FLOW, FRAME_CANCEL, FRAME_CHANNEL, FRAME_CREDIT, FRAME_END, FRAME_ERROR, FRAME_MESSAGE, FRAME_PART,
  FRAME_REQUEST, FRAME_RESPONSE, MAX_ERROR_CODE, MAX_KIND_1_0, MAX_KIND_1_1, readVarint, varintEnd
} from './framing.ts'
import type { InvalidFrameError } from './errors.ts'
import type { Stream, StreamMessageEvent } from '@libp2p/interface'

/** What a Receiver hands its frames to. */
export interface Inbound {
  /** A message of the default channel. */
  message: (data: Uint8Array) => void
  /** A message of the channel named `name`. */
  channel: (name: string, data: Uint8Array) => void
  request: (name: string, id: number, data: Uint8Array) => void
  /** FRAME_RESPONSE, FRAME_PART, FRAME_END or FRAME_ERROR (code in `n`) for our request `id`. */
  reply: (kind: number, id: number, n: number, data: Uint8Array) => void
  /** FRAME_CANCEL, or FRAME_CREDIT of `n` parts, for the peer's request `id`. */
  control: (kind: number, id: number, n: number) => void
}

export interface ReceiverInit {
  /** The remote peer ID (string form), from the connection. */
  peer: string
  maxMessageSize: number
  /** The stream speaks 1.1.0: channels and requests. */
  channels: boolean
  inbound: Inbound
  /** The stream broke the format; it has been reset. Called before `onClose`. */
  onInvalid: (receiver: Receiver, err: InvalidFrameError) => void
  /** The stream closed for any reason. */
  onClose: (receiver: Receiver) => void
}

/** Longest channel name, in bytes of UTF-8. */
export const MAX_CHANNEL_NAME_BYTES = 64
/** Longest error message carried by FRAME_ERROR, in bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 1024

const utf8 = new TextDecoder('utf-8', { fatal: true })

export class Receiver {
  readonly peer: string
  readonly stream: Stream
  inbound: Inbound
  readonly #decoder: FrameDecoder
  readonly #init: ReceiverInit
  /** Channel numbers bound on this stream. */
  readonly #names = new Map<number, string>()
  /** 1.1.0: bytes consumed, and the total last reported to the writer (FRAME_FLOW). */
  #consumed = 0
  #reported = 0
  #reportScheduled = false

  constructor (stream: Stream, init: ReceiverInit) {
    this.stream = stream
    this.peer = init.peer
    this.inbound = init.inbound
    this.#init = init
    this.#decoder = new FrameDecoder(init.maxMessageSize, this.#onFrame, init.channels ? MAX_KIND_1_1 : MAX_KIND_1_0)
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('remoteCloseWrite', this.#onRemoteCloseWrite, { once: true })
    stream.addEventListener('end', this.#onEnd, { once: true })
    stream.addEventListener('close', () => { init.onClose(this) }, { once: true })
  }

  /**
   * Resets the stream and delivers nothing more, not even the rest of the chunk being decoded
   * (a handler may remove the sender in the middle of one).
   */
  close (reason: string): void {
    this.#detach()
    this.stream.abort(new Error(reason))
  }

  readonly #onFrame = (kind: number, body: Uint8Array): void => {
    if (kind === FRAME_MESSAGE) {
      this.inbound.message(body)
      return
    }
    const decoder = this.#decoder
    const a = readVarint(body, 0)
    if (a < 0) return void decoder.fail('malformed-body')
    let at = varintEnd
    switch (kind) {
      case FRAME_CHANNEL:
      case FRAME_REQUEST: {
        const name = this.#names.get(a)
        if (name === undefined) return void decoder.fail('unbound-channel')
        if (kind === FRAME_CHANNEL) {
          if (body.byteLength - at > decoder.maxMessageSize) return void decoder.fail('too-large')
          this.inbound.channel(name, body.subarray(at))
          return
        }
        const id = readVarint(body, at)
        if (id < 1) return void decoder.fail('malformed-body')
        at = varintEnd
        if (body.byteLength - at > decoder.maxMessageSize) return void decoder.fail('too-large')
        this.inbound.request(name, id, body.subarray(at))
        return
      }
      case FRAME_BIND: {
        const bytes = body.byteLength - at
        if (a < 1 || bytes < 1 || bytes > MAX_CHANNEL_NAME_BYTES || this.#names.has(a)) return void decoder.fail('malformed-body')
        let name: string
        try {
          name = utf8.decode(body.subarray(at))
        } catch {
          return void decoder.fail('malformed-body')
        }
        this.#names.set(a, name)
        return
      }
      case FRAME_RESPONSE:
      case FRAME_PART:
        if (a < 1) return void decoder.fail('malformed-body')
        if (body.byteLength - at > decoder.maxMessageSize) return void decoder.fail('too-large')
        this.inbound.reply(kind, a, -1, body.subarray(at))
        return
      case FRAME_END:
      case FRAME_CANCEL:
        if (a < 1 || at !== body.byteLength) return void decoder.fail('malformed-body')
        if (kind === FRAME_END) this.inbound.reply(kind, a, -1, body.subarray(at))
        else this.inbound.control(kind, a, -1)
        return
      case FRAME_ERROR: {
        const code = at < body.byteLength ? body[at] : 0
        if (a < 1 || code < 1 || code > MAX_ERROR_CODE || body.byteLength - at - 1 > MAX_ERROR_MESSAGE_BYTES) return void decoder.fail('malformed-body')
        this.inbound.reply(kind, a, code, body.subarray(at + 1))
        return
      }
      case FRAME_CREDIT: {
        const n = readVarint(body, at)
        if (a < 1 || n < 1 || varintEnd !== body.byteLength) return void decoder.fail('malformed-body')
        this.inbound.control(kind, a, n)
      }
    }
  }

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    const data = evt.data
    const decoder = this.#decoder
    if (data instanceof Uint8Array) {
      if (!decoder.push(data)) return this.#invalid()
    } else {
      for (const chunk of data) if (!decoder.push(chunk)) return this.#invalid()
    }
    if (!this.#init.channels) return
    this.#consumed += data.byteLength
    if (!this.#reportScheduled) {
      // once per turn of the event loop: a burst of chunks costs one report
      this.#reportScheduled = true
      setImmediate(this.#report)
    }
  }

  /** Tells the writer how much was consumed, so it may write more (FRAME_FLOW). */
  readonly #report = (): void => {
    this.#reportScheduled = false
    if (this.#consumed === this.#reported || this.inbound === DETACHED || this.stream.writeStatus !== 'writable') return
    this.#reported = this.#consumed
    try {
      this.stream.send(encodeKindFrame(FRAME_FLOW, this.#consumed, -1))
    } catch {} // closing: its 'close' event follows
  }

  #remoteClosedWrite = false

  readonly #onRemoteCloseWrite = (): void => {
    this.#remoteClosedWrite = true
  }

  /**
   * Nothing more will be read. After the sender closed its side gracefully, ending inside a frame
   * is a violation; a reset, an abort or a lost connection is not the sender breaking the format.
   */
  readonly #onEnd = (): void => {
    if (!this.#remoteClosedWrite || this.stream.status === 'reset' || this.stream.status === 'aborted') return
    if (!this.#decoder.end()) {
      this.#invalid()
      return
    }
    this.stream.close().catch(err => { this.stream.abort(err) })
  }

  #invalid (): void {
    if (this.inbound === DETACHED) return // closed by a handler while its frame was being decoded
    this.#detach() // abort() dispatches 'end' synchronously: the violation is reported once
    const err = this.#decoder.error!
    this.#init.onInvalid(this, err)
    this.stream.abort(err)
  }

  #detach (): void {
    this.inbound = DETACHED
    this.#decoder.stop()
    this.stream.removeEventListener('message', this.#onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
    this.stream.removeEventListener('end', this.#onEnd)
  }
}

function noop (): void {}

/** Where a closed Receiver's frames go: nowhere. */
export const DETACHED: Inbound = { message: noop, channel: noop, request: noop, reply: noop, control: noop }
