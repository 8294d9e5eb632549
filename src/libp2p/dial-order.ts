/**
 * Who dials whom, and how many at once. When two members learn of each other at the same time
 * and both dial, libp2p keeps both connections: twice the handshakes, sockets and muxers for
 * one pair. So:
 * - the member with the lower peer ID (comparing the canonical string forms) dials at once; the
 *   other waits until that connection opens, and its stream rides it. If none comes, it dials
 *   itself once no connection (to any peer) has opened for the grace period (`dialGrace`, 0: at
 *   once), so that a member the other side does not know (yet) is still reached; a connection
 *   already open is used at once;
 * - a dial whose connection has not opened yet when the peer's own connection to us opens is
 *   abandoned, and the stream opened on the peer's connection instead: when both dialled (the
 *   grace ran out on a loaded machine, a dial waited for its turn, a link came back), the pair
 *   rarely ends with two connections. The two sides do not both give up as long as a connection
 *   opens at its initiator before its responder: so it is with Noise negotiating the muxer inside
 *   its handshake (libp2p's default), where the initiator sends the last message. With a muxer
 *   negotiated after it, both may give up; they retry at once, the higher ID waiting its grace;
 * - at most MAX_PARALLEL_DIALS handshakes run at once: handshakes run together share the CPU,
 *   and a node given 31 members at once, among 32 such nodes on 2 cores, ran them so slowly that
 *   most hit their timeout and were retried (measured: 1,033 failed handshakes for 496 pairs).
 *   A dial whose handshake has not begun DIAL_SLOT_MS after it took its turn (a host that drops
 *   packets) gives the turn up, so dead members do not hold up live ones; a stream on a
 *   connection already open takes no turn.
 */
