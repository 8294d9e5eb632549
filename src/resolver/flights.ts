/**
 * Flights: one network fetch per key in flight, shared by every caller waiting on it (the shared
 * request is cancelled only when every caller has aborted). A flight asks the members in rank
 * order until one has a valid value: an attempt that fails, times out, misses or is invalid moves
 * on at once, and a slow member is hedged by asking the next one in parallel (the member outrun
 * gets twice what it took so far as a sample, so a member that turned slow sinks in the order).
 */
import type { Cache } from './cache.ts'
import { describe, type Key } from './key.ts'
import { decodeAnswer, encodeRequest } from './messages.ts'
import { RequestError, ResolveError } from '../errors.ts'
import type { FetchOptions, ResolverNet, ResolverOptions, Settings } from './options.ts'
import type { Ranking, RankedPeer } from './ranking.ts'
import type { Counters } from './stats.ts'
import type { Channel } from '../channels/channel.ts'
import type { NodeId } from '../types.ts'
import type { Clock, Timer } from '../clock.ts'

/** One network fetch of one key, shared by every caller waiting on it. */
interface Flight {
  readonly id: string
  readonly promise: Promise<Uint8Array>
  readonly controller: AbortController
  callers: number
}

export interface FlightsInit {
  readonly net: ResolverNet
  /** The resolver's channel, whose requestTimeout is the resolver's timeout. */
  readonly channel: Channel
  /** Where a value found is kept, and a key every member asked answered missing. */
  readonly cache: Cache
  readonly ranking: Ranking
  readonly counters: Counters
  readonly settings: Settings
  /** Its `validate`, called as a method of the options, as given. */
  readonly options: ResolverOptions
}

export class Flights {
  readonly #flights = new Map<string, Flight>()
  readonly #net: ResolverNet
  readonly #channel: Channel
  readonly #clock: Clock
  readonly #cache: Cache
  readonly #ranking: Ranking
  readonly #counters: Counters
  readonly #settings: Settings
  readonly #o: ResolverOptions

  constructor (init: FlightsInit) {
    this.#net = init.net
    this.#channel = init.channel
    this.#clock = init.net.clock
    this.#cache = init.cache
    this.#ranking = init.ranking
    this.#counters = init.counters
    this.#settings = init.settings
    this.#o = init.options
  }

