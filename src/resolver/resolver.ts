/**
 * A Resolver fetches values by key from the members, on one channel, through the public channel
 * API only (`channel.request`, `channel.handle`):
 *
 * - identical fetches in flight share one network request and its answer (de-duplication:
 *   flights.ts), and identical requests from several members share one `produce` call on the
 *   serving side (producer.ts);
 * - values are cached, and so are keys every member asked answered missing (a negative cache);
 * - "get parent": with `group` and `pick`, fetching a key asks for its group, whose cached value
 *   then answers the siblings without another request;
 * - members are tried in order of a moving average of their response time, failures counting as
 *   a full timeout, members not connected last (ranking.ts); an attempt that fails, times out,
 *   misses or is invalid moves on at once, and a slow first member is hedged by asking the next
 *   one in parallel (the member outrun gets twice what it took so far as a sample, so a member
 *   that turned slow sinks in the order);
 * - what members and callers can make it hold is bounded: keys by `maxKeySize` on both sides (a
 *   request with a larger or malformed key is refused before `produce` or the cache sees it),
 *   keys counted in the cache's bytes, stats kept for members only.
 *
 * Wire: see messages.ts.
 */
import { Cache, MISSING } from './cache.ts'
import { Flights } from './flights.ts'
import { checkKey, describe, keyId, type Key } from './key.ts'
import { checkFetchOptions, settings, type FetchOptions, type ResolverNet, type ResolverOptions } from './options.ts'
import { Producer } from './producer.ts'
import { Ranking } from './ranking.ts'
import { counters, type ResolverStats } from './stats.ts'
import { ResolveError } from '../errors.ts'
import type { Channel } from '../channels/channel.ts'

export class Resolver {
  readonly name: string
  readonly channel: Channel
  readonly #net: ResolverNet
  readonly #o: ResolverOptions
  readonly #maxKeySize: number
  readonly #cache: Cache
  readonly #ranking: Ranking
  readonly #flights: Flights
  readonly #stats = counters()

  /**
   * Not for users: `net.resolver(name, options)` opens one. Throws `RangeError` for options out
   * of range. `maxMessageSize`, the node's, bounds `maxKeySize`: a request is the type byte and the key.
   */
  constructor (net: ResolverNet, name: string, options: ResolverOptions, maxMessageSize = Infinity) {
    const s = settings(options, maxMessageSize)
    this.name = name
    this.#net = net
    this.#o = options
    this.#maxKeySize = s.maxKeySize
    this.#cache = new Cache(options.cache ?? {}, net.clock.now)
    this.#ranking = new Ranking(s.hedge, s.timeout)
    this.channel = net.channel(name, {
      priority: s.priority,
      maxConcurrentRequests: s.maxConcurrentProduce,
      maxQueuedRequests: s.maxQueuedProduce,
      requestTimeout: s.timeout
    })
    this.#flights = new Flights({ net, channel: this.channel, cache: this.#cache, ranking: this.#ranking, counters: this.#stats, settings: s, options })
    this.channel.handle(new Producer(options, this.#cache, this.#stats, s.maxKeySize).serve)
  }

  /**
   * The value of `key`, from the cache or a member. Rejects with `ResolveError` (`not-found`,
   * `timeout`, `invalid`, `no-members`, `busy`), or the signal's reason when aborted; the shared
   * network request is cancelled only when every caller waiting on it has aborted. Arguments are
   * checked before anything is counted or started: `TypeError`, or `RangeError` for a key over
   * `maxKeySize`.
   */
  async fetch (key: Key, options: FetchOptions = {}): Promise<Uint8Array> {
    checkKey('key', key, this.#maxKeySize)
    checkFetchOptions(options)
    options.signal?.throwIfAborted()
    this.#stats.fetches++
    const id = keyId(key)
    const cached = this.#cache.get(id)
    if (cached === MISSING) return this.#negative(key)
    if (cached !== undefined) {
      this.#stats.hits++
      return cached
    }
    const groupKey = this.#groupOf(key)
    if (groupKey === undefined) {
      this.#stats.misses++
      return this.#flights.join(key, id, options)
    }
    const groupId = keyId(groupKey)
    let groupValue = this.#cache.get(groupId)
    if (groupValue === MISSING) return this.#negative(key)
    if (groupValue !== undefined) {
      const value = this.#o.pick!(groupKey, groupValue, key)
      if (value !== undefined) {
        this.#stats.hits++
        return value
      }
    }
    this.#stats.misses++
    if (groupValue === undefined) {
      groupValue = await this.#flights.join(groupKey, groupId, options)
      const value = this.#o.pick!(groupKey, groupValue, key)
      if (value !== undefined) return value
    }
    // the group does not hold this key: ask for the key itself
    return this.#flights.join(key, id, options)
  }

  /** Forgets `key` (and its group's value, if it has one): value or missing mark. Throws `TypeError`, `RangeError` (over `maxKeySize`). */
  invalidate (key: Key): void {
    checkKey('key', key, this.#maxKeySize)
    this.#cache.delete(keyId(key))
    const groupKey = this.#groupOf(key)
    if (groupKey !== undefined) this.#cache.delete(keyId(groupKey))
  }

  stats (): ResolverStats {
    if (this.#net.isStarted()) this.#ranking.prune(new Set(this.#net.members()))
    return { ...this.#stats, cache: { entries: this.#cache.size, bytes: this.#cache.bytes }, peers: this.#ranking.stats() }
  }

  /** `key`'s group, checked as a key. */
  #groupOf (key: Key): Key | undefined {
    const groupKey = this.#o.group?.(key)
    if (groupKey !== undefined) checkKey('the key group() returned', groupKey, this.#maxKeySize)
    return groupKey
  }

  #negative (key: Key): never {
    this.#stats.negativeHits++
    throw new ResolveError('not-found', `${describe(key)} is known missing`)
  }
}
