/**
 * The serving side of a resolver, its channel's request handler: a member asks for a key, and
 * gets the cached value or what `produce` makes of it. Identical requests from several members
 * share one `produce` call, which is aborted when every member waiting on it has given up. A
 * request this resolver would not send (no key, an unknown key type, a key over `maxKeySize`) is
 * refused before `produce` or the cache sees it: the member gets `remote-error`.
 */
import type { Cache } from './cache.ts'
import { keyId } from './key.ts'
import { NOT_FOUND, decodeRequest, encodeFound, refusal } from './messages.ts'
import type { ResolverOptions } from './options.ts'
import type { Counters } from './stats.ts'
import type { NodeId } from '../types.ts'

/** One `produce` call, shared by every member asking for the key meanwhile. */
interface Production {
  readonly promise: Promise<Uint8Array | undefined>
  readonly controller: AbortController
  waiting: number
}

export class Producer {
  readonly #producing = new Map<string, Production>()
  readonly #o: ResolverOptions
  readonly #cache: Cache
  readonly #counters: Counters
  readonly #maxKeySize: number

  /** `options.produce` is called as a method of the options, as given. */
  constructor (options: ResolverOptions, cache: Cache, counters: Counters, maxKeySize: number) {
    this.#o = options
    this.#cache = cache
    this.#counters = counters
    this.#maxKeySize = maxKeySize
  }

  /** The channel's handler: a member asks for a key. */
  readonly serve = async (data: Uint8Array, { from, signal }: { from: NodeId, signal: AbortSignal }): Promise<Uint8Array> => {
    const refused = refusal(data, this.#maxKeySize)
    if (refused !== undefined) {
      this.#counters.rejected++
      throw new Error(refused)
    }
    const key = decodeRequest(data)
    const id = keyId(key)
    const cached = this.#cache.get(id)
    if (cached instanceof Uint8Array) {
      this.#counters.served++
      return encodeFound(cached)
    }
    let p = this.#producing.get(id)
    if (p === undefined) {
      const controller = new AbortController()
      this.#counters.producerCalls++
      const promise = Promise.resolve().then(async () => this.#o.produce(key, { from, signal: controller.signal }))
      p = { promise, controller, waiting: 0 }
      this.#producing.set(id, p)
      const production = p
      void promise.then(value => {
        if (value !== undefined) this.#cache.set(id, value)
      }, () => {}).finally(() => { if (this.#producing.get(id) === production) this.#producing.delete(id) })
    } else {
      this.#counters.producerJoined++
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
      this.#counters.served++
      return value === undefined ? NOT_FOUND : encodeFound(value)
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }
}
