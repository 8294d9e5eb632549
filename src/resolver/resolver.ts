/**
 * A Resolver fetches values by key from the members, on one channel, through the public channel
 * API only (`channel.request`, `channel.handle`):
 *
 * - identical fetches in flight share one network request and its answer (de-duplication), and
 *   identical requests from several members share one `produce` call on the serving side;
 * - values are cached, and so are keys every member asked answered missing (a negative cache);
 * - "get parent": with `group` and `pick`, fetching a key asks for its group, whose cached value
 *   then answers the siblings without another request;
 * - members are tried in order of a moving average of their response time, failures counting as
 *   a full timeout, members not connected last (a request to one would wait in its queue for a
 *   reconnect); an attempt that fails, times out, misses or is invalid moves on at once, and a
 *   slow first member is hedged by asking the next one in parallel (the member outrun gets twice
 *   what it took so far as a sample, so a member that turned slow sinks in the order);
 * - what members and callers can make it hold is bounded: keys by `maxKeySize` on both sides (a
 *   request with a larger or malformed key is refused before `produce` or the cache sees it),
 *   keys counted in the cache's bytes, stats kept for members only.
 *
 * Wire (inside the channel's requests): a key is one byte (0: bytes, 1: UTF-8 string) and the
 * key's bytes; an answer is one byte (1: found, then the value; 0: missing).
 */
import { Cache, MISSING, type CacheOptions } from './cache.ts'
import { RequestError, ResolveError } from '../errors.ts'
import { MAX_TIMER_MS, checkOptions, checkSignal, describeType, positiveInt, setOwn, timerMs } from '../validate.ts'
import type { Channel } from '../channels/channel.ts'
import type { NodeId } from '../types.ts'
import type { AbortOptions } from '../types.ts'
import type { Clock, Timer } from '../clock.ts'

export type Key = string | Uint8Array

export interface ProduceContext {
  /** The member that asked. */
  from: NodeId
  /** Aborts when every member waiting on this produce call has given up. */
  signal: AbortSignal
}

export interface ResolverOptions {
  /** Serves a key: its value, or undefined for "I don't have it". */
  produce: (key: Key, context: ProduceContext) => Promise<Uint8Array | undefined> | Uint8Array | undefined
  /** False: the value is invalid (counted against `from`), try another member. Called with the key asked on the network. */
  validate?: (key: Key, value: Uint8Array, from: NodeId) => boolean
  /** "Get parent": a key whose value answers `key` too (`pick` extracts it), or undefined. */
  group?: (key: Key) => Key | undefined
  pick?: (groupKey: Key, groupValue: Uint8Array, key: Key) => Uint8Array | undefined
  cache?: CacheOptions
  /**
   * Largest key, in bytes as sent (UTF-8 for a string), fetched or served; a larger one is a
   * `RangeError` here and refused when a member asks. At most the node's `maxMessageSize` - 1.
   * Default 1,024 (or `maxMessageSize` - 1, if smaller).
   */
  maxKeySize?: number
  /** ms per attempt (one member), 1 to 2^31-1. Default 5 s. */
  timeout?: number
  /** Members tried per fetch. Default: all. */
  attempts?: number
  /** ms (0 to 2^31-1) before a second member is asked in parallel; false: never. Default: the first member's p90 response time. */
  hedge?: number | false
  /** Keys being fetched at once; one more fails `busy`. Default 1,024. */
  maxPendingFetches?: number
  /** Callers waiting on one key; one more fails `busy`. Default 1,024. */
  maxWaitersPerKey?: number
  /** Requests served at once per member (the channel's `maxConcurrentRequests`); more wait (`maxQueuedProduce`). Default 16. */
  maxConcurrentProduce?: number
  /** Requests per member waiting their turn (the channel's `maxQueuedRequests`); one more is answered `busy`. Default 1,024. */
  maxQueuedProduce?: number
  /** The channel's priority. Default 4. */
  priority?: number
}

export interface FetchOptions extends AbortOptions {
  /** Members to ask (default: every member but this node), in no particular order; node IDs that are not members are ignored. */
  from?: NodeId[]
}

export interface ResolverPeerStats {
  /** Attempts made to this member. */
  requests: number
  found: number
  missing: number
  /** Values that failed `validate`. */
  invalid: number
  /** Timeouts, errors, busy, lost connections. */
  failures: number
  /** The moving average that orders members, ms. */
  latency: number
}

