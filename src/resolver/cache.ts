/**
 * A least-recently-used cache bounded in entries and bytes, whose entries expire: values for
 * `ttl`, and "known missing" marks (a negative cache) for their own, usually shorter, time.
 * A read of an expired entry is a miss and removes it; anything over a bound evicts the least
 * recently used entries first. The bytes bound counts keys too: an entry costs its value's
 * `byteLength` plus its key's length (a missing mark, its key's), so that large keys, which a
 * member may choose, cannot hold memory the bound does not see.
 */
import { describeType, nonNegativeInt, timerMs } from '../validate.ts'

export interface CacheOptions {
  /** Entries held at most, values and missing marks together. Default 1,024. */
  maxEntries?: number
  /** Bytes held at most: values' `byteLength` plus keys' lengths. Default 64 MiB. */
  maxBytes?: number
  /** ms a value is served from the cache, at most 2^31-1 (as every delay in this package). Default 60 s. */
  ttl?: number
  /** ms a key known to be missing is not asked for again, at most 2^31-1. Default 5 s. */
  negativeTtl?: number
}

export const CACHE_MAX_ENTRIES = 1024
export const CACHE_MAX_BYTES = 64 * 1024 * 1024
export const CACHE_TTL = 60_000
export const CACHE_NEGATIVE_TTL = 5_000

interface Entry {
  /** undefined: known missing. */
  readonly value: Uint8Array | undefined
  readonly expires: number
  /** What it counts against maxBytes: the value's byteLength plus the key's length. */
  readonly cost: number
}

/** What `get` found: a value, a known-missing mark, or nothing. */
export const MISSING = Symbol('missing')

export class Cache {
  readonly maxEntries: number
  readonly maxBytes: number
  readonly ttl: number
  readonly negativeTtl: number
  /** Map order is use order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>()
  #bytes = 0
  readonly #now: () => number

  constructor (options: CacheOptions, now: () => number) {
    if (typeof options !== 'object' || options === null) throw new RangeError(`cache options must be an object, got ${describeType(options)}`)
    this.maxEntries = nonNegativeInt('cache.maxEntries', options.maxEntries ?? CACHE_MAX_ENTRIES)
    this.maxBytes = nonNegativeInt('cache.maxBytes', options.maxBytes ?? CACHE_MAX_BYTES)
    // compared to a clock, never given to a timer, but held to the timers' ceiling so that every
    // delay of the package has the same range
    this.ttl = timerMs('cache.ttl', nonNegativeInt('cache.ttl', options.ttl ?? CACHE_TTL), 0)
    this.negativeTtl = timerMs('cache.negativeTtl', nonNegativeInt('cache.negativeTtl', options.negativeTtl ?? CACHE_NEGATIVE_TTL), 0)
    this.#now = now
  }

  get size (): number {
    return this.#entries.size
  }

  /** Values' byteLength plus keys' lengths, of every entry held (expired ones not yet removed included). */
  get bytes (): number {
    return this.#bytes
  }

  /** The value, `MISSING` for a key known missing, or undefined; a hit becomes the most recently used. */
  get (key: string): Uint8Array | typeof MISSING | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    this.#entries.delete(key)
    if (e.expires <= this.#now()) {
      this.#bytes -= e.cost
      return undefined
    }
    this.#entries.set(key, e)
    return e.value ?? MISSING
  }

  /** Holds `value` for `ttl` (an entry costing more than `maxBytes` is not held). */
  set (key: string, value: Uint8Array): void {
    this.#put(key, value, this.ttl)
  }

  /** Marks `key` missing for `negativeTtl`. */
  setMissing (key: string): void {
    this.#put(key, undefined, this.negativeTtl)
  }

  delete (key: string): boolean {
    const e = this.#entries.get(key)
    if (e === undefined) return false
    this.#entries.delete(key)
    this.#bytes -= e.cost
    return true
  }

  /** Replaces `key`'s entry; what cannot be held (ttl 0, over maxBytes alone) only removes the old one. */
  #put (key: string, value: Uint8Array | undefined, ttl: number): void {
    this.delete(key)
    const cost = key.length + (value?.byteLength ?? 0)
    if (ttl === 0 || cost > this.maxBytes) return
    this.#entries.set(key, { value, expires: this.#now() + ttl, cost })
    this.#bytes += cost
    for (const [k] of this.#entries) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) break
      this.delete(k)
    }
  }
}
