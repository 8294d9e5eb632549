/**
 * A Channel is a named, prioritised lane to every member, with its own messages, requests and
 * answers. `send()` never blocks: it queues in the member's lane for this channel (drop-oldest,
 * bounded; a `key` replaces a queued message with the same key, a `deadline` expires it).
 * Requests are correlated by id (the answer carries the request's id: in-reply-to) and time out,
 * can be aborted, and may be answered by one message or a stream of parts.
 *
 * Both sides must open a channel by name; what arrives for a channel this node has not opened is
 * dropped and counted (`stats().unknownChannel` on the node), and a request to it fails with
 * `no-handler`. The channel object routes to the Router; it holds no state of the network itself.
 */
import { TypedEventEmitter } from 'main-event'
import type { LaneSpec } from '../queue/lanes.ts'
import type { Slots } from './responder.ts'
import type { NodeId } from '../peers/membership.ts'
import { describeType } from '../validate.ts'
import type { Quota, QuotaState, RateLimit } from './quota.ts'
import type { ReceivedCounter, Router } from './router.ts'
import type { AbortOptions } from '../types.ts'

export interface ChannelOptions {
  /** 0 (most urgent) to 7. Default 4, the default channel's. */
  priority?: number
  /**
   * Messages are numbered, acknowledged, written again after a reconnect and de-duplicated: while
   * both processes live, each arrives exactly once and in order unless counted `dropped`. Default false.
   */
  reliable?: boolean
  /** Messages queued per member on this channel before the oldest is dropped. Default: the node's `sendBufferSize`. */
  sendBufferSize?: number
  /** Bytes queued per member on this channel before the oldest is dropped. Default: the node's `sendBufferBytes`. */
  sendBufferBytes?: number
  /** Requests served at once per member; more wait their turn (`maxQueuedRequests`). Default 16. */
  maxConcurrentRequests?: number
  /**
   * Requests per member that wait, in order, while `maxConcurrentRequests` are served (and at
   * most 1 MiB of them); one more is answered `busy` at once. 0: answer `busy` at once. Default 1,024.
   */
  maxQueuedRequests?: number
  /** Our own requests in flight on this channel; one more fails `busy` at once. Default 4,096. */
  maxPendingRequests?: number
  /** ms to wait for an answer (for a stream: for each next part). Default 10 s. */
  requestTimeout?: number
  /** Largest answer (for a stream: part) accepted or sent. Default and maximum: the node's `maxMessageSize`. */
  maxResponseSize?: number
  /**
   * An inbound quota per member (GCRA): at most `messages` messages (requests included) and
   * `bytes` bytes of payload per `per` ms, in bursts of up to the whole allowance. Past it,
   * messages are dropped and requests answered `busy`, counted `rateLimited`. Not with `reliable`
   * (a reliable message must not be dropped). Default: none.
   */
  rateLimit?: RateLimit
}

export interface SendOptions {
  /** Replaces a message with the same key still queued for that member on this channel; the new one keeps its place. At most 1,024 characters. */
  key?: string
  /** Epoch ms: a message still queued then is never written (counted `expired`). */
  deadline?: number
}

export interface RequestOptions extends AbortOptions {
  /** ms to wait for the answer (for a stream: for each next part). Default: the channel's `requestTimeout`. */
  timeout?: number
}

export interface HandlerContext {
  /** The member that asked. */
  from: NodeId
  /** Aborts when the requester gives up (abort, timeout, stops iterating), its stream dies, it leaves, or the node stops. */
  signal: AbortSignal
}

/** Answers a request: one message, or a stream of parts (e.g. an async generator). */
export type RequestHandler = (data: Uint8Array, context: HandlerContext) => Promise<Uint8Array | AsyncIterable<Uint8Array>> | Uint8Array | AsyncIterable<Uint8Array>

export interface ChannelMessageDetail {
  from: NodeId
  /** The message; may be a view into a larger receive buffer: copy it to keep many for long. */
  data: Uint8Array
}

export interface ChannelEvents {
  message: CustomEvent<ChannelMessageDetail>
}

