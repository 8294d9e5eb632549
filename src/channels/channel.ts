/**
 * A Channel is a named, prioritised lane to every member, with its own messages, requests and
 * answers. `send()` never blocks: it queues in the member's lane for this channel (drop-oldest,
 * bounded; a `key` replaces a queued message with the same key, a `deadline` expires it).
 * Requests are correlated by id (the answer carries the request's id: in-reply-to) and time out,
 * can be aborted, and may be answered by one message or a stream of parts.
 *
 * Both sides must open a channel by name; what arrives for a channel this node has not opened is
 * dropped and counted (`stats().unknownChannel` on the node), and a request to it fails with
 * `no-handler`. The channel object routes to its ChannelHost (the Router); it holds no state of the
 * network itself.
 */
import { TypedEventEmitter } from 'main-event'
import { describeType } from '../validate.ts'
import type { ChannelCore, ChannelEvents, ChannelStats, RequestHandler, RequestOptions, ResolvedChannelOptions, SendOptions } from './types.ts'
import type { NodeId } from '../types.ts'

/** What a Channel asks of the layer that carries it (the Router), handing back its core with each call. */
export interface ChannelHost {
  send: (core: ChannelCore, to: NodeId, data: Uint8Array, options: SendOptions | undefined) => void
  broadcast: (core: ChannelCore, data: Uint8Array, options: SendOptions | undefined) => void
  channelStats: (core: ChannelCore) => ChannelStats
  /** Our requests in flight (the RequestTable). */
  readonly requests: {
    request: (core: ChannelCore, to: NodeId, data: Uint8Array, options?: RequestOptions) => Promise<Uint8Array>
    requestStream: (core: ChannelCore, to: NodeId, data: Uint8Array, options?: RequestOptions) => AsyncIterable<Uint8Array>
  }
}

/** `handler` if it is a function or undefined; a TypeError otherwise. */
export function checkHandler<T> (call: string, handler: T): T {
  if (handler !== undefined && typeof handler !== 'function') throw new TypeError(`${call}() takes a function or undefined, got ${describeType(handler)}`)
  return handler
}

export class Channel extends TypedEventEmitter<ChannelEvents> {
  readonly name: string
  readonly options: ResolvedChannelOptions
  readonly #host: ChannelHost
  readonly #core: ChannelCore

  /** Not for users: `net.channel(name, options)` opens a channel. */
  constructor (host: ChannelHost, core: ChannelCore) {
    super()
    this.name = core.spec.name
    this.options = core.options
    this.#host = host
    this.#core = core
  }

  get priority (): number {
    return this.options.priority
  }

  /**
   * Queues `data` for member `to` on this channel and returns at once (by reference: do not modify
   * it afterwards). Throws `UnknownNodeError` (not a member), `MessageTooLargeError`.
   */
  send (to: NodeId, data: Uint8Array, options?: SendOptions): void {
    this.#host.send(this.#core, to, data, options)
  }

  /** Queues `data` for every member except this node. */
  broadcast (data: Uint8Array, options?: SendOptions): void {
    this.#host.broadcast(this.#core, data, options)
  }

  /**
   * The lean receive path: `handler(from, data)` is called for every message of this channel,
   * synchronously and in order, before any `'message'` listener; no event object is built while
   * the event has no listener. `undefined` removes it.
   */
  onMessage (handler: ((from: NodeId, data: Uint8Array) => void) | undefined): void {
    this.#core.onMessage = checkHandler('onMessage', handler)
  }

  /**
   * Serves requests on this channel with `handler` (replacing any previous one); `undefined`
   * stops serving: requests are then answered `no-handler`.
   */
  handle (handler: RequestHandler | undefined): void {
    this.#core.handler = checkHandler('handle', handler)
  }

  /** Sends a request to member `to` and resolves with its one answer; rejects with `RequestError` or the signal's reason. */
  async request (to: NodeId, data: Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    return this.#host.requests.request(this.#core, to, data, options)
  }

  /**
   * Sends a request to member `to` and yields the parts of its answer as they arrive (a one-message
   * answer is one part). Stopping the iteration cancels the request at the responder.
   */
  requestStream (to: NodeId, data: Uint8Array, options?: RequestOptions): AsyncIterable<Uint8Array> {
    return this.#host.requests.requestStream(this.#core, to, data, options)
  }

  stats (): ChannelStats {
    return this.#host.channelStats(this.#core)
  }
}
