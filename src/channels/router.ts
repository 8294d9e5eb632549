/**
 * The Router is the dispatch layer between the membership (ConsensusNet) and the channels: it
 * opens channels, queues their messages in the members' lanes, and routes what a member's stream
 * carries to the right place: a channel's 'message' event, the Responder (requests to us, and the
 * requester's cancel and credit), or the RequestTable (answers to our requests).
 *
 * It reaches the members only through `RouterHost`, so it knows nothing of dialling or streams.
 */
import { Channel, type ChannelHost } from './channel.ts'
import {
  MAX_CONCURRENT_REQUESTS, MAX_KEY_LENGTH, MAX_PENDING_REQUESTS, MAX_QUEUED_REQUESTS, REQUEST_TIMEOUT,
  type ChannelCore, type ChannelOptions, type ChannelStats, type MemberInbound, type Outbox, type ReceivedCounter, type ResolvedChannelOptions, type RouterHost, type SendOptions
} from './types.ts'
import { MessageTooLargeError, UnknownNodeError } from '../errors.ts'
import { ERROR_BUSY } from '../wire/frames.ts'
import { Quota } from './quota.ts'
import { checkBytes, checkOptions, describeType, setOwn, timerMs } from '../validate.ts'
import { DEFAULT_PRIORITY } from '../queue/lanes.ts'
import { type LaneSpec } from '../queue/lane.ts'
import { MAX_CHANNEL_NAME_BYTES, type Inbound } from '../link/frame-reader.ts'
import { type Receiver } from '../link/receiver.ts'
import { RequestTable } from './requests.ts'
import { Responder } from './responder.ts'
import type { NodeId } from '../types.ts'

/** A channel this node has opened: its core, with the Channel itself. */
interface OpenChannel extends ChannelCore {
  readonly channel: Channel
}

/**
 * The channel a member's last message went to, and that member's count on it: a run of messages
 * on one channel (what one chunk usually holds) costs no lookup. A memo lives no longer than its
 * inbound, and an inbound no longer than its member's state: a member that leaves has its
 * receivers closed (or handed a new inbound) before `memberLeft` drops its counts, and channels
 * are never closed, so what a memo holds cannot go stale.
 */
interface DeliveryMemo {
  name: string | undefined
  core: OpenChannel | undefined
  count: MemberInbound | undefined
}

const encoder = new TextEncoder()

export class Router implements ChannelHost {
  readonly requests: RequestTable
  /** Frames for channels this node has not opened: messages dropped, requests answered `no-handler`. */
  unknownChannel = 0
  readonly #host: RouterHost
  readonly #onDelivery: RouterHost['onDelivery']
  readonly #responder: Responder
  readonly #channels = new Map<string, OpenChannel>()
  /** Reliable channels, per member: its writer's session and the last message delivered per channel. */
  readonly #sessions = new Map<NodeId, { session: number, delivered: Map<string, number> }>()
  constructor (host: RouterHost) {
    this.#host = host
    this.#onDelivery = host.onDelivery
    this.requests = new RequestTable(host)
    this.#responder = new Responder(host)
  }