export interface ChannelMemberStats {
  /** Messages (and requests and answers) waiting in this channel's lane to the member. */
  queued: number
  /** Handed to the stream. */
  sent: number
  /** Dropped from a full lane (oldest first), in a write the stream refused, or because the member speaks only 1.0.0. */
  dropped: number
  /**
   * Messages written to a stream that died before the member reported reading them (1.1.0 only);
   * may include some that did arrive. Always 0 on a reliable channel, which writes them again.
   */
  lost: number
  /** Replaced in the lane by a newer message with the same key. */
  superseded: number
  /** Not written: their deadline passed while they were queued. */
  expired: number
  /** Messages delivered from the member on this channel. */
  received: number
  /** Reliable channels: messages written to the member and not yet acknowledged (they count against the lane's bounds). */
  unacked: number
  /** Reliable channels: messages written again after a reconnect. */
  retransmitted: number
  /** Reliable channels: messages from the member that arrived again and were not delivered twice. */
  duplicatesSuppressed: number
  /** Messages and requests from the member over the channel's `rateLimit`: dropped, or answered `busy`. */
  rateLimited: number
}

export interface RequestStats {
  /** Our requests written to the stream (or delivered to this node's own handler). */
  sent: number
  /** Our requests answered (for a stream: ended normally). */
  succeeded: number
  /** Our requests that failed with a `RequestError` other than `timeout`. */
  failed: number
  timedOut: number
  /** Our requests given up by the caller: aborted, or a stream no longer iterated. */
  aborted: number
  /** Requests from members that our handler answered. */
  served: number
  /** Requests from members answered `busy`: `maxConcurrentRequests` were being served for that member and `maxQueuedRequests` waited. */
  rejectedBusy: number
}

export interface ChannelStats {
  members: Record<NodeId, ChannelMemberStats>
  requests: RequestStats
}

export interface ResolvedChannelOptions {
  readonly priority: number
  readonly reliable: boolean
  readonly sendBufferSize: number
  readonly sendBufferBytes: number
  readonly maxConcurrentRequests: number
  readonly maxQueuedRequests: number
  readonly maxPendingRequests: number
  readonly requestTimeout: number
  readonly maxResponseSize: number
  readonly rateLimit: Readonly<RateLimit> | undefined
}
export const MAX_CONCURRENT_REQUESTS = 16
export const MAX_QUEUED_REQUESTS = 1024
/** Longest `key` of a message (it is kept with the message, outside the byte bound). */
export const MAX_KEY_LENGTH = 1024
export const MAX_PENDING_REQUESTS = 4096
export const REQUEST_TIMEOUT = 10_000

/** What the router keeps of a channel: its lane spec, options, handler and counters. */
export interface ChannelCore {
  readonly channel: Channel
  readonly spec: LaneSpec
  readonly options: ResolvedChannelOptions
  handler: RequestHandler | undefined
  onMessage: ((from: NodeId, data: Uint8Array) => void) | undefined
  readonly requests: RequestStats
  /** The inbound quota, if `rateLimit` is set. */
  readonly quota: Quota | undefined
  /** What each member delivered, and where it stands against the quota (a holder: a delivery bumps it without a map lookup). */
  readonly received: Map<NodeId, MemberInbound>
  /** Reliable messages that arrived again, by member. */
  readonly duplicates: Map<NodeId, number>
  /** Requests being served and waiting, by member. */
  readonly serving: Map<NodeId, Slots>
  /** Our requests in flight. */
  pending: number
}

/** One member's deliveries on one channel. */
export interface MemberInbound extends ReceivedCounter, QuotaState {
  rateLimited: number
}

/** `handler` if it is a function or undefined; a TypeError otherwise. */
export function checkHandler<T> (call: string, handler: T): T {
  if (handler !== undefined && typeof handler !== 'function') throw new TypeError(`${call}() takes a function or undefined, got ${describeType(handler)}`)
  return handler
}

export class Channel extends TypedEventEmitter<ChannelEvents> {
  readonly name: string
  readonly options: ResolvedChannelOptions
  readonly #router: Router
  readonly #core: ChannelCore

  /** Not for users: `net.channel(name, options)` opens a channel. */
  constructor (router: Router, core: ChannelCore) {
    super()
    this.name = core.spec.name
    this.options = core.options
    this.#router = router
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
    this.#router.send(this.#core, to, data, options)
  }

  /** Queues `data` for every member except this node. */
  broadcast (data: Uint8Array, options?: SendOptions): void {
    this.#router.broadcast(this.#core, data, options)
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
    return this.#router.requests.request(this.#core, to, data, options)
  }

  /**
   * Sends a request to member `to` and yields the parts of its answer as they arrive (a one-message
   * answer is one part). Stopping the iteration cancels the request at the responder.
   */
  requestStream (to: NodeId, data: Uint8Array, options?: RequestOptions): AsyncIterable<Uint8Array> {
    return this.#router.requests.requestStream(this.#core, to, data, options)
  }

  stats (): ChannelStats {
    return this.#router.channelStats(this.#core)
  }
}
