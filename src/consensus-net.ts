/**
 * ConsensusNet owns the membership and reacts to it: one Dispatcher per member for what we send,
 * one Receiver per member's inbound stream for what we receive, TentativeReceivers for peers
 * that are not members (yet). A membership update is validated whole, then applied as one
 * synchronous diff; senders are identified by the connection's authenticated peer ID only.
 * Channels and requests are the Router's (router.ts): this class only tells it who the members
 * are and what happened to their streams.
 *
 * It is a libp2p service (Startable): `consensusNet(init)` in `services`, any transports.
 */
import { TypedEventEmitter } from 'main-event'
import { isPeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BLOCK_DURATION, Blocklist, blockedPeer, type BlockedPeer, type BlockReason } from './blocklist.ts'
import * as defaults from './constants.ts'
import { DialOrder } from './dial-order.ts'
import { Dispatcher } from './dispatcher.ts'
import { MessageTooLargeError, NotStartedError, UnknownNodeError, type InvalidFrameReason } from './errors.ts'
import { GATER_HOOK, type ConsensusNetGater } from './gater.ts'
import { EMPTY } from './framing.ts'
import { DEFAULT_CHANNEL, type LaneSpec } from './lanes.ts'
import { Loopback } from './loopback.ts'
import { EMPTY_MEMBERSHIP, diffMembership, parseMembership, type Member, type Membership, type NodeId, type ParsedMembership } from './membership.ts'
import { registerMetrics } from './metrics.ts'
import { DETACHED, Receiver, TURN_BUDGET, type Inbound } from './receiver.ts'
import { ReceiveRate } from './receive-rate.ts'
import { CONTROL_LANE, Router, type Outbox, type RouterHost } from './router.ts'
import { TentativeReceivers, type Held } from './tentative-receivers.ts'
import type { ReconnectOptions } from './backoff.ts'
import { checkHandler, DEFAULT_PRIORITY, type Channel, type ChannelOptions } from './channel.ts'
import { Resolver, type ResolverOptions } from './resolver.ts'
import { checkBytes, checkNodeId, checkOptions, checkSignal, describeType, nonNegativeInt, positiveInt, setOwn, timerMs } from './validate.ts'
import type { AbortOptions, ComponentLogger, Connection, ConnectionGater, Libp2pEvents, Logger, Metrics, PeerId, Startable, Stream, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ConsensusNetInit {
  /** Protocol ID of version 1.0.0 (the default channel only). Default `/consensus-net/1.0.0`. */
  protocol?: string
  /** Protocol ID of version 1.1.0 (channels and requests), preferred when both sides have it; `''` turns it off. Default `/consensus-net/1.1.0`. */
  channelProtocol?: string
  /** Messages queued per member before the oldest is dropped. Default 16,384. */
  sendBufferSize?: number
  /** Bytes queued per member before the oldest is dropped. Default 32 MiB. */
  sendBufferBytes?: number
  /** Largest message sent or accepted. Default 4 MiB (less if a buffer bound is smaller); at most `sendBufferBytes` and `tentativeBufferBytes`. */
  maxMessageSize?: number
  /** Peers that are not members held at once. Default 64. */
  maxTentativeReceivers?: number
  /** Most recent messages held per tentative peer. Default 256. */
  tentativeBufferSize?: number
  /** Bytes held per tentative peer. Default 4 MiB. */
  tentativeBufferBytes?: number
  /** Reconnect backoff. Defaults: 50 ms initial, 5 s max, factor 2, jitter 0.2; delays at most 2^31-1 ms (a timer's longest). */
  reconnect?: Partial<ReconnectOptions>
  /** Queued messages are packed into writes of up to this many bytes. Default 256 KiB. */
  maxWriteBytes?: number
  /**
   * Per member, with a 1.1.0 peer: bytes written but not yet reported consumed by its receiver,
   * at most (one write may go past it). What waits beyond it stays in the lanes, where priorities
   * act. Default 1 MiB.
   */
  maxBytesInFlight?: number
  /**
   * With a 1.1.0 peer: a member's link that reports nothing consumed for this many ms while we
   * wait on it is declared dead ('peer:down') and redialled on a new connection; an idle link is
   * probed with a heartbeat every `deadLinkTimeout / 2`. 0 turns it off. Default 5 s; at most 2^31-1 ms.
   */
  deadLinkTimeout?: number
  /** Inbound streams of the protocol allowed per connection. Default 8. */
  maxInboundStreams?: number
  /**
   * ms a peer that is not a member is blocked for once its streams were reset for breaking the
   * wire format 3 times within a minute; 0 turns that off. Default 10 min.
   */
  blockDuration?: number
  /**
   * Bytes per second each member's stream is read at, at most (a burst of one second's worth);
   * beyond, its stream waits paused, so a member flooding valid frames costs this node no more
   * than that. Non-members together are read at `tentativeBufferBytes` per second. Default: none.
   */
  maxReceiveRate?: number
  /**
   * Of two members, the one with the higher peer ID waits this many ms for the other's connection
   * (while no connection opens on the node) before it dials itself; 0: it dials at once (two
   * members dialling each other at the same moment may then keep two connections). Default
   * 1,000; at most 2^31-1.
   */
  dialGrace?: number
}

export interface ConsensusNetComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  addressManager: AddressManager
  logger: ComponentLogger
  /** libp2p's metrics, when the node has them: the figures of `stats()` are registered there (metrics.ts). */
  metrics?: Metrics
  /** libp2p's events ('connection:open'): without them this node dials every member at once (dial-order.ts). */
  events?: TypedEventTarget<Libp2pEvents>
  /** The node's connection gater: a `consensusNetGater` refuses blocked peers before their connection opens (gater.ts). */
  connectionGater?: ConnectionGater
}

