/**
 * What a resolver is opened with: the network it uses (the public API of ConsensusNet) and its
 * options, checked once into the settings the resolver runs on; and the options of one fetch.
 */
import { MAX_TIMER_MS, checkOptions, checkSignal, describeType, positiveInt, timerMs } from '../validate.ts'
import type { CacheOptions } from './cache.ts'
import type { Key } from './key.ts'
import type { Channel } from '../channels/channel.ts'
import type { AbortOptions, NodeId } from '../types.ts'
import type { Clock } from '../clock.ts'

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

/** The options, checked, with their defaults. */
export interface Settings {
  readonly timeout: number
  readonly hedge: number | false | undefined
  readonly attempts: number
  readonly maxKeySize: number
  readonly maxPendingFetches: number
  readonly maxWaitersPerKey: number
  readonly maxConcurrentProduce: number
  /** Checked by the channel. */
  readonly maxQueuedProduce: number | undefined
  /** Checked by the channel. */
  readonly priority: number
}

const TIMEOUT = 5_000
const MAX_KEY_SIZE = 1024
/** The largest `maxKeySize`: a key id (hex, two characters a byte) stays under V8's 16,384-character string hash. */
const MAX_KEY_ROOM = 8191
const MAX_PENDING_FETCHES = 1024
const MAX_WAITERS_PER_KEY = 1024
const MAX_CONCURRENT_PRODUCE = 16
const PRIORITY = 4

/**
 * Checks a resolver's options: `RangeError` for one out of range. `maxMessageSize`, the node's,
 * bounds `maxKeySize`: a request is the type byte and the key.
 */
export function settings (options: ResolverOptions, maxMessageSize: number): Settings {
  if (typeof options?.produce !== 'function') throw new RangeError('a resolver needs a produce function')
  for (const fn of ['validate', 'group', 'pick'] as const) {
    if (options[fn] !== undefined && typeof options[fn] !== 'function') throw new RangeError(`${fn} must be a function, got ${describeType(options[fn])}`)
  }
  if ((options.group === undefined) !== (options.pick === undefined)) throw new RangeError('group and pick go together')
  // an integer: it is the channel's requestTimeout too
  const timeout = timerMs('timeout', positiveInt('timeout', options.timeout ?? TIMEOUT))
  const hedge = options.hedge
  if (hedge !== undefined && hedge !== false && (typeof hedge !== 'number' || !(hedge >= 0 && hedge <= MAX_TIMER_MS))) {
    throw new RangeError(`hedge must be false or a number of ms from 0 to ${MAX_TIMER_MS}, got ${String(hedge)}${hedge === Infinity ? ' (to never hedge, pass false)' : ''}`)
  }
  const attempts = options.attempts === undefined ? Infinity : positiveInt('attempts', options.attempts)
  const maxPendingFetches = positiveInt('maxPendingFetches', options.maxPendingFetches ?? MAX_PENDING_FETCHES)
  const maxWaitersPerKey = positiveInt('maxWaitersPerKey', options.maxWaitersPerKey ?? MAX_WAITERS_PER_KEY)
  // V8 hashes a string of more than 16,383 characters by its length alone: ids of longer keys
  // (hex: two characters a byte) would all collide in the maps
  const keyRoom = Math.min(maxMessageSize - 1, MAX_KEY_ROOM)
  const maxKeySize = options.maxKeySize === undefined ? Math.max(0, Math.min(MAX_KEY_SIZE, keyRoom)) : positiveInt('maxKeySize', options.maxKeySize)
  if (maxKeySize > keyRoom) throw new RangeError(`maxKeySize must not exceed ${keyRoom} (maxMessageSize - 1, and at most ${MAX_KEY_ROOM}): a request is one type byte and the key; got ${maxKeySize}`)
  const maxConcurrentProduce = positiveInt('maxConcurrentProduce', options.maxConcurrentProduce ?? MAX_CONCURRENT_PRODUCE)
  return {
    timeout,
    hedge,
    attempts,
    maxKeySize,
    maxPendingFetches,
    maxWaitersPerKey,
    maxConcurrentProduce,
    maxQueuedProduce: options.maxQueuedProduce,
    priority: options.priority ?? PRIORITY
  }
}

/** Checks a fetch's options; throws TypeError (a rejection: fetch is async). */
export function checkFetchOptions (options: unknown): asserts options is FetchOptions {
  checkOptions('fetch', options)
  const { signal, from } = options as FetchOptions
  checkSignal(signal)
  if (from === undefined) return
  if (!Array.isArray(from)) throw new TypeError(`from must be an array of node IDs (strings), got ${describeType(from)}`)
  const bad = from.findIndex(n => typeof n !== 'string')
  if (bad !== -1) throw new TypeError(`from must be an array of node IDs (strings), got one that holds ${describeType(from[bad])}`)
}
