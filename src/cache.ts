/**
 * A least-recently-used cache bounded in entries and bytes, whose entries expire: values for
 * `ttl`, and "known missing" marks (a negative cache) for their own, usually shorter, time.
 * A read of an expired entry is a miss and removes it; anything over a bound evicts the least
 * recently used entries first.
 */

export interface CacheOptions {
  /** Entries held at most, values and missing marks together. Default 1,024. */
  maxEntries?: number
  /** Bytes of values held at most. Default 64 MiB. */
  maxBytes?: number
  /** ms a value is served from the cache. Default 60 s. */
  ttl?: number
  /** ms a key known to be missing is not asked for again. Default 5 s. */
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

  constructor (options: CacheOptions = {}, now: () => number = Date.now) {
    this.maxEntries = options.maxEntries ?? CACHE_MAX_ENTRIES
    this.maxBytes = options.maxBytes ?? CACHE_MAX_BYTES
    this.ttl = options.ttl ?? CACHE_TTL
    this.negativeTtl = options.negativeTtl ?? CACHE_NEGATIVE_TTL
    for (const key of ['maxEntries', 'maxBytes', 'ttl', 'negativeTtl'] as const) {
      if (!Number.isSafeInteger(this[key]) || this[key] < 0) throw new RangeError(`cache.${key} must be a non-negative integer, got ${this[key]}`)
    }
    this.#now = now
  }

  get size (): number {
    return this.#entries.size
  }

  get bytes (): number {
    return this.#bytes
  }

  /** The value, `MISSING` for a key known missing, or undefined; a hit becomes the most recently used. */
  get (key: string): Uint8Array | typeof MISSING | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    this.#entries.delete(key)
    if (e.expires <= this.#now()) {
      this.#bytes -= e.value?.byteLength ?? 0
      return undefined
    }
    this.#entries.set(key, e)
    return e.value ?? MISSING
  }

  /** Holds `value` for `ttl` (a value larger than `maxBytes` is not held). */
  set (key: string, value: Uint8Array): void {
    if (this.ttl === 0 || value.byteLength > this.maxBytes) {
      this.delete(key)
      return
    }
    this.#put(key, { value, expires: this.#now() + this.ttl })
  }

  /** Marks `key` missing for `negativeTtl`. */
  setMissing (key: string): void {
    if (this.negativeTtl === 0) {
      this.delete(key)
      return
    }
    this.#put(key, { value: undefined, expires: this.#now() + this.negativeTtl })
  }

  delete (key: string): boolean {
    const e = this.#entries.get(key)
    if (e === undefined) return false
    this.#entries.delete(key)
    this.#bytes -= e.value?.byteLength ?? 0
    return true
  }

  #put (key: string, e: Entry): void {
    this.delete(key)
    this.#entries.set(key, e)
    this.#bytes += e.value?.byteLength ?? 0
    for (const [k] of this.#entries) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) break
      this.delete(k)
    }
  }
}