export interface MessageDetail {
  from: NodeId
  /** The message; may be a view into a larger receive buffer: copy it to keep many for long. */
  data: Uint8Array
}

/** A receive callback: `net.onMessage(handler)`, `channel.onMessage(handler)`. */
export type MessageHandler = (from: NodeId, data: Uint8Array) => void

export interface PeerDetail {
  node: NodeId
}

export interface ConsensusNetEvents {
  message: CustomEvent<MessageDetail>
  /** A member's outgoing stream opened. */
  'peer:up': CustomEvent<PeerDetail>
  /** A member's outgoing stream closed. */
  'peer:down': CustomEvent<PeerDetail>
  /** A peer was blocked: by `block()`, or automatically for breaking the wire format. */
  'peer:blocked': CustomEvent<BlockedPeer>
}

/** Per member, over every channel (the default one included); per channel: `channel.stats()`. */
export interface MemberStats {
  /** An outgoing stream is open (always true for this node itself). */
  connected: boolean
  /** Messages (and requests and answers) waiting in the send queues. */
  queued: number
  /** Handed to the stream (for this node itself: delivered locally). */
  sent: number
  /** Dropped from a send queue (oldest first), refused by a closing stream, or on a channel a 1.0.0 member does not have. */
  dropped: number
  /**
   * Messages written to a stream that died before the member reported reading them (1.1.0 only;
   * not on reliable channels); may include some that did arrive.
   */
  lost: number
  /** Outgoing streams re-opened after one was lost. */
  reconnects: number
  /** Messages delivered from this member, held ones included once promoted. */
  received: number
}

export interface TentativeStats {
  /** Peers held. */
  receivers: number
  /** Messages held. */
  buffered: number
  /** Messages discarded: by a full buffer, an eviction, or a handler that removed the peer while its held messages were being emitted. */
  dropped: number
  /** Peers evicted because too many were held. */
  evicted: number
  /** Peers promoted to members. */
  promoted: number
}

export interface ConsensusNetStats {
  members: Record<NodeId, MemberStats>
  tentative: TentativeStats
  /** Inbound streams reset for breaking the wire format. */
  invalidFrames: number
  /** The same, by what was broken. */
  invalidFramesByReason: Partial<Record<InvalidFrameReason, number>>
  /** Peers blocked now. */
  blocked: number
  /** Connections and streams refused or closed because their peer is blocked. */
  refusedConnections: number
  /** Frames for a channel this node has not opened: messages dropped, requests answered `no-handler`. */
  unknownChannel: number
  /** Answers dropped: to a request that had timed out, been aborted or failed, or from a member other than the one asked. */
  lateReplies: number
}

interface MemberState {
  member: Member
  /** With `maxReceiveRate`: what the member's streams may be read at, shared across its streams. */
  rate?: ReceiveRate
  /** How frames to this member go out: a Dispatcher, or for this node itself a Loopback. */
  readonly out: Dispatcher | Loopback
  received: number
}

interface Waiter {
  readonly n: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

export class ConsensusNet extends TypedEventEmitter<ConsensusNetEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@consensus-net/service'
  readonly peerId: PeerId

