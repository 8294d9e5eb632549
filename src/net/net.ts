/**
 * Net: a consensus engine's network, on any transport and any clock. It owns the membership
 * (the member table, peers/peer-table.ts), the channels and requests (the Router) and the blocklist,
 * and reaches the network only through a `Transport` (link/transport.ts) and time only through
 * a `Clock` (clock.ts): on libp2p it is the `ConsensusNet` service (libp2p/service.ts), in a
 * simulation a node of `createSimulation` (testing/sim/), the same code either way.
 */
import { TypedEventEmitter } from 'main-event'
import { Blocklist, blockedPeer, type BlockReason } from '../peers/blocklist.ts'
import { background, random48, type Clock, type Random } from '../clock.ts'
import { protocolsOf, resolveConfig, type Config, type ConsensusNetInit } from '../config.ts'
import { MessageTooLargeError, NotStartedError, UnknownNodeError } from '../errors.ts'
import { parseMembership, type Membership } from '../peers/membership.ts'
import { PeerTable, type MemberState } from '../peers/peer-table.ts'
import { Router } from '../channels/router.ts'
import { checkHandler, type Channel } from '../channels/channel.ts'
import type { ChannelOptions, Outbox, RouterHost } from '../channels/types.ts'
import { Resolver } from '../resolver/resolver.ts'
import type { ResolverOptions } from '../resolver/options.ts'
import { Dispatcher } from '../link/dispatcher.ts'
import { checkBytes, checkNodeId, checkOptions, checkSignal, describeType, setOwn, timerMs } from '../validate.ts'
import type { InvalidFrameError, InvalidFrameReason } from '../errors.ts'
import type { Log, Transport } from '../link/transport.ts'
import type { Receiver } from '../link/receiver.ts'
import type { Timer } from '../clock.ts'
import type { AbortOptions, BlockedPeer, ConsensusNetEvents, ConsensusNetStats, MemberStats, MessageHandler, NodeId } from '../types.ts'

/** What a Net runs on. */
export interface NetEnv {
  transport: Transport
  /** The system's (`systemClock`) or a simulation's. */
  clock: Clock
  /** Backoff jitter, request ids, the session: `Math.random`, or a seeded generator. */
  random: Random
  log?: Log
  /** Told of every message delivered to the application, on every channel (the default one is ''): a simulation's digest. */
  onDelivery?: (from: NodeId, channel: string, data: Uint8Array) => void
}

/** For the libp2p shell's metrics: observes each request that succeeded (channel, ms). */
export const REQUEST_OBSERVER = Symbol('consensus-net.requestObserver')

const silent: Log = Object.assign(() => {}, { error: () => {} })

export class Net extends TypedEventEmitter<ConsensusNetEvents> {
  /** The clock this network runs on: an engine's timers belong on it too. */
  readonly clock: Clock
  readonly #config: Config
  readonly #transport: Transport
  readonly #random: Random
  readonly #log: Log
  readonly #router: Router
  readonly #table: PeerTable
  readonly #blocklist: Blocklist
  readonly #resolvers = new Set<string>()
  /** Random, new at every start: tells peers this process is not the one they knew (reliable channels). */
  readonly #session: number
  #onMessage: MessageHandler | undefined
  #status: 'new' | 'started' | 'stopped' = 'new'
  /** Checks every Dispatcher's link while started, if `deadLinkTimeout` > 0. */
  #linkTimer: Timer | undefined
  #invalidFrames = 0
  readonly #invalidByReason: Partial<Record<InvalidFrameReason, number>> = {}
  #refused = 0

