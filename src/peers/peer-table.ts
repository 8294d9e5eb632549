/**
 * The member table: one Dispatcher per member for what we send (a Loopback for this node), one
 * Receiver per member's inbound stream for what we receive, TentativeReceivers for peers that are
 * not members (yet). A membership update is applied as one synchronous diff; the peer events it
 * causes wait until the table is consistent again. Senders are identified by the transport's
 * authenticated peer only. What frames mean is the owner's (`PeerTableHost.inbound`).
 */
import { CONTROL_LANE, defaultLane } from '../queue/lanes.ts'
import type { LaneSpec } from '../queue/lane.ts'
import { Dispatcher } from '../link/dispatcher.ts'
import { Loopback } from '../link/loopback.ts'
import { Receiver, TURN_BUDGET } from '../link/receiver.ts'
import { DETACHED, type Inbound } from '../link/frame-reader.ts'
import { ReceiveRate } from '../link/receive-rate.ts'
import { YAMUX_MAX_WINDOW } from '../constants.ts'
import { TentativeReceivers } from './tentative-receivers.ts'
import { NotStartedError, type InvalidFrameError } from '../errors.ts'
import { diffMembership, EMPTY_MEMBERSHIP, type Member, type ParsedMembership } from './membership.ts'
import { replayHeld, type Promotion } from './promotion.ts'
import type { Blocklist } from './blocklist.ts'
import type { Clock, Random } from '../clock.ts'
import { protocolsOf, type Config } from '../config.ts'
import type { LinkStream, Log, Transport } from '../link/transport.ts'
import type { AbortOptions, NodeId } from '../types.ts'

export interface MemberState {
  member: Member
  /** With `maxReceiveRate`: what the member's streams may be read at, shared across its streams. */
  rate?: ReceiveRate
  /** How frames to this member go out: a Dispatcher, or for this node itself a Loopback. */
  readonly out: Dispatcher | Loopback
  received: number
}

/** What the table needs of its owner. */
export interface PeerTableHost {
  readonly config: Config
  readonly transport: Transport
  readonly clock: Clock
  readonly random: Random
  readonly log: Log
  readonly blocklist: Blocklist
  /** This process's session (reliable channels). */
  readonly session: number
  readonly started: () => boolean
  /** Where `state`'s frames go, arriving on `source` (undefined: held ones, or this node's own). */
  inbound: (state: MemberState, source: Receiver | undefined) => Inbound
  /** A member left (after the update is applied, before any event). */
  memberLeft: (node: NodeId) => void
  /** A member's outgoing stream closed. */
  streamDown: (node: NodeId) => void
  /** An inbound stream closed. */
  sourceClosed: (receiver: Receiver) => void
  /** A stream broke the wire format and was reset. */
  invalid: (receiver: Receiver, err: InvalidFrameError) => void
  event: (type: 'peer:up' | 'peer:down', node: NodeId) => void
}

interface Waiter {
  readonly n: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

export class PeerTable {
  readonly tentative: TentativeReceivers
  readonly #host: PeerTableHost
  readonly #defaultLane: LaneSpec
  /** What a Dispatcher proposes, 1.1.0 first. */
  readonly #protocols: readonly string[]
  #membership: ParsedMembership = EMPTY_MEMBERSHIP
  readonly #members = new Map<NodeId, MemberState>()
  /** Inbound streams of members, by peer. */
  readonly #receivers = new Map<string, Receiver>()
  /** A membership update is being applied; events it causes wait in `#deferred`. */
  #applying = false
  #deferred: Array<['peer:up' | 'peer:down', NodeId]> = []
  /** Members with an open outgoing stream. */
  #up = 0
  #waiters: Waiter[] = []

  constructor (host: PeerTableHost) {
    this.#host = host
    const c = host.config
    this.#defaultLane = defaultLane(c.sendBufferSize, c.sendBufferBytes)
    this.#protocols = protocolsOf(c)
    // their messages are only held, the latest tentativeBufferBytes of each: a second's worth of
    // that, together, is all that is worth reading
    this.tentative = new TentativeReceivers(c.maxTentativeReceivers, c.tentativeBufferSize, c.tentativeBufferBytes, new ReceiveRate(c.tentativeBufferBytes))
  }

  get membership (): ParsedMembership {
    return this.#membership
  }

  get members (): ReadonlyMap<NodeId, MemberState> {
    return this.#members
  }

  /** Applies a validated membership: the structure in one synchronous step, then the events and held messages. */
  apply (next: ParsedMembership): void {
    const diff = diffMembership(this.#membership, next)
    const promoted: Array<Promotion<MemberState>> = []
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
        const held = this.tentative.promote(member.peer)
        if (held == null) continue
        // live messages can only arrive on a later I/O event, so after the held ones
        if (held.receiver != null) this.#attach(held.receiver, state)
        promoted.push({ state, held: held.held, receiver: held.receiver, lostReliable: held.lostReliable })
      }
    } finally {
      this.#applying = false
    }

    // the events, now that a handler calling connect() or stop() sees a consistent state
    for (const node of diff.removed) this.#host.memberLeft(node) // before any user code: no request to a re-added node exists yet
    const deferred = this.#deferred
    this.#deferred = []
    for (const [type, node] of deferred) if (this.#host.started()) this.#host.event(type, node)
    for (const p of promoted) {
      replayHeld<MemberState>({
        inbound: (state, source) => this.#host.inbound(state, source),
        current: state => this.#host.started() && this.#members.get(state.member.node) === state,
        dropped: n => { this.tentative.dropped += n }
      }, p)
    }
    this.#checkWaiters()
  }