  readonly #components: ConsensusNetComponents
  readonly #log: Logger
  readonly #protocol: string
  readonly #channelProtocol: string
  readonly #maxMessageSize: number
  readonly #sendBufferSize: number
  readonly #sendBufferBytes: number
  readonly #maxWriteBytes: number
  readonly #maxBytesInFlight: number
  readonly #maxInboundStreams: number
  readonly #reconnect: ReconnectOptions
  readonly #stopOwner?: () => Promise<void>
  readonly #defaultLane: LaneSpec
  readonly #router: Router
  readonly #resolvers = new Set<string>()
  #onMessage: MessageHandler | undefined
  /** Random, new at every start: tells peers this process is not the one they knew (reliable channels). */
  readonly #session = newSession()
  readonly #deadLinkTimeout: number
  /** Checks every Dispatcher's link (Dispatcher.checkLink) while started, if `deadLinkTimeout` > 0. */
  #linkTimer: ReturnType<typeof setInterval> | undefined
  /** Who waits for whom to dial, and how many dials at once. */
  readonly #dialOrder: DialOrder

  #status: 'new' | 'started' | 'stopped' = 'new'
  /** A membership update is being applied; events it causes wait in `#deferred`. */
  #applying = false
  #deferred: Array<['peer:up' | 'peer:down', NodeId]> = []
  #membership: ParsedMembership = EMPTY_MEMBERSHIP
  readonly #members = new Map<NodeId, MemberState>()
  /** Inbound streams of members, by peer ID. */
  readonly #receivers = new Map<string, Receiver>()
  readonly #tentative: TentativeReceivers
  #invalidFrames = 0
  readonly #invalidByReason: Partial<Record<InvalidFrameReason, number>> = {}
  readonly #blocklist: Blocklist
  readonly #blockDuration: number
  readonly #maxReceiveRate: number | undefined
  #refused = 0
  /** Members with an open outgoing stream. */
  #up = 0
  #waiters: Waiter[] = []