  constructor (env: NetEnv, init: ConsensusNetInit = {}) {
    super()
    this.#config = resolveConfig(init)
    this.#transport = env.transport
    this.clock = env.clock
    this.#random = env.random
    this.#log = env.log ?? silent
    this.#session = random48(this.#random)
    this.#blocklist = new Blocklist({ blocked: this.#enforceBlock, unblocked: peer => { this.#table.dispatcherOf(peer)?.unblock() } }, this.clock)
    this.#router = new Router(this.#routerHost(env.onDelivery))
    this.#table = new PeerTable({
      config: this.#config,
      transport: this.#transport,
      clock: this.clock,
      random: this.#random,
      log: this.#log,
      blocklist: this.#blocklist,
      session: this.#session,
      started: () => this.#status === 'started',
      inbound: (state, source) => this.#inbound(state, source),
      memberLeft: node => { this.#router.memberLeft(node) },
      streamDown: node => { this.#router.streamDown(node) },
      sourceClosed: receiver => { this.#router.sourceClosed(receiver) },
      invalid: this.#onInvalid,
      event: (type, node) => { this.safeDispatchEvent(type, { detail: { node } }) }
    })
  }

  #routerHost (onDelivery: NetEnv['onDelivery']): RouterHost {
    const net = this
    return {
      maxMessageSize: this.#config.maxMessageSize,
      sendBufferSize: this.#config.sendBufferSize,
      sendBufferBytes: this.#config.sendBufferBytes,
      clock: this.clock,
      random: this.#random,
      onDelivery,
      get self () { return net.#table.membership.self },
      assertStarted: () => { this.#assertStarted() },
      outbox: (node): Outbox | undefined => this.#table.members.get(node)?.out,
      outboxes: function * () {
        for (const [node, state] of net.#table.members) yield [node, state.out]
      }
    }
  }

  isStarted (): boolean {
    return this.#status === 'started'
  }

  async start (): Promise<void> {
    if (this.#status !== 'new') return
    // started before the transport is: a simulation's node is usable as soon as start() returns
    this.#status = 'started'
    this.#checkLinks()
    try {
      await this.#transport.start(protocolsOf(this.#config), {
        stream: this.#onStream,
        connection: peer => { this.#table.dispatcherOf(peer)?.connectionOpened() },
        isBlocked: peer => this.#blocklist.has(peer),
        refused: () => { this.#refused++ }
      }, { maxInboundStreams: this.#config.maxInboundStreams })
    } catch (err) {
      // what started is undone (a membership given meanwhile, the handlers registered so far); like a stopped net, it stays stopped
      await this.stop().catch(() => {})
      throw err
    }
    // stopped while the transport was starting: what it started after its stop is undone too
    if (this.#status !== 'started') await this.#transport.stop()
  }

  /** Checks every Dispatcher's link every twentieth of `deadLinkTimeout`, while started (0: never). */
  #checkLinks (): void {
    const timeout = this.#config.deadLinkTimeout
    if (timeout <= 0) return
    const every = Math.max(1, Math.floor(timeout / 20))
    const check = (): void => {
      this.#table.checkLinks()
      // a check may stop the net (a 'peer:down' listener): then no next one
      if (this.#status === 'started') this.#linkTimer = background(this.clock.setTimeout(check, every))
    }
    this.#linkTimer = background(this.clock.setTimeout(check, every))
  }

  /** Resets every stream, cancels every dial and backoff; afterwards every call throws `NotStartedError`. */
  async stop (): Promise<void> {
    if (this.#status !== 'started') {
      this.#status = 'stopped'
      return
    }
    this.#status = 'stopped'
    this.clock.clearTimeout(this.#linkTimer)
    this.#blocklist.clear()
    this.#router.stop()
    this.#table.close()
    await this.#transport.stop()
  }

  /**
   * Applies `membership` (validated whole first: on `InvalidMembershipError` the previous one
   * stays). Resolves once applied: Dispatchers exist and dial, not necessarily connected.
   */
  async connect (membership: Membership): Promise<void> {
    this.#assertStarted()
    this.#table.apply(parseMembership(membership, this.#transport.self, this.#transport.parseAddress))
  }

  /** Resolves once outgoing streams are open to at least `n` members, this node counting as one. */
  async waitFor (n: number, options: AbortOptions = {}): Promise<void> {
    this.#assertStarted()
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`waitFor takes a number of members (an integer >= 0), got ${String(n)}`)
    checkOptions('waitFor', options)
    checkSignal(options.signal)
    options.signal?.throwIfAborted()
    await this.#table.waitFor(n, options)
  }

  /**
   * Queues `data` for member `to` and returns at once; `data` is queued by reference, do not
   * modify it afterwards. Throws `UnknownNodeError` (not a member), `MessageTooLargeError`.
   */
  send (to: NodeId, data: Uint8Array): void {
    if (this.#status !== 'started') throw new NotStartedError()
    checkBytes('data', data)
    if (data.byteLength > this.#config.maxMessageSize) throw new MessageTooLargeError(data.byteLength, this.#config.maxMessageSize)
    const state = this.#table.members.get(to)
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
    if (data.byteLength > this.#config.maxMessageSize) throw new MessageTooLargeError(data.byteLength, this.#config.maxMessageSize)
    for (const state of this.#table.members.values()) if (state.out instanceof Dispatcher) state.out.send(data)
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
   * negative cache (resolver/resolver.ts). It opens and serves the channel `name`; one resolver per name.
   */
  resolver (name: string, options: ResolverOptions): Resolver {
    this.#assertStarted()
    if (this.#resolvers.has(name)) throw new RangeError(`a resolver named "${name}" is already open`)
    const resolver = new Resolver(this, name, options, this.#config.maxMessageSize)
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
    return [...this.#table.members.keys()]
  }

  /** This node's node ID in the current membership, if it is in it. */
  get nodeId (): NodeId | undefined {
    return this.#table.membership.self
  }

  stats (): ConsensusNetStats {
    this.#assertStarted()
    const members: Record<NodeId, MemberStats> = {}
    for (const [node, state] of this.#table.members) {
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
    const t = this.#table.tentative
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
   * Blocks a peer, by its member's node ID or its peer ID (a string, or the transport's identity
   * object: a libp2p PeerId), for `duration` ms or until `unblock()`: its connections close, new
   * ones are refused, it is not dialled (even while a member), what it had held tentatively is
   * dropped, and messages to it are dropped (counted) and requests fail `dropped`. A
   * `'peer:blocked'` event follows.
   */
  block (who: unknown, options: { duration?: number } = {}): void {
    this.#assertStarted()
    const peer = this.#peerOf(who, 'block')
    if (peer === this.#transport.self) throw new RangeError('a node cannot block itself')
    checkOptions('block', options)
    const duration = options.duration === undefined ? undefined : timerMs('duration', options.duration)
    this.#blocklist.block(peer, duration, 'manual')
  }

  /** Ends a peer's block (by node ID or peer ID); false if it was not blocked. */
  unblock (who: unknown): boolean {
    this.#assertStarted()
    return this.#blocklist.unblock(this.#peerOf(who, 'unblock'))
  }

  /** The peers blocked now. */
  blocked (): BlockedPeer[] {
    this.#assertStarted()
    return this.#blocklist.list(peer => this.#table.membership.nodeByPeer.get(peer))
  }

  /**
   * The lean receive path: `handler(from, data)` is called for every message of the default
   * channel, synchronously and in order, before any `'message'` listener; no event object is
   * built while the event has no listener. `undefined` removes it.
   */
  onMessage (handler: MessageHandler | undefined): void {
    this.#onMessage = checkHandler('onMessage', handler)
  }

  /** Not for users: the libp2p shell's metrics observe request durations. */
  [REQUEST_OBSERVER] (observe: (channel: string, ms: number) => void): void {
    this.#router.requests.onSucceeded = observe
  }

  /** The peer key of `who`: a member's node ID, or a peer ID (as the transport reads one). */
  #peerOf (who: unknown, call: string): string {
    if (typeof who === 'string') {
      const member = this.#table.membership.members.get(who)
      if (member !== undefined) return member.peer
    }
    const peer = this.#transport.parsePeer(who)
    if (peer !== undefined) return peer
    if (typeof who !== 'string') throw new TypeError(`${call}() takes a node ID or a peer ID, got ${describeType(who)}`)
    throw new RangeError(`${call}(): "${who}" is neither a member's node ID nor a peer ID`)
  }

  /** A peer was blocked: cut it off (peers/blocklist.ts decides who, this what it means). */
  readonly #enforceBlock = (peer: string, until: number | undefined, reason: BlockReason): void => {
    this.#table.cutOff(peer)
    this.#transport.abortPeer(peer, new Error('blocked'))
    if (this.#status === 'started') this.safeDispatchEvent('peer:blocked', { detail: blockedPeer(peer, { until, reason }, this.#table.membership.nodeByPeer.get(peer)) })
  }

  readonly #onStream = (stream: Parameters<PeerTable['accept']>[0], peer: string): void => {
    if (this.#status !== 'started') {
      stream.abort(new NotStartedError())
      return
    }
    if (this.#blocklist.has(peer)) {
      this.#refused++
      stream.abort(new Error('blocked'))
      return
    }
    this.#table.accept(stream, peer)
  }

  readonly #onInvalid = (r: Receiver, err: InvalidFrameError): void => {
    this.#invalidFrames++
    this.#invalidByReason[err.reason] = (this.#invalidByReason[err.reason] ?? 0) + 1
    this.#log('reset stream from %s: %s', r.peer, err.message)
    // a member is the engine's to judge; a stranger breaking the format again and again is cut
    // off (a 1.0.0 writer that overflows knows no FLOW: not a violation of its protocol)
    const violation = err.reason !== 'overflow' || r.stream.protocol === this.#config.channelProtocol
    const blockDuration = this.#config.blockDuration
    if (violation && blockDuration > 0 && !this.#table.membership.nodeByPeer.has(r.peer) && this.#blocklist.violation(r.peer)) this.#blocklist.block(r.peer, blockDuration, 'violations')
  }

  /** Where frames from `state`'s member go, arriving on `source` (undefined: held ones, or this node's own). */
  #inbound (state: MemberState, source: Receiver | undefined): ReturnType<Router['inbound']> {
    const from = state.member.node
    return this.#router.inbound(from, source, state, data => {
      state.received++
      this.#emit(from, data)
    })
  }

  #emit (from: NodeId, data: Uint8Array): void {
    this.#onMessage?.(from, data)
    if (this.listenerCount('message') > 0) this.dispatchEvent(new CustomEvent('message', { detail: { from, data } }))
  }

  #assertStarted (): void {
    if (this.#status !== 'started') throw new NotStartedError()
  }
}
