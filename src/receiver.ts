/**
 * A Receiver reads one inbound stream and hands each message to `deliver`, in order, synchronously
 * as the bytes arrive: no queue of its own, no promise per message. Who the sender is comes from
 * the connection's Noise-authenticated peer ID, fixed when the stream is accepted; the owner
 * decides what `deliver` does (emit from a member, or hold while the peer is tentative) and may
 * swap it between two messages, which is how a tentative peer is promoted without reordering.
 *
 * A stream that breaks the wire format is reset and reported once through `onInvalid`.
 */
import { FrameDecoder } from './framing.ts'
import type { InvalidFrameError } from './errors.ts'
import type { Stream, StreamMessageEvent } from '@libp2p/interface'

export interface ReceiverInit {
  /** The remote peer ID (string form), from the connection. */
  peer: string
  maxMessageSize: number
  deliver: (data: Uint8Array) => void
  /** The stream broke the format; it has been reset. Called before `onClose`. */
  onInvalid: (receiver: Receiver, err: InvalidFrameError) => void
  /** The stream closed for any reason. */
  onClose: (receiver: Receiver) => void
}

export class Receiver {
  readonly peer: string
  readonly stream: Stream
  deliver: (data: Uint8Array) => void
  readonly #decoder: FrameDecoder
  readonly #init: ReceiverInit

  constructor (stream: Stream, init: ReceiverInit) {
    this.stream = stream
    this.peer = init.peer
    this.deliver = init.deliver
    this.#init = init
    this.#decoder = new FrameDecoder(init.maxMessageSize, data => { this.deliver(data) })
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('remoteCloseWrite', this.#onRemoteCloseWrite, { once: true })
    stream.addEventListener('end', this.#onEnd, { once: true })
    stream.addEventListener('close', () => { init.onClose(this) }, { once: true })
  }

  /**
   * Resets the stream and delivers nothing more, not even the rest of the chunk being decoded
   * (a 'message' handler may remove the sender in the middle of one).
   */
  close (reason: string): void {
    this.#detach()
    this.stream.abort(new Error(reason))
  }

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    const data = evt.data
    const decoder = this.#decoder
    if (data instanceof Uint8Array) {
      if (!decoder.push(data)) this.#invalid()
      return
    }
    for (const chunk of data) {
      if (!decoder.push(chunk)) {
        this.#invalid()
        return
      }
    }
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
    this.#detach() // abort() dispatches 'end' synchronously: the violation is reported once
    const err = this.#decoder.error!
    this.#init.onInvalid(this, err)
    this.stream.abort(err)
  }

  #detach (): void {
    this.deliver = noop
    this.#decoder.stop()
    this.stream.removeEventListener('message', this.#onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
    this.stream.removeEventListener('end', this.#onEnd)
  }
}

function noop (): void {}