  /** @param stopOwner - stops the libp2p node this service was created with, for the standalone helper */
  constructor (components: ConsensusNetComponents, init: ConsensusNetInit = {}, stopOwner?: () => Promise<void>) {
    super()
    this.#components = components
    this.peerId = components.peerId
    this.#log = components.logger.forComponent('consensus-net')
    this.#protocol = init.protocol ?? defaults.PROTOCOL
    this.#channelProtocol = init.channelProtocol ?? defaults.CHANNEL_PROTOCOL
    this.#sendBufferSize = positiveInt('sendBufferSize', init.sendBufferSize ?? defaults.SEND_BUFFER_SIZE)
    this.#sendBufferBytes = positiveInt('sendBufferBytes', init.sendBufferBytes ?? defaults.SEND_BUFFER_BYTES)
    const tentativeBufferBytes = positiveInt('tentativeBufferBytes', init.tentativeBufferBytes ?? defaults.TENTATIVE_BUFFER_BYTES)
    this.#maxMessageSize = nonNegativeInt('maxMessageSize', init.maxMessageSize ?? Math.min(defaults.MAX_MESSAGE_SIZE, this.#sendBufferBytes, tentativeBufferBytes))
    if (this.#maxMessageSize > this.#sendBufferBytes) throw new RangeError(`maxMessageSize (${this.#maxMessageSize}) must not exceed sendBufferBytes (${this.#sendBufferBytes})`)
    this.#maxWriteBytes = positiveInt('maxWriteBytes', init.maxWriteBytes ?? defaults.MAX_WRITE_BYTES)
    this.#maxBytesInFlight = positiveInt('maxBytesInFlight', init.maxBytesInFlight ?? defaults.MAX_BYTES_IN_FLIGHT)
    this.#deadLinkTimeout = timerMs('deadLinkTimeout', nonNegativeInt('deadLinkTimeout', init.deadLinkTimeout ?? defaults.DEAD_LINK_TIMEOUT), 0)
    this.#maxInboundStreams = positiveInt('maxInboundStreams', init.maxInboundStreams ?? defaults.MAX_INBOUND_STREAMS)
    const r = this.#reconnect = {
      initialDelay: timerMs('reconnect.initialDelay', init.reconnect?.initialDelay ?? defaults.RECONNECT_INITIAL_DELAY),
      maxDelay: timerMs('reconnect.maxDelay', init.reconnect?.maxDelay ?? defaults.RECONNECT_MAX_DELAY),
      factor: init.reconnect?.factor ?? defaults.RECONNECT_FACTOR,
      jitter: init.reconnect?.jitter ?? defaults.RECONNECT_JITTER
    }
    if (!(r.initialDelay >= 1 && r.maxDelay >= r.initialDelay && r.factor >= 1 && r.jitter >= 0 && r.jitter <= 1)) {
      throw new RangeError(`reconnect needs initialDelay >= 1 ms, maxDelay >= initialDelay, factor >= 1 and 0 <= jitter <= 1, got ${JSON.stringify(r)}`)
    }
    if (this.#maxMessageSize > tentativeBufferBytes) throw new RangeError(`maxMessageSize (${this.#maxMessageSize}) must not exceed tentativeBufferBytes (${tentativeBufferBytes})`)
    this.#tentative = new TentativeReceivers(
      nonNegativeInt('maxTentativeReceivers', init.maxTentativeReceivers ?? defaults.MAX_TENTATIVE_RECEIVERS),
      positiveInt('tentativeBufferSize', init.tentativeBufferSize ?? defaults.TENTATIVE_BUFFER_SIZE),
      tentativeBufferBytes,
      // their messages are only held, the latest tentativeBufferBytes of each: a second's worth of
      // that, together, is all that is worth reading
      new ReceiveRate(tentativeBufferBytes)
    )
    this.#maxReceiveRate = init.maxReceiveRate === undefined ? undefined : positiveInt('maxReceiveRate', init.maxReceiveRate)
    this.#stopOwner = stopOwner
    this.#defaultLane = {
      channel: DEFAULT_CHANNEL,
      name: '',
      nameBytes: EMPTY,
      priority: DEFAULT_PRIORITY,
      reliable: false,
      sendBufferSize: this.#sendBufferSize,
      sendBufferBytes: this.#sendBufferBytes
    }
    this.#router = new Router(this.#routerHost())
    const dialGrace = timerMs('dialGrace', init.dialGrace ?? defaults.DIAL_GRACE, 0)
    this.#dialOrder = new DialOrder(components.peerId, components.events, components.connectionManager, dialGrace)
    this.#blockDuration = timerMs('blockDuration', init.blockDuration ?? BLOCK_DURATION, 0)
    this.#blocklist = new Blocklist({ blocked: this.#enforceBlock, unblocked: this.#liftBlock })
  }

  #routerHost (): RouterHost {
    const net = this
    return {
      maxMessageSize: this.#maxMessageSize,
      sendBufferSize: this.#sendBufferSize,
      sendBufferBytes: this.#sendBufferBytes,
      get self () { return net.#membership.self },
      assertStarted: () => { this.#assertStarted() },
      outbox: (node): Outbox | undefined => this.#members.get(node)?.out,
      outboxes: function * () {
        for (const [node, state] of net.#members) yield [node, state.out]
      }
    }
  }

  isStarted (): boolean {
    return this.#status === 'started'
  }

  async start (): Promise<void> {
    if (this.#status !== 'new') return
    for (const protocol of this.#protocols()) {
      await this.#components.registrar.handle(protocol, this.#onStream, { maxInboundStreams: this.#maxInboundStreams })
    }
    if (this.#components.metrics != null) this.#router.requests.onSucceeded = registerMetrics(this.#components.metrics, this, this.#protocol)
    this.#dialOrder.start()
    this.#gater()?.[GATER_HOOK]({ isBlocked: peer => this.#blocklist.has(peer), refused: () => { this.#refused++ } })
    this.#components.events?.addEventListener('connection:open', this.#onConnection)
    if (this.#deadLinkTimeout > 0) {
      this.#linkTimer = setInterval(() => {
        const now = Date.now()
        for (const state of this.#members.values()) if (state.out instanceof Dispatcher) state.out.checkLink(now)
      }, Math.max(1, Math.floor(this.#deadLinkTimeout / 20)))
      this.#linkTimer.unref?.()
    }
    this.#status = 'started'
  }

  /** Resets every stream, cancels every dial and backoff; afterwards every call throws `NotStartedError`. */
  async stop (): Promise<void> {
    if (this.#status === 'started') {
      this.#status = 'stopped'
      clearInterval(this.#linkTimer)
      this.#dialOrder.stop()
      this.#gater()?.[GATER_HOOK](undefined)
      this.#components.events?.removeEventListener('connection:open', this.#onConnection)
      this.#blocklist.clear()
      for (const state of this.#members.values()) state.out.close()
      this.#members.clear()
      this.#router.stop()
      for (const r of this.#receivers.values()) r.close('stopped')
      this.#receivers.clear()
      this.#tentative.clear()
      const waiters = this.#waiters
      this.#waiters = []
      for (const w of waiters) w.reject(new NotStartedError())
      for (const protocol of this.#protocols()) {
        await this.#components.registrar.unhandle(protocol).catch(err => { this.#log.error('unhandle failed - %e', err) })
      }
    }
    this.#status = 'stopped'
    await this.#stopOwner?.()
  }

  /** Addresses others can put in a membership: each ends in /p2p/<this peer ID>. */
  getMultiaddrs (): Multiaddr[] {
    this.#assertStarted()
    return this.#components.addressManager.getAddresses()
  }

  /**
   * Applies `membership` (validated whole first: on `InvalidMembershipError` the previous one
   * stays). Resolves once applied: Dispatchers exist and dial, not necessarily connected.
   */
  async connect (membership: Membership): Promise<void> {
    this.#assertStarted()
    const next = parseMembership(membership, this.peerId.toString())
    const diff = diffMembership(this.#membership, next)
    const promoted: Array<[MemberState, Held, Receiver | undefined, boolean]> = []

    // 1. the structure, in one synchronous step: no user code runs until it is consistent
    this.#applying = true
    try {
      this.#membership = next
      for (const node of diff.removed) {
        const state = this.#members.get(node)!
        this.#members.delete(node)
        state.out.close()
        const receiver = this.#receivers.get(state.member.peer)
        if (receiver != null) {
          this.#receivers.delete(state.member.peer)
          receiver.close('member removed')
        }
      }
      for (const node of diff.moved) {
        const state = this.#members.get(node)!
        state.member = next.members.get(node)!
        if (state.out instanceof Dispatcher) state.out.setAddrs(state.member.addrs)
      }
      for (const node of diff.added) {
        const member = next.members.get(node)!
        const state: MemberState = node === next.self ? this.#selfState(member) : { member, out: this.#newDispatcher(member), received: 0 }
        this.#members.set(node, state)
        const held = this.#tentative.promote(member.peer)
        if (held == null) continue
        // live messages can only arrive on a later I/O event, so after the held ones below
        if (held.receiver != null) this.#attach(held.receiver, state)
        promoted.push([state, held.held, held.receiver, held.lostReliable])
      }
    } finally {
      this.#applying = false
    }

    // 2. the events, now that a handler calling connect() or stop() sees a consistent state
    for (const node of diff.removed) this.#router.memberLeft(node) // before any user code: no request to a re-added node exists yet
    const deferred = this.#deferred
    this.#deferred = []
    for (const [type, node] of deferred) if (this.#status === 'started') this.safeDispatchEvent(type, { detail: { node } })
    for (const [state, held, receiver, lostReliable] of promoted) {
      // reliable messages are acknowledged on the stream that is still open, if any, and only
      // those of its writer's session: an acknowledgement for another session's numbers would
      // make the writer forget messages it has not delivered
      const inbound = this.#inbound(state, receiver)
      const silent = this.#inbound(state, undefined)
      // some were lost while held: delivering the rest would acknowledge the lost ones too, so the
      // writer is made to reconnect and send everything unacknowledged again
      if (lostReliable) receiver?.close('held reliable messages were lost: the writer sends them again')
      let session = -1
      for (let m = held.shift(); m != null; m = held.shift()) {
        if (this.#status !== 'started' || this.#members.get(state.member.node) !== state) {
          this.#tentative.dropped += held.length + 1 // a handler removed the member or stopped
          break
        }
        if (m instanceof Uint8Array) {
          inbound.message(m)
        } else if (m.seq < 0) {
          inbound.channel(m.channel, m.data)
        } else if (lostReliable) {
          this.#tentative.dropped++
        } else {
          if (m.session !== session) inbound.hello(session = m.session)
          if (receiver !== undefined && receiver.session === m.session) inbound.reliable(m.channel, m.seq, m.data)
          else silent.reliable(m.channel, m.seq, m.data)
        }
      }
      // the live stream's session, which the held entry heard and the router has not: its
      // reliable messages from now on are numbered in it
      if (receiver !== undefined && receiver.session !== -1 && this.#members.get(state.member.node) === state) inbound.hello(receiver.session)
    }
    this.#checkWaiters()
  }

  /** Resolves once outgoing streams are open to at least `n` members, this node counting as one. */
  async waitFor (n: number, options: AbortOptions = {}): Promise<void> {
    this.#assertStarted()
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`waitFor takes a number of members (an integer >= 0), got ${String(n)}`)
    checkOptions('waitFor', options)
    checkSignal(options.signal)
    options.signal?.throwIfAborted()
    if (this.#connected() >= n) return
    const signal = options.signal
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter(w => w !== waiter)
        reject(signal!.reason)
      }
      const waiter: Waiter = {
        n,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: err => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        }
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(waiter)
    })
  }

  /**
   * Queues `data` for member `to` and returns at once; `data` is queued by reference, do not
   * modify it afterwards. Throws `UnknownNodeError` (not a member), `MessageTooLargeError`.
   */
  send (to: NodeId, data: Uint8Array): void {
    if (this.#status !== 'started') throw new NotStartedError()
    checkBytes('data', data)
    if (data.byteLength > this.#maxMessageSize) throw new MessageTooLargeError(data.byteLength, this.#maxMessageSize)
    const state = this.#members.get(to)
    if (state == null) {
      checkNodeId('to', to)
      throw new UnknownNodeError(to)
    }
    state.out.send(data)
  }

  /** Queues `data` for every member except this node. */
  broadcast (data: Uint8Array): void {
    if (this.#status !== 'started') throw new NotStartedError()
    checkBytes('data', data)
    if (data.byteLength > this.#maxMessageSize) throw new MessageTooLargeError(data.byteLength, this.#maxMessageSize)
    for (const state of this.#members.values()) if (state.out instanceof Dispatcher) state.out.send(data)
  }

  /**
   * The channel named `name` (1-64 bytes of UTF-8), opened on first call; later calls return the
   * same object (options, if given, must match). Both sides must open a channel to use it.
   */
  channel (name: string, options?: ChannelOptions): Channel {
    return this.#router.channel(name, options)
  }

  /**
   * A Resolver named `name`: fetch by key from the members, with de-duplication, a cache and a
   * negative cache (resolver.ts). It opens and serves the channel `name`; one resolver per name.
   */
  resolver (name: string, options: ResolverOptions): Resolver {
    this.#assertStarted()
    if (this.#resolvers.has(name)) throw new RangeError(`a resolver named "${name}" is already open`)
    const resolver = new Resolver(this, name, options, this.#maxMessageSize)
    this.#resolvers.add(name)
    return resolver
  }

  /** The channels opened so far, in the order they were opened. */
  channels (): Channel[] {
    this.#assertStarted()
    return this.#router.channels()
  }

  /** The node IDs of the current membership, this node's included. */
  members (): NodeId[] {
    this.#assertStarted()
    return [...this.#members.keys()]
  }

  /** This node's node ID in the current membership, if it is in it. */
  get nodeId (): NodeId | undefined {
    return this.#membership.self
  }

  stats (): ConsensusNetStats {
    this.#assertStarted()
    const members: Record<NodeId, MemberStats> = {}
    for (const [node, state] of this.#members) {
      const out = state.out
      let sent = 0
      let dropped = 0
      let lost = 0
      for (const lane of out.lanes.ordered) {
        sent += lane.sent
        dropped += lane.dropped
        lost += lane.lost
      }
      setOwn(members, node, { connected: out.connected, queued: out.lanes.queued, sent, dropped, lost, reconnects: out.reconnects, received: state.received })
    }
    const t = this.#tentative
    return {
      members,
      tentative: { receivers: t.receivers, buffered: t.buffered, dropped: t.dropped, evicted: t.evicted, promoted: t.promoted },
      invalidFrames: this.#invalidFrames,
      invalidFramesByReason: { ...this.#invalidByReason },
      blocked: this.#blocklist.size,
      refusedConnections: this.#refused,
      unknownChannel: this.#router.unknownChannel,
      lateReplies: this.#router.requests.late
    }
  }

  /**
   * Blocks a peer, by its member's node ID or its peer ID (a string or a PeerId), for `duration`
   * ms or until `unblock()`: its connections close, new ones are refused, it is not dialled (even
   * while a member), what it had held tentatively is dropped, and messages to it are dropped
   * (counted) and requests fail `dropped`. A `'peer:blocked'` event follows.
   */
  block (who: string | PeerId, options: { duration?: number } = {}): void {
    this.#assertStarted()
    const peer = this.#peerOf(who, 'block')
    if (peer === this.peerId.toString()) throw new RangeError('a node cannot block itself')
    checkOptions('block', options)
    const duration = options.duration === undefined ? undefined : timerMs('duration', options.duration)
    this.#blocklist.block(peer, duration, 'manual')
  }

  /** Ends a peer's block (by node ID or peer ID); false if it was not blocked. */
  unblock (who: string | PeerId): boolean {
    this.#assertStarted()
    return this.#blocklist.unblock(this.#peerOf(who, 'unblock'))
  }

  /** The peers blocked now. */
  blocked (): BlockedPeer[] {
    this.#assertStarted()
    return this.#blocklist.list(peer => this.#membership.nodeByPeer.get(peer))
  }

  /** The peer ID string of `who`: a member's node ID, a peer ID string, or a PeerId. */
  #peerOf (who: string | PeerId, call: string): string {
    if (isPeerId(who)) return who.toString()
    if (typeof who !== 'string') throw new TypeError(`${call}() takes a node ID or a peer ID, got ${describeType(who)}`)
    const member = this.#membership.members.get(who)
    if (member !== undefined) return member.peer
    try {
      return peerIdFromString(who).toString()
    } catch {
      throw new RangeError(`${call}(): "${who}" is neither a member's node ID nor a peer ID`)
    }
  }

  /** A peer was blocked: cut it off (blocklist.ts decides who, this what it means). */
  readonly #enforceBlock = (peer: string, until: number | undefined, reason: BlockReason): void => {
    this.#dispatcherOf(peer)?.block()
    this.#receivers.get(peer)?.close('blocked')
    this.#tentative.discard(peer)
    for (const connection of this.#components.connectionManager.getConnections()) {
      if (connection.remotePeer.toString() === peer) connection.abort(new Error('blocked'))
    }
    if (this.#status === 'started') this.safeDispatchEvent('peer:blocked', { detail: blockedPeer(peer, { until, reason }, this.#membership.nodeByPeer.get(peer)) })
  }

  readonly #liftBlock = (peer: string): void => {
    this.#dispatcherOf(peer)?.unblock()
  }

  /** The Dispatcher of the member whose peer ID is `peer`, if it is one (and not this node). */
  #dispatcherOf (peer: string): Dispatcher | undefined {
    const node = this.#membership.nodeByPeer.get(peer)
    const out = node === undefined ? undefined : this.#members.get(node)?.out
    return out instanceof Dispatcher ? out : undefined
  }

  /**
   * A connection opened (either direction). A blocked peer's is closed (no gater of ours refused
   * it); a member's means it is reachable, so its Dispatcher stops waiting out a backoff.
   */
  readonly #onConnection = (evt: CustomEvent<Connection>): void => {
    const connection = evt.detail
    const peer = connection.remotePeer.toString()
    if (this.#blocklist.has(peer)) {
      this.#refused++
      connection.abort(new Error('blocked'))
      return
    }
    this.#dispatcherOf(peer)?.connectionOpened()
  }

  #gater (): ConsensusNetGater | undefined {
    const gater = this.#components.connectionGater as Partial<ConsensusNetGater> | undefined
    return typeof gater?.[GATER_HOOK] === 'function' ? gater as ConsensusNetGater : undefined
  }

  /** The protocols a Dispatcher proposes (1.1.0 first) and the node handles. */
  #protocols (): string[] {
    return this.#channelProtocol === '' ? [this.#protocol] : [this.#channelProtocol, this.#protocol]
  }

  #selfState (member: Member): MemberState {
    const state = { member, received: 0 } as { member: Member, out: Loopback, received: number }
    state.out = new Loopback(this.#defaultLane, CONTROL_LANE, this.#inbound(state, undefined))
    return state
  }

  /** Where frames from `state`'s member go, arriving on `source` (undefined: held ones, or this node's own). */
  #inbound (state: MemberState, source: Receiver | undefined): Inbound {
    const from = state.member.node
    return this.#router.inbound(from, source, state, data => {
      state.received++
      this.#emit(from, data)
    })
  }

  #newDispatcher (member: Member): Dispatcher {
    // the connection each stream was opened on, for a dead link's abort
    const connections = new WeakMap<Stream, Connection>()
    const dispatcher: Dispatcher = new Dispatcher({
      node: member.node,
      addrs: member.addrs,
      defaultLane: this.#defaultLane,
      controlLane: CONTROL_LANE,
      maxWriteBytes: this.#maxWriteBytes,
      maxBytesInFlight: this.#maxBytesInFlight,
      deadLinkTimeout: this.#deadLinkTimeout,
      session: this.#session,
      reconnect: this.#reconnect,
      dial: async (addr, { signal, force }) => this.#dialOrder.dial(member.peerId, signal, force, async (signal, onProgress) => {
        // what connectionManager.openStream does, keeping the connection
        const connection = await this.#components.connectionManager.openConnection(addr, { signal, force, onProgress })
        const stream = await connection.newStream(this.#protocols(), { signal, onProgress })
        connections.set(stream, connection)
        return stream
      }),
      abortConnection: (stream, err) => { connections.get(stream)?.abort(err) },
      channelProtocol: this.#channelProtocol,
      onUp: node => {
        this.#up++
        this.#peerEvent('peer:up', node)
        this.#checkWaiters()
      },
      onDown: node => {
        this.#up--
        // a member that left fails its requests as unknown-member, once the update is applied
        if (this.#members.get(node)?.out === dispatcher) this.#router.streamDown(node)
        this.#peerEvent('peer:down', node)
      },
      log: this.#log
    })
    if (this.#blocklist.has(member.peer)) dispatcher.block()
    return dispatcher
  }

  readonly #onStream = (stream: Stream, connection: Connection): void => {
    if (this.#status !== 'started') {
      stream.abort(new NotStartedError())
      return
    }
    if (this.#blocklist.has(connection.remotePeer.toString())) {
      this.#refused++
      stream.abort(new Error('blocked'))
      return
    }
    const receiver = new Receiver(stream, {
      peer: connection.remotePeer.toString(),
      maxMessageSize: this.#maxMessageSize,
      channels: stream.protocol === this.#channelProtocol,
      session: this.#session,
      inbound: DETACHED,
      onInvalid: (r, err) => {
        this.#invalidFrames++
        this.#invalidByReason[err.reason] = (this.#invalidByReason[err.reason] ?? 0) + 1
        this.#log('reset stream from %s: %s', r.peer, err.message)
        // a member is the engine's to judge; a stranger breaking the format again and again is cut
        // off (a 1.0.0 writer that overflows knows no FLOW: not a violation of its protocol)
        const violation = err.reason !== 'overflow' || r.stream.protocol === this.#channelProtocol
        if (violation && this.#blockDuration > 0 && !this.#membership.nodeByPeer.has(r.peer) && this.#blocklist.violation(r.peer)) this.#blocklist.block(r.peer, this.#blockDuration, 'violations')
      },
      onClose: this.#onReceiverClose
    })
    const node = this.#membership.nodeByPeer.get(receiver.peer)
    const state = node == null ? undefined : this.#members.get(node)
    if (state?.out instanceof Dispatcher) this.#attach(receiver, state)
    else this.#tentative.hold(receiver)
  }

  /** `receiver` delivers as `state`'s member from now on; a newer stream replaces an older one. */
  #attach (receiver: Receiver, state: MemberState): void {
    const old = this.#receivers.get(receiver.peer)
    this.#receivers.set(receiver.peer, receiver)
    // a member's writer, whatever its own window (FLOW) or none (1.0.0), is held by the muxer's:
    // a paused stream holds all of that rather than reset an honest member
    const rate = this.#maxReceiveRate === undefined ? undefined : state.rate ??= new ReceiveRate(this.#maxReceiveRate)
    receiver.limit(TURN_BUDGET, rate, defaults.YAMUX_MAX_WINDOW + this.#maxWriteBytes)
    old?.close('replaced by a newer stream from the same peer')
    receiver.inbound = this.#inbound(state, receiver)
  }

  readonly #onReceiverClose = (receiver: Receiver): void => {
    if (this.#receivers.get(receiver.peer) === receiver) this.#receivers.delete(receiver.peer)
    else this.#tentative.detach(receiver)
    this.#router.sourceClosed(receiver)
  }

  /** Dispatched at once, or after the membership update being applied (closing a stream is synchronous). */
  #peerEvent (type: 'peer:up' | 'peer:down', node: NodeId): void {
    if (this.#applying) this.#deferred.push([type, node])
    else this.safeDispatchEvent(type, { detail: { node } })
  }

  #emit (from: NodeId, data: Uint8Array): void {
    this.#onMessage?.(from, data)
    if (this.listenerCount('message') > 0) this.dispatchEvent(new CustomEvent('message', { detail: { from, data } }))
  }

  /**
   * The lean receive path: `handler(from, data)` is called for every message of the default
   * channel, synchronously and in order, before any `'message'` listener; no event object is
   * built while the event has no listener. `undefined` removes it.
   */
  onMessage (handler: MessageHandler | undefined): void {
    this.#onMessage = checkHandler('onMessage', handler)
  }

  #connected (): number {
    return this.#up + (this.#membership.self != null ? 1 : 0)
  }

  #checkWaiters (): void {
    if (this.#waiters.length === 0) return
    const connected = this.#connected()
    const ready = this.#waiters.filter(w => w.n <= connected)
    if (ready.length === 0) return
    this.#waiters = this.#waiters.filter(w => w.n > connected)
    for (const w of ready) w.resolve()
  }

  #assertStarted (): void {
    if (this.#status !== 'started') throw new NotStartedError()
  }
}

/** A random 48-bit session number. */
function newSession (): number {
  const b = crypto.getRandomValues(new Uint8Array(6))
  return ((b[0] * 256 + b[1]) * 256 + b[2]) * 16_777_216 + (b[3] * 256 + b[4]) * 256 + b[5]
}
