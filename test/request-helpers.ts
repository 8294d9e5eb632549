/** Helpers of the request tests (requests*.test.ts): failures, gates, handler call counts. */
import assert from 'node:assert/strict'
import { RequestError } from '../src/errors.ts'
import { withTimeout } from './helpers.ts'

/** What a request failed with, once it has (bounded: the requests below use long timeouts, so a fallback to the timeout fails here first). */
export async function failure (p: Promise<unknown>, ms = 10_000): Promise<RequestError> {
  const err = await withTimeout(p.then(() => { throw new Error('the request succeeded') }, (e: unknown) => e), ms, () => 'the request did not fail in time')
  if (err instanceof Error && err.message === 'the request succeeded') throw err
  assert.ok(err instanceof RequestError, `expected a RequestError, got ${String(err)}`)
  assert.equal(err.name, 'RequestError')
  return err
}

export interface Deferred<T = void> { promise: Promise<T>, resolve: (v: T) => void }
export function deferred<T = void> (): Deferred<T> {
  let resolve!: (v: T) => void
  const promise = new Promise<T>(_resolve => { resolve = _resolve })
  return { promise, resolve }
}

/** Resolves when `signal` aborts, with its reason. */
export async function aborted (signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return signal.reason
  return new Promise(resolve => { signal.addEventListener('abort', () => { resolve(signal.reason) }, { once: true }) })
}

/** Counts calls and resolves `reached(n)` once n calls happened: waiting on an event, not on time. */
export class Calls {
  n = 0
  #waiters: Array<{ n: number, d: Deferred }> = []
  hit (): void {
    this.n++
    this.#waiters = this.#waiters.filter(w => {
      if (this.n < w.n) return true
      w.d.resolve()
      return false
    })
  }

  async reached (n: number, ms = 10_000): Promise<void> {
    if (this.n >= n) return
    const d = deferred()
    this.#waiters.push({ n, d })
    await withTimeout(d.promise, ms, () => `${this.n} of ${n} handler calls`)
  }
}