  /** A stream arrived from `peer`: it delivers as its member's, or is held while `peer` is none. */
  accept (stream: LinkStream, peer: string): void {
    const c = this.#host.config
    const receiver = new Receiver(stream, {
      peer,
      maxMessageSize: c.maxMessageSize,
      channels: stream.protocol === c.channelProtocol,
      session: this.#host.session,
      inbound: DETACHED,
      onInvalid: this.#host.invalid,
      onClose: this.#onReceiverClose,
      clock: this.#host.clock
    })
    const state = this.memberOf(peer)
    if (state?.out instanceof Dispatcher) this.#attach(receiver, state)
    else this.tentative.hold(receiver)
  }

  /** The state of the member whose peer is `peer`, if it is one. */
  memberOf (peer: string): MemberState | undefined {
    const node = this.#membership.nodeByPeer.get(peer)
    return node === undefined ? undefined : this.#members.get(node)
  }

  /** The Dispatcher of the member whose peer is `peer`, if it is one (and not this node). */
  dispatcherOf (peer: string): Dispatcher | undefined {
    const out = this.memberOf(peer)?.out
    return out instanceof Dispatcher ? out : undefined
  }

  /** `peer` is blocked: its streams go, and what it had held. */
  cutOff (peer: string): void {
    this.dispatcherOf(peer)?.block()
    this.#receivers.get(peer)?.close('blocked')
    this.tentative.discard(peer)
  }

  /** Every Dispatcher's link is checked (`Dispatcher.checkLink`). */
  checkLinks (): void {
    const now = this.#host.clock.now()
    for (const state of this.#members.values()) if (state.out instanceof Dispatcher) state.out.checkLink(now)
  }

  /** Resolves once outgoing streams are open to at least `n` members, this node counting as one. */
  async waitFor (n: number, options: AbortOptions): Promise<void> {
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

  /** Closes every stream and Dispatcher; waiters fail `NotStartedError`. */
  close (): void {
    for (const state of this.#members.values()) state.out.close()
    this.#members.clear()
    for (const r of this.#receivers.values()) r.close('stopped')
    this.#receivers.clear()
    this.tentative.clear()
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w.reject(new NotStartedError())
  }

  #selfState (member: Member): MemberState {
    const state = { member, received: 0 } as { member: Member, out: Loopback, received: number }
    state.out = new Loopback(this.#defaultLane, CONTROL_LANE, this.#host.inbound(state, undefined), this.#host.clock)
    return state
  }

  #newDispatcher (member: Member): Dispatcher {
    const host = this.#host
    const c = host.config
    const dispatcher: Dispatcher = new Dispatcher({
      node: member.node,
      addrs: member.addrs,
      defaultLane: this.#defaultLane,
      controlLane: CONTROL_LANE,
      maxWriteBytes: c.maxWriteBytes,
      maxBytesInFlight: c.maxBytesInFlight,
      deadLinkTimeout: c.deadLinkTimeout,
      session: host.session,
      reconnect: c.reconnect,
      dial: async (addr, options) => await host.transport.open(member.peer, addr, this.#protocols, options),
      abortConnection: (stream, err) => { host.transport.abortConnection(stream, err) },
      channelProtocol: c.channelProtocol,
      onUp: node => {
        this.#up++
        this.#peerEvent('peer:up', node)
        this.#checkWaiters()
      },
      onDown: node => {
        this.#up--
        // a member that left fails its requests as unknown-member, once the update is applied
        if (this.#members.get(node)?.out === dispatcher) host.streamDown(node)
        this.#peerEvent('peer:down', node)
      },
      log: host.log,
      clock: host.clock,
      random: host.random
    })
    if (host.blocklist.has(member.peer)) dispatcher.block()
    return dispatcher
  }

  /** `receiver` delivers as `state`'s member from now on; a newer stream replaces an older one. */
  #attach (receiver: Receiver, state: MemberState): void {
    const old = this.#receivers.get(receiver.peer)
    this.#receivers.set(receiver.peer, receiver)
    // a member's writer, whatever its own window (FLOW) or none (1.0.0), is held by the muxer's:
    // a paused stream holds all of that rather than reset an honest member
    const maxRate = this.#host.config.maxReceiveRate
    const rate = maxRate === undefined ? undefined : state.rate ??= new ReceiveRate(maxRate)
    receiver.limit(TURN_BUDGET, rate, YAMUX_MAX_WINDOW + this.#host.config.maxWriteBytes)
    old?.close('replaced by a newer stream from the same peer')
    receiver.inbound = this.#host.inbound(state, receiver)
  }

  readonly #onReceiverClose = (receiver: Receiver): void => {
    if (this.#receivers.get(receiver.peer) === receiver) this.#receivers.delete(receiver.peer)
    else this.tentative.detach(receiver)
    this.#host.sourceClosed(receiver)
  }

  /** Dispatched at once, or after the membership update being applied (closing a stream is synchronous). */
  #peerEvent (type: 'peer:up' | 'peer:down', node: NodeId): void {
    if (this.#applying) this.#deferred.push([type, node])
    else this.#host.event(type, node)
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
}