  /** The channel named `name`, opened on first call; later calls return it and must not ask for other options. */
  channel (name: string, options: ChannelOptions = {}): Channel {
    this.#host.assertStarted()
    if (typeof name !== 'string') throw new TypeError(`a channel name is a string, got ${describeType(name)}`)
    // a lone surrogate would go out as U+FFFD: the peer would bind another name
    const bytes = name.isWellFormed() ? encoder.encode(name) : undefined
    if (bytes === undefined || bytes.byteLength < 1 || bytes.byteLength > MAX_CHANNEL_NAME_BYTES) {
      throw new RangeError(`a channel name is 1-${MAX_CHANNEL_NAME_BYTES} bytes of UTF-8, got ${JSON.stringify(name)}`)
    }
    checkOptions('channel', options)
    const resolved = this.#resolve(options)
    const open = this.#channels.get(name)
    if (open !== undefined) {
      for (const key of Object.keys(options) as Array<keyof ChannelOptions>) {
        if (options[key] === undefined) continue
        if (key === 'rateLimit' ? open.quota?.equals(options.rateLimit) !== true : options[key] !== open.options[key]) {
          throw new RangeError(`channel "${name}" is already open with ${key} ${JSON.stringify(open.options[key])}, not ${JSON.stringify(options[key])}`)
        }
      }
      return open.channel
    }
    const spec: LaneSpec = {
      channel: this.#channels.size + 1,
      name,
      nameBytes: bytes,
      priority: resolved.priority,
      reliable: resolved.reliable,
      sendBufferSize: resolved.sendBufferSize,
      sendBufferBytes: resolved.sendBufferBytes
    }
    const quota = resolved.rateLimit === undefined ? undefined : new Quota(resolved.rateLimit)
    const core: OpenChannel = {
      channel: undefined as unknown as Channel,
      spec,
      options: { ...resolved, rateLimit: quota?.limit },
      quota,
      handler: undefined,
      onMessage: undefined,
      requests: { sent: 0, succeeded: 0, failed: 0, timedOut: 0, aborted: 0, served: 0, rejectedBusy: 0 },
      received: new Map(),
      duplicates: new Map(),
      serving: new Map(),
      pending: 0
    }
    const channel = new Channel(this, core)
    Object.assign(core, { channel })
    this.#channels.set(name, core)
    return channel
  }