  /** Waits on the flight for `key` (whose id is `id`), starting one if none is in flight. */
  async join (key: Key, id: string, options: FetchOptions): Promise<Uint8Array> {
    let flight = this.#flights.get(id)
    if (flight === undefined) {
      if (this.#flights.size >= this.#settings.maxPendingFetches) return this.#busy('keys being fetched (maxPendingFetches)')
      const controller = new AbortController()
      const promise = this.#fly(key, id, options.from, controller.signal)
      promise.catch(() => {}) // a flight every caller left is rejected with no one listening
      flight = { id, promise, controller, callers: 0 }
      this.#flights.set(id, flight)
      const f = flight
      void promise.finally(() => { if (this.#flights.get(id) === f) this.#flights.delete(id) }).catch(() => {})
    } else {
      if (flight.callers >= this.#settings.maxWaitersPerKey) return this.#busy(`callers waiting on ${describe(key)} (maxWaitersPerKey)`)
      this.#counters.deduped++
    }
    flight.callers++
    const signal = options.signal
    if (signal === undefined) return flight.promise
    const f = flight
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal.reason)
        if (--f.callers === 0) {
          if (this.#flights.get(f.id) === f) this.#flights.delete(f.id)
          f.controller.abort(signal.reason)
        }
      }
      signal.addEventListener('abort', onAbort, { once: true })
      f.promise.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
    })
  }

  #busy (what: string): never {
    this.#counters.busy++
    throw new ResolveError('busy', `too many ${what}`)
  }

  /** Asks the members for `key` until one has a valid value. */
  async #fly (key: Key, id: string, from: NodeId[] | undefined, signal: AbortSignal): Promise<Uint8Array> {
    const self = this.#net.nodeId
    const members = new Set(this.#net.members())
    // a node that is not a member could only fail, and its stats would grow with what callers pass
    const nodes = [...new Set(from ?? members)].filter(n => n !== self && members.has(n))
    const ranking = this.#ranking
    const candidates = ranking.order(nodes, nodes.length === 0 ? {} : this.#net.stats().members).slice(0, this.#settings.attempts)
    if (candidates.length === 0) {
      throw new ResolveError('no-members', from === undefined ? 'no member to ask but this node' : `none of the ${from.length} node(s) in from is a member other than this node`)
    }
    const request = encodeRequest(key)
    const s = this.#counters
    const clock = this.#clock
    return new Promise<Uint8Array>((resolve, reject) => {
      let next = 0
      let missing = 0
      let invalid = 0
      let settled = false
      let hedgeTimer: Timer | undefined
      /** Attempts still waiting: their member and when they started. */
      const attempts = new Map<AbortController, [RankedPeer, number]>()
      const settle = (err: unknown, value?: Uint8Array): void => {
        settled = true
        clock.clearTimeout(hedgeTimer)
        signal.removeEventListener('abort', onAbort)
        const now = clock.now()
        for (const [c, [peer, started]] of attempts) {
          c.abort()
          // outrun by another member: it takes longer than it took so far; count twice that, so
          // that a member turned slow sinks after one or two fetches rather than many
          if (err === undefined) ranking.sample(peer, 2 * (now - started))
        }
        if (err === undefined) resolve(value!)
        else reject(err)
      }
      const onAbort = (): void => { settle(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      const launch = (): boolean => {
        if (settled || next >= candidates.length) return false
        const node = candidates[next++]
        const peer = ranking.peer(node, members)
        const controller = new AbortController()
        const started = clock.now()
        attempts.set(controller, [peer, started])
        peer.requests++
        s.networkRequests++
        clock.clearTimeout(hedgeTimer)
        const hedge = next < candidates.length ? ranking.hedgeDelay(peer) : undefined
        if (hedge !== undefined) {
          hedgeTimer = clock.setTimeout(() => {
            if (launch()) s.hedged++
          }, hedge)
        }
        // the channel's requestTimeout is this resolver's timeout
        this.#channel.request(node, request, { signal: controller.signal }).then(answer => {
          attempts.delete(controller)
          if (settled) return
          const value = decodeAnswer(answer)
          if (value === undefined) {
            peer.missing++
            ranking.sample(peer, clock.now() - started)
            missing++
          } else {
            if (this.#o.validate === undefined || this.#o.validate(key, value, node)) {
              peer.found++
              ranking.sample(peer, clock.now() - started)
              this.#cache.set(id, value)
              settle(undefined, value)
              return
            }
            peer.invalid++
            ranking.sampleFailure(peer)
            invalid++
          }
          onFailure()
        }, err => {
          attempts.delete(controller)
          if (settled || controller.signal.aborted) return
          if (!(err instanceof RequestError)) throw err
          peer.failures++
          ranking.sampleFailure(peer)
          onFailure()
        }).catch(err => { if (!settled) settle(err) })
        return true
      }
      const onFailure = (): void => {
        if (launch() || attempts.size > 0) return
        const asked = next
        if (missing === asked) {
          s.notFound++
          this.#cache.setMissing(id)
          settle(new ResolveError('not-found', `${asked} member(s) asked: none has ${describe(key)}`))
        } else if (invalid > 0 && invalid + missing === asked) {
          s.invalid++
          settle(new ResolveError('invalid', `every value of ${describe(key)} failed validation`))
        } else {
          s.timedOut++
          settle(new ResolveError('timeout', `no valid value of ${describe(key)} from ${asked} member(s) in time`))
        }
      }
      launch()
    })
  }
}
