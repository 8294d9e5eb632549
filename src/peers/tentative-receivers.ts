/**
 * Traffic from peers that are not members is held, not delivered: at most `maxReceivers` peers,
 * each keeping only its most recent messages (bounded in count and bytes; older ones dropped and
 * counted). One more peer evicts the peer held longest (the oldest created): its stream is reset
 * and its messages dropped. A peer's entry outlives its stream, so messages held before a
 * reconnect are still there when a membership update promotes the peer: `promote()` hands back
 * the held messages in order and the live Receiver, if any, for the caller to deliver from.
 *
 * Messages of the default channel and of named channels are held. Requests, and answers or
 * control frames a non-member could only send out of turn, are dropped and counted: requests are
 * served to members only, and the requester times out.
 *
 * Held messages are copied: a view would pin the whole receive chunk it came from.
 */
import { READ_BUFFER_BYTES } from '../constants.ts'
import { RingBuffer } from '../queue/ring-buffer.ts'
import type { ReceiveRate } from '../link/receive-rate.ts'
import { TURN_BUDGET, type Receiver } from '../link/receiver.ts'
import type { Inbound } from '../link/frame-reader.ts'

/** A non-member's stream processes at least this much per turn (a KiB, or 16 small frames). */
const MIN_TURN_BUDGET = 16

/** A held message of a named channel (a default-channel message is held as its bytes). */
export class HeldMessage {
  readonly channel: string
  readonly data: Uint8Array
  /** Reliable channels: the message's number and its writer's session; -1 otherwise. */
  readonly seq: number
  readonly session: number

  constructor (channel: string, data: Uint8Array, seq = -1, session = -1) {
    this.channel = channel
    this.data = data
    this.seq = seq
    this.session = session
  }

  get byteLength (): number {
    return this.data.byteLength
  }
}

export type Held = RingBuffer<Uint8Array | HeldMessage>

interface Entry {
  readonly held: Held
  readonly inbound: Inbound
  receiver?: Receiver
  /** A held reliable message was pushed out by a full buffer: what is held of them is not contiguous. */
  lostReliable: boolean
}

export interface Promoted {
  readonly held: Held
  readonly receiver?: Receiver
  /**
   * Some held reliable messages were lost here. Delivering the rest would acknowledge the lost
   * ones too (acknowledgements are cumulative): the caller must not deliver held reliable
   * messages, and must reset the stream so that the writer sends everything unacknowledged again.
   */
  readonly lostReliable: boolean
}

export class TentativeReceivers {
  /** Messages discarded: overflow of a peer's buffer, or held by an evicted peer. */
  dropped = 0
  /** Peers evicted because too many were held. */
  evicted = 0
  /** Peers promoted to members. */
  promoted = 0
  readonly #maxReceivers: number
  readonly #bufferSize: number
  readonly #bufferBytes: number
  readonly #turnBudget: number
  /** What non-members may send together: read at most this fast (their messages are only held). */
  readonly #rate: ReceiveRate
  /** Insertion order is creation order: the first entry is the next to evict. */
  readonly #entries = new Map<string, Entry>()

  constructor (maxReceivers: number, bufferSize: number, bufferBytes: number, rate: ReceiveRate) {
    this.#rate = rate
    this.#maxReceivers = maxReceivers
    this.#bufferSize = bufferSize
    this.#bufferBytes = bufferBytes
    this.#turnBudget = Math.max(MIN_TURN_BUDGET, Math.floor(TURN_BUDGET / Math.max(1, maxReceivers)))
  }

  /** Peers held. */
  get receivers (): number {
    return this.#entries.size
  }

  /** Messages held across all peers. */
  get buffered (): number {
    let n = 0
    for (const e of this.#entries.values()) n += e.held.length
    return n
  }

  /** Holds what `receiver` reads from now on. A newer stream from the same peer replaces the older. */
  hold (receiver: Receiver): void {
    let entry = this.#entries.get(receiver.peer)
    if (entry == null) {
      if (this.#maxReceivers < 1) {
        receiver.close('no tentative receivers allowed')
        return
      }
      while (this.#entries.size >= this.#maxReceivers) this.#evictOldest()
      entry = this.#entry()
      this.#entries.set(receiver.peer, entry)
    } else if (entry.receiver != null) {
      const old = entry.receiver
      entry.receiver = undefined
      old.close('replaced by a newer stream from the same peer')
    }
    entry.receiver = receiver
    receiver.inbound = entry.inbound
    // non-members together take about what one member may per turn: their traffic is only held
    receiver.limit(this.#turnBudget, this.#rate, READ_BUFFER_BYTES)
  }

  #entry (): Entry {
    const held: Held = new RingBuffer(this.#bufferSize, this.#bufferBytes)
    const drop = (): void => { this.dropped++ }
    const dropHeld = (m: Uint8Array | HeldMessage): void => {
      if (m instanceof HeldMessage && m.seq >= 0) entry.lostReliable = true
    }
    let session = -1
    const entry: Entry = {
      held,
      lostReliable: false,
      inbound: {
        message: data => { this.dropped += held.push(data.slice(), dropHeld) },
        channel: (name, data) => { this.dropped += held.push(new HeldMessage(name, data.slice()), dropHeld) },
        // held, not acknowledged: the writer keeps them until the peer is promoted and they are delivered
        reliable: (name, seq, data) => { this.dropped += held.push(new HeldMessage(name, data.slice(), seq, session), dropHeld) },
        hello: s => { session = s },
        request: drop,
        reply: drop,
        control: drop
      }
    }
    return entry
  }

  /** The receiver's stream closed; its held messages stay. */
  detach (receiver: Receiver): void {
    const entry = this.#entries.get(receiver.peer)
    if (entry?.receiver === receiver) entry.receiver = undefined
  }

  /** Stops holding `peer`; returns what was held for the caller to deliver, or undefined. */
  promote (peer: string): Promoted | undefined {
    const entry = this.#entries.get(peer)
    if (entry == null) return undefined
    this.#entries.delete(peer)
    this.promoted++
    return entry
  }

  /** Forgets `peer` (it is blocked): its held messages are dropped, counted, and its stream reset. */
  discard (peer: string): void {
    const entry = this.#entries.get(peer)
    if (entry != null) this.#forget(peer, entry, 'blocked')
  }

  /** Resets every held stream and forgets everything (on stop). */
  clear (): void {
    for (const e of this.#entries.values()) e.receiver?.close('stopped')
    this.#entries.clear()
  }

  #evictOldest (): void {
    const [peer, entry] = this.#entries.entries().next().value!
    this.evicted++
    this.#forget(peer, entry, 'evicted: too many tentative receivers')
  }

  /** Stops holding `peer`: its held messages are dropped (counted) and its stream reset. */
  #forget (peer: string, entry: Entry, why: string): void {
    this.#entries.delete(peer)
    this.dropped += entry.held.length
    entry.receiver?.close(why)
  }
}