export interface ResolverStats {
  fetches: number
  /** Fetches answered from the cache (a group's value included). */
  hits: number
  misses: number
  /** Fetches answered "missing" from the negative cache. */
  negativeHits: number
  /** Fetches that joined one already in flight. */
  deduped: number
  /** Requests sent to members (hedges included). */
  networkRequests: number
  /** Second members asked because the first was slow. */
  hedged: number
  notFound: number
  timedOut: number
  invalid: number
  busy: number
  /** Requests from members answered. */
  served: number
  /** Requests from members refused unanswered: no key, an unknown key type, or a key over `maxKeySize`. */
  rejected: number
  /** Calls of `produce`. */
  producerCalls: number
  /** Requests that joined a `produce` call in progress. */
  producerJoined: number
  /** `bytes`: values' byteLength plus keys' lengths (see CacheOptions.maxBytes). */
  cache: { entries: number, bytes: number }
  /** Members asked, while they are members. */
  peers: Record<NodeId, ResolverPeerStats>
}

/** What a resolver needs of the network: the public API of ConsensusNet. */
export interface ResolverNet {
  channel: (name: string, options: { priority: number, maxConcurrentRequests: number, maxQueuedRequests: number | undefined, requestTimeout: number }) => Channel
  members: () => NodeId[]
  readonly nodeId: NodeId | undefined
  /** `members()` and `stats()` may be called. */
  isStarted: () => boolean
  /** Which members have an open stream: the others are asked last. */
  stats: () => { members: Record<NodeId, { connected: boolean }> }
  /** The network's clock: timeouts, hedging and the cache's expiry. */
  readonly clock: Clock
}

const TIMEOUT = 5_000
const MAX_KEY_SIZE = 1024
/** The largest `maxKeySize`: a key id (hex, two characters a byte) stays under V8's 16,384-character string hash. */
const MAX_KEY_ROOM = 8191
const MAX_PENDING_FETCHES = 1024
const MAX_WAITERS_PER_KEY = 1024
/** Weight of a new sample in a member's moving average. */
const EWMA_WEIGHT = 0.2
/** Response times kept per member for its p90. */
const SAMPLES = 32

/** A request's first byte: the key's type. */
const BYTES_KEY = 0
const STRING_KEY = 1
const FOUND = 1
const NOT_FOUND = Uint8Array.of(0)
const encoder = new TextEncoder()
const decoder = new TextDecoder()

interface Peer extends ResolverPeerStats {
  readonly samples: number[]
}

/** One network fetch of one key, shared by every caller waiting on it. */
interface Flight {
  readonly id: string
  readonly promise: Promise<Uint8Array>
  readonly controller: AbortController
  callers: number
}

/** One `produce` call, shared by every member asking for the key meanwhile. */
interface Production {
  readonly promise: Promise<Uint8Array | undefined>
  readonly controller: AbortController
  waiting: number
}