  channels (): Channel[] {
    return [...this.#channels.values()].map(core => core.channel)
  }

  send (core: ChannelCore, to: NodeId, data: Uint8Array, options: SendOptions | undefined): void {
    this.#host.assertStarted()
    this.#check(data, options)
    const out = this.#host.outbox(to)
    if (out === undefined) throw new UnknownNodeError(to)
    queue(out, core, data, options)
  }

  broadcast (core: ChannelCore, data: Uint8Array, options: SendOptions | undefined): void {
    this.#host.assertStarted()
    this.#check(data, options)
    const self = this.#host.self
    for (const [node, out] of this.#host.outboxes()) if (node !== self) queue(out, core, data, options)
  }

  channelStats (core: ChannelCore): ChannelStats {
    this.#host.assertStarted()
    const members: ChannelStats['members'] = {}
    for (const [node, out] of this.#host.outboxes()) {
      const lane = out.lanes.get(core.spec.channel)
      setOwn(members, node, {
        queued: lane?.queued ?? 0,
        sent: lane?.sent ?? 0,
        dropped: lane?.dropped ?? 0,
        lost: lane?.lost ?? 0,
        superseded: lane?.superseded ?? 0,
        expired: lane?.expired ?? 0,
        received: core.received.get(node)?.received ?? 0,
        unacked: lane?.unacked ?? 0,
        retransmitted: lane?.retransmitted ?? 0,
        duplicatesSuppressed: core.duplicates.get(node) ?? 0,
        rateLimited: core.received.get(node)?.rateLimited ?? 0
      })
    }
    return { members, requests: { ...core.requests } }
  }

  /**
   * Where the frames of member `from` go. `source` is the stream they arrive on (undefined for
   * this node's own); `onMessage` takes the default channel's messages.
   */
  inbound (from: NodeId, source: Receiver | undefined, counter: ReceivedCounter, onMessage: (data: Uint8Array) => void): Inbound {
    const memo: DeliveryMemo = { name: undefined, core: undefined, count: undefined }
    // a simulation's tap sees each delivery; without one the hot path pays nothing for it
    const tap = this.#onDelivery
    return {
      message: tap === undefined
        ? onMessage
        : data => {
          onMessage(data)
          tap(from, '', data)
        },
      channel: tap === undefined
        ? (name, data) => { this.#deliver(from, counter, memo, name, data) }
        : (name, data) => { if (this.#deliver(from, counter, memo, name, data)) tap(from, name, data) },
      reliable: (name, seq, data) => {
        if (!this.#channels.has(name)) {
          // nothing is kept for a channel this node has not opened (a peer could name channels at
          // will); acknowledged, so that the writer forgets it
          this.unknownChannel++
          source?.acknowledge(name, seq)
          return
        }
        let peer = this.#sessions.get(from)
        if (peer === undefined) this.#sessions.set(from, peer = { session: -1, delivered: new Map() })
        const delivered = peer.delivered.get(name) ?? 0
        if (seq <= delivered) {
          const core = this.#channels.get(name)
          if (core !== undefined) core.duplicates.set(from, (core.duplicates.get(from) ?? 0) + 1)
        } else {
          peer.delivered.set(name, seq)
          if (this.#deliver(from, counter, memo, name, data)) tap?.(from, name, data)
        }
        // acknowledged once delivered (or known to be): the writer may forget it
        source?.acknowledge(name, Math.max(seq, delivered))
      },
      hello: session => {
        const peer = this.#sessions.get(from)
        // a new session: the writer restarted and numbers from 1 again
        if (peer === undefined || peer.session !== session) this.#sessions.set(from, { session, delivered: new Map() })
      },
      request: (name, id, data) => {
        const core = this.#channels.get(name)
        if (core === undefined) {
          this.unknownChannel++
        } else if (core.quota !== undefined && overQuota(core.quota, countOf(core, from), data.byteLength, this.#host.clock.now())) {
          this.#responder.error(from, id, ERROR_BUSY)
          return
        }
        this.#responder.request(from, source, core, id, data)
      },
      reply: (kind, id, n, data) => { this.requests.reply(from, kind, id, n, data) },
      control: (kind, id, n) => { this.#responder.control(from, kind, id, n) }
    }
  }

  /** Hands `data` to channel `name`'s handler and listeners; false if it was not delivered (no such channel, over its quota). */
  #deliver (from: NodeId, counter: ReceivedCounter, memo: DeliveryMemo, name: string, data: Uint8Array): boolean {
    let core = memo.core
    let count = memo.count
    if (name !== memo.name || core === undefined || count === undefined) {
      core = this.#channels.get(name)
      if (core === undefined) {
        this.unknownChannel++
        return false
      }
      count = countOf(core, from)
      memo.name = name
      memo.core = core
      memo.count = count
    }
    if (core.quota !== undefined && overQuota(core.quota, count, data.byteLength, this.#host.clock.now())) return false
    count.received++
    counter.received++
    core.onMessage?.(from, data)
    if (core.channel.listenerCount('message') > 0) core.channel.dispatchEvent(new CustomEvent('message', { detail: { from, data } }))
    return true
  }

  /** Member `node`'s outgoing stream closed: requests written to it fail with `connection-lost`. */
  streamDown (node: NodeId): void {
    this.requests.lost(node)
  }

  /** An inbound stream closed: the requests it carried that are still being served are aborted. */
  sourceClosed (source: Receiver): void {
    this.#responder.sourceClosed(source)
  }

  /** Member `node` left the membership (its lanes were discarded). */
  memberLeft (node: NodeId): void {
    this.requests.left(node)
    this.#responder.left(node)
    this.#sessions.delete(node)
    for (const core of this.#channels.values()) {
      core.received.delete(node)
      core.duplicates.delete(node)
    }
  }

  stop (): void {
    this.requests.stop()
    this.#responder.stop()
  }

  #check (data: Uint8Array, options: SendOptions | undefined): void {
    checkBytes('data', data)
    if (data.byteLength > this.#host.maxMessageSize) throw new MessageTooLargeError(data.byteLength, this.#host.maxMessageSize)
    if (options === undefined) return
    checkOptions('send', options)
    const { key, deadline } = options
    if (key !== undefined) {
      if (typeof key !== 'string') throw new TypeError(`key must be a string, got ${describeType(key)}`)
      if (key.length > MAX_KEY_LENGTH) throw new RangeError(`key must be at most ${MAX_KEY_LENGTH} characters, got ${key.length}`)
    }
    if (deadline !== undefined) {
      if (typeof deadline !== 'number') throw new TypeError(`deadline must be epoch ms, got ${describeType(deadline)}`)
      if (Number.isNaN(deadline)) throw new RangeError('deadline must be epoch ms, got NaN')
    }
  }

  #resolve (o: ChannelOptions): ResolvedChannelOptions {
    const host = this.#host
    const r: ResolvedChannelOptions = {
      priority: o.priority ?? DEFAULT_PRIORITY,
      reliable: o.reliable ?? false,
      sendBufferSize: o.sendBufferSize ?? host.sendBufferSize,
      sendBufferBytes: o.sendBufferBytes ?? host.sendBufferBytes,
      maxConcurrentRequests: o.maxConcurrentRequests ?? MAX_CONCURRENT_REQUESTS,
      maxQueuedRequests: o.maxQueuedRequests ?? MAX_QUEUED_REQUESTS,
      maxPendingRequests: o.maxPendingRequests ?? MAX_PENDING_REQUESTS,
      requestTimeout: o.requestTimeout ?? REQUEST_TIMEOUT,
      maxResponseSize: o.maxResponseSize ?? host.maxMessageSize,
      rateLimit: o.rateLimit
    }
    if (r.rateLimit !== undefined && r.reliable) throw new RangeError('rateLimit cannot go with reliable: a reliable message must not be dropped')
    if (typeof r.reliable !== 'boolean') throw new RangeError(`reliable must be a boolean, got ${String(r.reliable)}`)
    if (!Number.isInteger(r.priority) || r.priority < 0 || r.priority > 7) throw new RangeError(`priority must be an integer from 0 to 7, got ${r.priority}`)
    for (const key of ['sendBufferSize', 'sendBufferBytes', 'maxConcurrentRequests', 'maxPendingRequests', 'requestTimeout'] as const) {
      if (!Number.isSafeInteger(r[key]) || r[key] < 1) throw new RangeError(`${key} must be a positive integer, got ${r[key]}`)
    }
    timerMs('requestTimeout', r.requestTimeout)
    if (!Number.isSafeInteger(r.maxQueuedRequests) || r.maxQueuedRequests < 0) throw new RangeError(`maxQueuedRequests must be a non-negative integer, got ${r.maxQueuedRequests}`)
    if (!Number.isSafeInteger(r.maxResponseSize) || r.maxResponseSize < 0 || r.maxResponseSize > host.maxMessageSize) {
      throw new RangeError(`maxResponseSize must be an integer from 0 to maxMessageSize (${host.maxMessageSize}), got ${r.maxResponseSize}`)
    }
    return r
  }
}

/** True, counted `rateLimited`, if `count`'s member is over `quota` with `size` bytes more. */
function overQuota (quota: Quota, count: MemberInbound, size: number, now: number): boolean {
  if (quota.take(count, size, now)) return false
  count.rateLimited++
  return true
}

/** `from`'s deliveries on `core`'s channel, created on first use. */
function countOf (core: ChannelCore, from: NodeId): MemberInbound {
  let count = core.received.get(from)
  if (count === undefined) core.received.set(from, count = { received: 0, rateLimited: 0, tat: 0, tatBytes: 0 })
  return count
}

function queue (out: Outbox, core: ChannelCore, data: Uint8Array, options: SendOptions | undefined): void {
  const lane = out.lanes.open(core.spec)
  if (options === undefined || (options.key === undefined && options.deadline === undefined)) lane.push(data)
  else lane.pushKeyed(data, options.key, options.deadline ?? Infinity)
  out.schedule()
}
