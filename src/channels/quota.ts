/**
 * An inbound quota of one channel, per member: at most `messages` messages and `bytes` bytes per
 * `per` ms. It is GCRA (the generic cell rate algorithm, the limiter of Lodestar and commonware):
 * each member has a theoretical arrival time per limit, every message moves it on by its cost,
 * and a message that would move it more than `per` past now is over the quota. So a member may
 * send its whole allowance at once, then at the steady rate; nothing is kept per message.
 *
 * A message larger than the whole `bytes` allowance passes only when its member's allowance is
 * full, and then owes the time it costs: a large message is not refused for ever, and the rate
 * still holds over time.
 */
import { timerMs } from '../validate.ts'

export interface RateLimit {
  /** Messages (and requests) per `per` ms, per member. */
  messages?: number
  /** Bytes of payload per `per` ms, per member. */
  bytes?: number
  /** The period, in ms. */
  per: number
}

/** Where a member stands against a quota: its theoretical arrival times (0: never used). */
export interface QuotaState {
  tat: number
  tatBytes: number
}

export class Quota {
  readonly limit: Readonly<RateLimit>
  /** ms of allowance one message, and one byte, costs (0: no such limit). */
  readonly #perMessage: number
  readonly #perByte: number
  readonly #per: number

  /** Throws RangeError unless `limit` is a valid rate limit. */
  constructor (limit: RateLimit) {
    if (limit == null || typeof limit !== 'object') throw new RangeError(`rateLimit must be an object { messages?, bytes?, per }, got ${String(limit)}`)
    const { messages, bytes, per } = limit
    timerMs('rateLimit.per', per)
    for (const [name, value] of [['messages', messages], ['bytes', bytes]] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) throw new RangeError(`rateLimit.${name} must be a positive integer, got ${String(value)}`)
    }
    if (messages === undefined && bytes === undefined) throw new RangeError('rateLimit needs messages, bytes or both')
    this.limit = Object.freeze({ messages, bytes, per })
    this.#per = per
    this.#perMessage = messages === undefined ? 0 : per / messages
    this.#perByte = bytes === undefined ? 0 : per / bytes
  }

  /** Takes a message of `size` bytes from `state`'s allowance at `now` (ms); false, taking nothing, if it is over. */
  take (state: QuotaState, size: number, now: number): boolean {
    const per = this.#per
    let tat = state.tat
    let tatBytes = state.tatBytes
    if (this.#perMessage > 0) {
      tat = Math.max(tat, now) + this.#perMessage
      if (tat - now > per) return false
    }
    if (this.#perByte > 0) {
      const base = Math.max(tatBytes, now)
      tatBytes = base + size * this.#perByte
      if (tatBytes - now > per && base > now) return false
    }
    state.tat = tat
    state.tatBytes = tatBytes
    return true
  }

  /** Same limits. */
  equals (limit: RateLimit | undefined): boolean {
    return limit !== undefined && limit.messages === this.limit.messages && limit.bytes === this.limit.bytes && limit.per === this.limit.per
  }
}