export class Resolver {
  readonly name: string
  readonly channel: Channel
  readonly #net: ResolverNet
  readonly #o: ResolverOptions
  readonly #timeout: number
  readonly #hedge: number | false | undefined
  readonly #attempts: number
  readonly #maxKeySize: number
  readonly #maxPendingFetches: number
  readonly #maxWaitersPerKey: number
  readonly #cache: Cache
  readonly #flights = new Map<string, Flight>()
  readonly #producing = new Map<string, Production>()
  readonly #peers = new Map<NodeId, Peer>()
  readonly #stats = {
    fetches: 0,
    hits: 0,
    misses: 0,
    negativeHits: 0,
    deduped: 0,
    networkRequests: 0,
    hedged: 0,
    notFound: 0,
    timedOut: 0,
    invalid: 0,
    busy: 0,
    served: 0,
    rejected: 0,
    producerCalls: 0,
    producerJoined: 0
  }

  /**
   * Not for users: `net.resolver(name, options)` opens one. Throws `RangeError` for options out
   * of range. `maxMessageSize`, the node's, bounds `maxKeySize`: a request is the type byte and the key.
   */
  readonly #clock: Clock

  constructor (net: ResolverNet, name: string, options: ResolverOptions, maxMessageSize = Infinity) {
    if (typeof options?.produce !== 'function') throw new RangeError('a resolver needs a produce function')
    for (const fn of ['validate', 'group', 'pick'] as const) {
      if (options[fn] !== undefined && typeof options[fn] !== 'function') throw new RangeError(`${fn} must be a function, got ${describeType(options[fn])}`)
    }
    if ((options.group === undefined) !== (options.pick === undefined)) throw new RangeError('group and pick go together')
    // an integer: it is the channel's requestTimeout too
    this.#timeout = timerMs('timeout', positiveInt('timeout', options.timeout ?? TIMEOUT))
    const hedge = options.hedge
    if (hedge !== undefined && hedge !== false && (typeof hedge !== 'number' || !(hedge >= 0 && hedge <= MAX_TIMER_MS))) {
      throw new RangeError(`hedge must be false or a number of ms from 0 to ${MAX_TIMER_MS}, got ${String(hedge)}${hedge === Infinity ? ' (to never hedge, pass false)' : ''}`)
    }
    this.#hedge = hedge
    this.#attempts = options.attempts === undefined ? Infinity : positiveInt('attempts', options.attempts)
    this.#maxPendingFetches = positiveInt('maxPendingFetches', options.maxPendingFetches ?? MAX_PENDING_FETCHES)
    this.#maxWaitersPerKey = positiveInt('maxWaitersPerKey', options.maxWaitersPerKey ?? MAX_WAITERS_PER_KEY)
    // V8 hashes a string of more than 16,383 characters by its length alone: ids of longer keys
    // (hex: two characters a byte) would all collide in the maps
    const keyRoom = Math.min(maxMessageSize - 1, MAX_KEY_ROOM)
    this.#maxKeySize = options.maxKeySize === undefined ? Math.max(0, Math.min(MAX_KEY_SIZE, keyRoom)) : positiveInt('maxKeySize', options.maxKeySize)
    if (this.#maxKeySize > keyRoom) throw new RangeError(`maxKeySize must not exceed ${keyRoom} (maxMessageSize - 1, and at most ${MAX_KEY_ROOM}): a request is one type byte and the key; got ${this.#maxKeySize}`)
    const maxConcurrentRequests = positiveInt('maxConcurrentProduce', options.maxConcurrentProduce ?? 16)
    const maxQueuedRequests = options.maxQueuedProduce // checked by the channel
    this.name = name
    this.#net = net
    this.#o = options
    this.#clock = net.clock
    this.#cache = new Cache(options.cache ?? {}, net.clock.now)
    this.channel = net.channel(name, {
      priority: options.priority ?? 4, // checked by the channel
      maxConcurrentRequests,
      maxQueuedRequests,
      requestTimeout: this.#timeout
    })
    this.channel.handle(this.#serve)
  }

  /**
   * The value of `key`, from the cache or a member. Rejects with `ResolveError` (`not-found`,
   * `timeout`, `invalid`, `no-members`, `busy`), or the signal's reason when aborted; the shared
   * network request is cancelled only when every caller waiting on it has aborted. Arguments are
   * checked before anything is counted or started: `TypeError`, or `RangeError` for a key over
   * `maxKeySize`.
   */
  async fetch (key: Key, options: FetchOptions = {}): Promise<Uint8Array> {
    this.#checkKey('key', key)
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
      return this.#join(key, id, options)
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
      groupValue = await this.#join(groupKey, groupId, options)
      const value = this.#o.pick!(groupKey, groupValue, key)
      if (value !== undefined) return value
    }
    // the group does not hold this key: ask for the key itself
    return this.#join(key, id, options)
  }

  /** Forgets `key` (and its group's value, if it has one): value or missing mark. Throws `TypeError`, `RangeError` (over `maxKeySize`). */
  invalidate (key: Key): void {
    this.#checkKey('key', key)
    this.#cache.delete(keyId(key))
    const groupKey = this.#groupOf(key)
    if (groupKey !== undefined) this.#cache.delete(keyId(groupKey))
  }

  stats (): ResolverStats {
    if (this.#net.isStarted()) this.#prune(new Set(this.#net.members()))
    const peers: Record<NodeId, ResolverPeerStats> = {}
    for (const [node, p] of this.#peers) {
      setOwn(peers, node, { requests: p.requests, found: p.found, missing: p.missing, invalid: p.invalid, failures: p.failures, latency: p.latency })
    }
    return { ...this.#stats, cache: { entries: this.#cache.size, bytes: this.#cache.bytes }, peers }
  }

  /**
   * Throws unless `key` is a string or a Uint8Array of at most `maxKeySize` bytes as sent: a key
   * is sent, hex-encoded into an id and cached, so its size bounds all three.
   */
  #checkKey (name: string, key: unknown): asserts key is Key {
    const max = this.#maxKeySize
    if (typeof key === 'string') {
      // a UTF-16 unit takes 1 to 3 bytes of UTF-8: encode only a key that may not fit, never a long one
      if (3 * key.length <= max) return
      const size = key.length > max ? undefined : encoder.encode(key).byteLength
      if (size !== undefined && size <= max) return
      throw new RangeError(`${name} exceeds maxKeySize (${max} bytes): ${size === undefined ? `${key.length} characters` : `${size} bytes of UTF-8`}`)
    }
    if (!(key instanceof Uint8Array)) throw new TypeError(`${name} must be a string or a Uint8Array, got ${describeType(key)}`)
    if (key.byteLength > max) throw new RangeError(`${name} exceeds maxKeySize (${max} bytes): ${key.byteLength} bytes`)
  }

  /** `key`'s group, checked as a key. */
  #groupOf (key: Key): Key | undefined {
    const groupKey = this.#o.group?.(key)
    if (groupKey !== undefined) this.#checkKey('the key group() returned', groupKey)
    return groupKey
  }

  /** Forgets the stats of nodes that are no longer members, so that they are bounded by the membership. */
  #prune (members: ReadonlySet<NodeId>): void {
    for (const node of this.#peers.keys()) if (!members.has(node)) this.#peers.delete(node)
  }

  #negative (key: Key): never {
    this.#stats.negativeHits++
    throw new ResolveError('not-found', `${describe(key)} is known missing`)
  }

  /** Waits on the flight for `key`, starting one if none is in flight. */
  async #join (key: Key, id: string, options: FetchOptions): Promise<Uint8Array> {
    let flight = this.#flights.get(id)
    if (flight === undefined) {
      if (this.#flights.size >= this.#maxPendingFetches) return this.#busy('keys being fetched (maxPendingFetches)')
      const controller = new AbortController()
      const promise = this.#fly(key, id, options.from, controller.signal)
      promise.catch(() => {}) // a flight every caller left is rejected with no one listening
      flight = { id, promise, controller, callers: 0 }
      this.#flights.set(id, flight)
      const f = flight
      void promise.finally(() => { if (this.#flights.get(id) === f) this.#flights.delete(id) }).catch(() => {})
    } else {
      if (flight.callers >= this.#maxWaitersPerKey) return this.#busy(`callers waiting on ${describe(key)} (maxWaitersPerKey)`)
      this.#stats.deduped++
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
    this.#stats.busy++
    throw new ResolveError('busy', `too many ${what}`)
  }

  /** Asks the members for `key` until one has a valid value. */
  async #fly (key: Key, id: string, from: NodeId[] | undefined, signal: AbortSignal): Promise<Uint8Array> {
    const self = this.#net.nodeId
    const members = new Set(this.#net.members())
    // a node that is not a member could only fail, and its stats would grow with what callers pass
    const nodes = [...new Set(from ?? members)].filter(n => n !== self && members.has(n))
    const candidates = this.#order(nodes, nodes.length === 0 ? {} : this.#net.stats().members).slice(0, this.#attempts)
    if (candidates.length === 0) {
      throw new ResolveError('no-members', from === undefined ? 'no member to ask but this node' : `none of the ${from.length} node(s) in from is a member other than this node`)
    }
    const request = encodeKey(key)
    const s = this.#stats
    return new Promise<Uint8Array>((resolve, reject) => {
      let next = 0
      let missing = 0
      let invalid = 0
      let settled = false
      let hedgeTimer: Timer | undefined
      /** Attempts still waiting: their member and when they started. */
      const attempts = new Map<AbortController, [Peer, number]>()
      const settle = (err: unknown, value?: Uint8Array): void => {
        settled = true
        this.#clock.clearTimeout(hedgeTimer)
        signal.removeEventListener('abort', onAbort)
        const now = this.#clock.now()
        for (const [c, [peer, started]] of attempts) {
          c.abort()
          // outrun by another member: it takes longer than it took so far; count twice that, so
          // that a member turned slow sinks after one or two fetches rather than many
          if (err === undefined) this.#sample(peer, 2 * (now - started))
        }
        if (err === undefined) resolve(value!)
        else reject(err)
      }
      const onAbort = (): void => { settle(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      const launch = (): boolean => {
        if (settled || next >= candidates.length) return false
        const node = candidates[next++]
        const peer = this.#peer(node, members)
        const controller = new AbortController()
        const started = this.#clock.now()
        attempts.set(controller, [peer, started])
        peer.requests++
        s.networkRequests++
        this.#clock.clearTimeout(hedgeTimer)
        const hedge = next < candidates.length ? this.#hedgeDelay(peer) : undefined
        if (hedge !== undefined) {
          hedgeTimer = this.#clock.setTimeout(() => {
            if (launch()) s.hedged++
          }, hedge)
        }
        // the channel's requestTimeout is this resolver's timeout
        this.channel.request(node, request, { signal: controller.signal }).then(answer => {
          attempts.delete(controller)
          if (settled) return
          if (answer.byteLength === 0 || answer[0] !== FOUND) {
            peer.missing++
            this.#sample(peer, this.#clock.now() - started)
            missing++
          } else {
            // a copy: a view would keep the whole receive buffer alive in the cache, unaccounted for by maxBytes
            const value = new Uint8Array(answer.subarray(1))
            if (this.#o.validate === undefined || this.#o.validate(key, value, node)) {
              peer.found++
              this.#sample(peer, this.#clock.now() - started)
              this.#cache.set(id, value)
              settle(undefined, value)
              return
            }
            peer.invalid++
            this.#sample(peer, this.#timeout)
            invalid++
          }
          onFailure()
        }, err => {
          attempts.delete(controller)
          if (settled || controller.signal.aborted) return
          if (!(err instanceof RequestError)) throw err
          peer.failures++
          this.#sample(peer, this.#timeout)
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

  /** Connected members first, then by their moving average of response time, fastest first (a member never asked: 0). */
  #order (nodes: NodeId[], members: Record<NodeId, { connected: boolean }>): NodeId[] {
    return nodes.map((n, i) => ({ n, i, down: members[n]?.connected === false ? 1 : 0, l: this.#peers.get(n)?.latency ?? 0 }))
      .sort((a, b) => a.down - b.down || a.l - b.l || a.i - b.i).map(x => x.n)
  }

  #hedgeDelay (peer: Peer): number | undefined {
    const hedge = this.#hedge
    if (hedge === false) return undefined
    if (hedge !== undefined) return hedge
    if (peer.samples.length === 0) return this.#timeout / 4
    const sorted = [...peer.samples].sort((a, b) => a - b)
    // an outrun member's sample, twice what it took, may exceed what a timer can wait
    return Math.min(MAX_TIMER_MS, sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))])
  }

  /** `node`'s stats, created for a member of `members` (the entries of nodes that left go first). */
  #peer (node: NodeId, members: ReadonlySet<NodeId>): Peer {
    let p = this.#peers.get(node)
    if (p === undefined) {
      this.#prune(members)
      this.#peers.set(node, p = { requests: 0, found: 0, missing: 0, invalid: 0, failures: 0, latency: 0, samples: [] })
    }
    return p
  }

  /** latency = (1 - w) * latency + w * sample; the first sample sets it. */
  #sample (peer: Peer, ms: number): void {
    peer.latency = peer.samples.length === 0 ? ms : (1 - EWMA_WEIGHT) * peer.latency + EWMA_WEIGHT * ms
    peer.samples.push(ms)
    if (peer.samples.length > SAMPLES) peer.samples.shift()
  }

  /**
   * The key a request asks for. A request this resolver would not send (no key, an unknown key
   * type, a key over maxKeySize) is refused before `produce` or the cache sees it: the member gets
   * `remote-error`, with a message shorter than the request (none for the shortest ones).
   */
  #decodeKey (data: Uint8Array): Key {
    const refusal = data.byteLength === 0 || (data[0] !== BYTES_KEY && data[0] !== STRING_KEY)
      ? ''
      : data.byteLength - 1 > this.#maxKeySize ? 'key too large' : undefined
    if (refusal !== undefined) {
      this.#stats.rejected++
      throw new Error(refusal)
    }
    // a copy: `data` may be a Buffer, whose slice() is a view into the receive buffer
    return data[0] === STRING_KEY ? decoder.decode(data.subarray(1)) : new Uint8Array(data.subarray(1))
  }

  /** The channel's handler: a member asks for a key. */
  readonly #serve = async (data: Uint8Array, { from, signal }: { from: NodeId, signal: AbortSignal }): Promise<Uint8Array> => {
    const key = this.#decodeKey(data)
    const id = keyId(key)
    const cached = this.#cache.get(id)
    if (cached instanceof Uint8Array) {
      this.#stats.served++
      return found(cached)
    }
    let p = this.#producing.get(id)
    if (p === undefined) {
      const controller = new AbortController()
      this.#stats.producerCalls++
      const promise = Promise.resolve().then(async () => this.#o.produce(key, { from, signal: controller.signal }))
      p = { promise, controller, waiting: 0 }
      this.#producing.set(id, p)
      const production = p
      void promise.then(value => {
        if (value !== undefined) this.#cache.set(id, value)
      }, () => {}).finally(() => { if (this.#producing.get(id) === production) this.#producing.delete(id) })
    } else {
      this.#stats.producerJoined++
    }
    const production = p
    production.waiting++
    const onAbort = (): void => {
      if (--production.waiting !== 0) return
      production.controller.abort(signal.reason)
      // a member asking for this key from now on starts a new production, not the aborted one
      if (this.#producing.get(id) === production) this.#producing.delete(id)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const value = await production.promise
      this.#stats.served++
      return value === undefined ? NOT_FOUND : found(value)
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }
}

/** Checks a fetch's options; throws TypeError (a rejection: fetch is async). */
function checkFetchOptions (options: unknown): asserts options is FetchOptions {
  checkOptions('fetch', options)
  const { signal, from } = options as FetchOptions
  checkSignal(signal)
  if (from === undefined) return
  if (!Array.isArray(from)) throw new TypeError(`from must be an array of node IDs (strings), got ${describeType(from)}`)
  const bad = from.findIndex(n => typeof n !== 'string')
  if (bad !== -1) throw new TypeError(`from must be an array of node IDs (strings), got one that holds ${describeType(from[bad])}`)
}

function found (value: Uint8Array): Uint8Array {
  const answer = new Uint8Array(value.byteLength + 1)
  answer[0] = FOUND
  answer.set(value, 1)
  return answer
}

function encodeKey (key: Key): Uint8Array {
  const bytes = typeof key === 'string' ? encoder.encode(key) : key
  const out = new Uint8Array(bytes.byteLength + 1)
  out[0] = typeof key === 'string' ? STRING_KEY : BYTES_KEY
  out.set(bytes, 1)
  return out
}

/** A Map key for `key`: strings and bytes never collide. */
function keyId (key: Key): string {
  return typeof key === 'string' ? 's' + key : 'b' + hex(key)
}

/** The two ASCII hex digits of each byte value, at 2 * value. */
const HEX_DIGITS = new Uint8Array(512)
for (let b = 0; b < 256; b++) {
  HEX_DIGITS[2 * b] = '0123456789abcdef'.charCodeAt(b >> 4)
  HEX_DIGITS[2 * b + 1] = '0123456789abcdef'.charCodeAt(b & 15)
}

/**
 * Lower-case hex of `bytes`, written into one buffer and decoded once: building it a string per
 * byte costs a string and a concatenation per byte (96 ms and tens of MB of garbage for 1 MiB),
 * and an id is made on every fetch and every request served.
 */
function hex (bytes: Uint8Array): string {
  const out = new Uint8Array(2 * bytes.byteLength)
  for (let i = 0; i < bytes.byteLength; i++) {
    const d = 2 * bytes[i]
    out[2 * i] = HEX_DIGITS[d]
    out[2 * i + 1] = HEX_DIGITS[d + 1]
  }
  return decoder.decode(out)
}

/** Bytes (or characters) of a key shown in an error message. */
const DESCRIBED = 32

/** `key` for an error message: at most its first DESCRIBED bytes or characters, so that a message stays short. */
function describe (key: Key): string {
  if (typeof key === 'string') return key.length <= DESCRIBED ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, DESCRIBED))}... (${key.length} characters)`
  return `key 0x${hex(key.subarray(0, DESCRIBED))}${key.byteLength <= DESCRIBED ? '' : `... (${key.byteLength} bytes)`}`
}
