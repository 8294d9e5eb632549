/**
 * Event listeners for a simulated stream, with EventTarget's rules where the core can see them:
 * a listener added twice is called once, `once` and `signal` are honoured, and one removed during
 * a dispatch is not called by it. Unlike EventTarget, a listener that throws is reported to the
 * simulation (the run fails with it, naming the seed) instead of surfacing as an uncaught
 * exception on a later tick, and the listeners of one type can be counted (libp2p holds bytes
 * for a stream nobody reads yet).
 */

type Listener = (evt: any) => void

interface Entry {
  readonly fn: Listener
  readonly once: boolean
  removed: boolean
  /** Removes it when its `signal` aborts; itself removed with the entry. */
  readonly onAbort: (() => void) | undefined
  readonly signal: AbortSignal | undefined
}

export class Emitter {
  /** Per type, replaced (not mutated) on each change: a dispatch walks the array it started with. */
  readonly #listeners = new Map<string, Entry[]>()
  readonly #report: (err: unknown) => void

  constructor (report: (err: unknown) => void) {
    this.#report = report
  }

  add (type: string, fn: Listener, options?: boolean | AddEventListenerOptions): void {
    if (typeof fn !== 'function') return
    const once = typeof options === 'object' && options.once === true
    const signal = typeof options === 'object' ? options.signal : undefined
    if (signal?.aborted === true) return
    const entries = this.#listeners.get(type) ?? []
    if (entries.some(entry => entry.fn === fn)) return
    const onAbort = signal === undefined ? undefined : () => { this.remove(type, fn) }
    this.#listeners.set(type, [...entries, { fn, once, removed: false, onAbort, signal }])
    if (onAbort !== undefined) signal?.addEventListener('abort', onAbort, { once: true })
  }

  remove (type: string, fn: Listener | undefined): void {
    const entries = this.#listeners.get(type)
    const entry = entries?.find(entry => entry.fn === fn)
    if (entries === undefined || entry === undefined) return
    entry.removed = true
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort)
    if (entries.length === 1) this.#listeners.delete(type)
    else this.#listeners.set(type, entries.filter(e => e !== entry))
  }

  count (type: string): number {
    return this.#listeners.get(type)?.length ?? 0
  }

  dispatch (evt: Event): void {
    const entries = this.#listeners.get(evt.type)
    if (entries === undefined) return
    for (const entry of entries) {
      if (entry.removed) continue
      if (entry.once) this.remove(evt.type, entry.fn)
      try {
        entry.fn(evt)
      } catch (err) {
        this.#report(err)
      }
    }
  }
}