import { DIAL_GRACE, DIAL_TIMEOUT } from '../constants.ts'
import { DialSupersededError } from '../link/transport.ts'
import type { Connection, Libp2pEvents, PeerId, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'

/**
 * The higher peer ID waits at most this long, or one grace period if that is longer: every
 * connection opened on the node starts the grace again, and a busy node must still dial.
 */
const MAX_DIAL_WAIT = 10_000
/** Dials one node runs at once; the others wait their turn. */
export const MAX_PARALLEL_DIALS = 4
/**
 * A dial whose handshake has not begun this long after it took its turn gives the turn up and
 * goes on outside the bound: connecting to a host that drops packets costs no CPU while it waits
 * for its timeout, and must not keep live members waiting.
 */
export const DIAL_SLOT_MS = 2_000
/** libp2p's progress event for an outbound handshake beginning (connection encryption). */
const HANDSHAKE_STARTED = 'upgrader:encrypt-outbound-connection'

/** One dial in flight: abandoned if the peer's connection opens before ours. */
interface Dial {
  readonly controller: AbortController
  /** Our connection to the peer opened: from then on the dial is only negotiating a stream. */
  connected: boolean
}

/**
 * One node's dialling policy. Without libp2p's events (`events` undefined) it only bounds the
 * dials in flight: every member is dialled at once and no dial is abandoned.
 */
export class DialOrder {
  readonly #self: PeerId
  readonly #events: TypedEventTarget<Libp2pEvents> | undefined
  readonly #connectionManager: ConnectionManager
  /** The higher peer ID dials itself once no connection has opened on the node for this long (ms). */
  readonly #grace: number
  /** Waits for a connection, by peer ID string: how to end each. */
  readonly #waiting = new Map<string, Set<() => void>>()
  readonly #dials = new Map<string, Dial>()
  #lastOpenAt = 0
  #busy = 0
  readonly #queue: Array<() => void> = []

  constructor (self: PeerId, events: TypedEventTarget<Libp2pEvents> | undefined, connectionManager: ConnectionManager, grace = DIAL_GRACE) {
    this.#self = self
    this.#events = events
    this.#connectionManager = connectionManager
    this.#grace = grace
  }

  start (): void {
    this.#events?.addEventListener('connection:open', this.#onOpen)
  }

  stop (): void {
    this.#events?.removeEventListener('connection:open', this.#onOpen)
    for (const ends of this.#waiting.values()) for (const end of ends) end()
  }

  /** This node dials `peer` at once (its peer ID is the lower), or waits for `peer` first. */
  dialsFirst (peer: PeerId): boolean {
    return this.#events === undefined || this.#self.toString() < peer.toString()
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    this.#lastOpenAt = Date.now()
    const connection = evt.detail
    const peer = connection.remotePeer.toString()
    const dial = this.#dials.get(peer)
    if (dial !== undefined) {
      if (connection.direction === 'outbound') dial.connected = true
      else if (!dial.connected) dial.controller.abort(new DialSupersededError())
    }
    const ends = this.#waiting.get(peer)
    if (ends !== undefined) for (const end of [...ends]) end()
  }

  /**
   * Dials `peer` with `dial`, first waiting (if this node's peer ID is the higher) for the
   * peer's own connection, then for a free slot. `dial` gets a signal that also carries
   * DIAL_TIMEOUT, counted from when the slot was taken, and DialSupersededError, and an
   * `onProgress` for libp2p's dial progress events.
   */
  async dial<T> (peer: PeerId, signal: AbortSignal, force: boolean, dial: (signal: AbortSignal, onProgress: (evt: { type: string }) => void) => Promise<T>): Promise<T> {
    if (!force && !this.dialsFirst(peer)) await this.#awaitConnection(peer, signal)
    let connected = !force && this.#isConnected(peer)
    // a stream on an open connection costs no handshake: no slot
    let release: (() => void) | undefined
    let handshaking = false
    if (!connected) {
      await this.#acquire(signal)
      let timer: ReturnType<typeof setTimeout> | undefined
      release = () => {
        release = undefined
        clearTimeout(timer)
        this.#busy--
        this.#queue.shift()?.()
      }
      if (!force && this.#isConnected(peer)) {
        // the peer's connection opened while this dial waited for its turn: ride it
        release()
        connected = true
      } else {
        timer = setTimeout(() => { if (!handshaking) release?.() }, DIAL_SLOT_MS)
        timer.unref?.()
      }
    }
    const onProgress = (evt: { type: string }): void => {
      if (evt.type === HANDSHAKE_STARTED) handshaking = true
    }
    const key = peer.toString()
    const own: Dial = { controller: new AbortController(), connected }
    this.#dials.set(key, own)
    try {
      return await dial(AbortSignal.any([signal, own.controller.signal, AbortSignal.timeout(DIAL_TIMEOUT)]), onProgress)
    } catch (err) {
      throw own.controller.signal.aborted ? own.controller.signal.reason : err
    } finally {
      if (this.#dials.get(key) === own) this.#dials.delete(key)
      release?.()
    }
  }

  #isConnected (peer: PeerId): boolean {
    return this.#connectionManager.getConnections(peer).some(c => c.status === 'open')
  }

  /** Resolves once a connection to `peer` is open, once none has opened for the grace period, after MAX_DIAL_WAIT (or one grace), or on abort. */
  async #awaitConnection (peer: PeerId, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#isConnected(peer)) return
    const key = peer.toString()
    // quiet since the wait began, not since the last connection ever: a membership given long
    // after start (or after a quiet spell) still waits for the peer's dial
    const startedAt = Date.now()
    const latest = startedAt + Math.max(MAX_DIAL_WAIT, this.#grace)
    await new Promise<void>(resolve => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const end = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', end)
        const ends = this.#waiting.get(key)
        ends?.delete(end)
        if (ends?.size === 0) this.#waiting.delete(key)
        resolve()
      }
      const check = (): void => {
        const due = Math.min(Math.max(this.#lastOpenAt, startedAt) + this.#grace, latest)
        const now = Date.now()
        if (now >= due) end()
        else {
          timer = setTimeout(check, due - now)
          timer.unref?.()
        }
      }
      let ends = this.#waiting.get(key)
      if (ends === undefined) this.#waiting.set(key, ends = new Set())
      ends.add(end)
      signal.addEventListener('abort', end, { once: true })
      check()
    })
  }

  /** Takes a dial slot, waiting in order for one; rejects if `signal` aborts first. */
  async #acquire (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.#busy < MAX_PARALLEL_DIALS) {
      this.#busy++
      return
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort)
        this.#busy++
        resolve()
      }
      const onAbort = (): void => {
        const i = this.#queue.indexOf(grant)
        if (i >= 0) this.#queue.splice(i, 1)
        reject(signal.reason)
      }
      this.#queue.push(grant)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}
