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
    stream.addEventListener('end', this.#onEnd, { once: true })
    stream.addEventListener('close', () => { init.onClose(this) }, { once: true })
  }

  /** Resets the stream. */
  close (reason: string): void {
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

  /** The sender closed its side: fine between frames, a violation inside one. */
  readonly #onEnd = (): void => {
    if (!this.#decoder.end()) {
      this.#invalid()
      return
    }
    this.stream.close().catch(err => { this.stream.abort(err) })
  }

  #invalid (): void {
    // abort() dispatches 'end' synchronously: detach first so the violation is reported once
    this.stream.removeEventListener('message', this.#onMessage)
    this.stream.removeEventListener('end', this.#onEnd)
    const err = this.#decoder.error!
    this.#init.onInvalid(this, err)
    this.stream.abort(err)
  }
}
