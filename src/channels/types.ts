/**
 * The shapes the channel layer shares: types and defaults, no code. First what the user sees of a
 * channel (its options, events, handlers and stats, with the defaults of its options); then what
 * the layer keeps of a channel (ChannelCore) and of a member's deliveries and requests, and what
 * it asks of the node (RouterHost, Outbox). The Channel, the RequestTable, the Responder and the
 * Router all build on this file, and it on none of them.
 */
import type { TypedEventEmitter } from 'main-event'
import type { Lanes } from '../queue/lanes.ts'
import type { LaneSpec } from '../queue/lane.ts'
import type { Quota, QuotaState, RateLimit } from './quota.ts'
import type { NodeId } from '../types.ts'
import type { Clock, Random } from '../clock.ts'
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

// Defaults of the options above (sendBufferSize, sendBufferBytes and maxResponseSize come from the node's init)
export const MAX_CONCURRENT_REQUESTS = 16
export const MAX_QUEUED_REQUESTS = 1024
/** Longest `key` of a message (it is kept with the message, outside the byte bound). */
export const MAX_KEY_LENGTH = 1024
export const MAX_PENDING_REQUESTS = 4096
export const REQUEST_TIMEOUT = 10_000

/** What the layer keeps of an open channel: its lane spec, options, handlers and counters. */
export interface ChannelCore {
  /** Where its messages are dispatched as `'message'` events: the Channel itself. */
  readonly channel: TypedEventEmitter<ChannelEvents>
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

/** Counts what a member delivered, on every channel. */
export interface ReceivedCounter {
  received: number
}

/** One member's deliveries on one channel. */
export interface MemberInbound extends ReceivedCounter, QuotaState {
  rateLimited: number
}

/** One member's requests on one channel, as the Responder serves them: those running, and those waiting their turn, in order. */
export interface Slots {
  running: number
  readonly waiting: WaitingRequest[]
  /** Bytes of the waiting requests. */
  bytes: number
}

/** A request in Slots that waits its turn. */
export interface WaitingRequest {
  /** The request, while it waits (a copy: a view would pin the chunk it arrived in). */
  data: Uint8Array | undefined
  /** Serves it, when its turn comes. */
  run: (data: Uint8Array) => Promise<void>
}

/** Where a member's frames are queued: its Dispatcher, or this node's Loopback. */
export interface Outbox {
  readonly lanes: Lanes
  /** Something was queued: write it soon. */
  schedule: () => void
}

/** What the channel layer asks of the node: its limits, clock and members' outboxes. */
export interface RouterHost {
  readonly maxMessageSize: number
  readonly sendBufferSize: number
  readonly sendBufferBytes: number
  /** This node's node ID, if it is a member. */
  readonly self: NodeId | undefined
  readonly clock: Clock
  /** Request ids start at a random number. */
  readonly random: Random
  /** Told of every message delivered on a channel (a simulation's digest). */
  readonly onDelivery?: (from: NodeId, channel: string, data: Uint8Array) => void
  /** Throws `NotStartedError` unless started. */
  assertStarted: () => void
  /** Member `node`'s outbox; undefined if it is not a member. */
  outbox: (node: NodeId) => Outbox | undefined
  /** Every member's outbox, this node's included. */
  outboxes: () => Iterable<[NodeId, Outbox]>
}
