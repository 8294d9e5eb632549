/**
 * Time and chance, passed down from the top: the core reads the time, sets timers and draws
 * random numbers only through these, so that the same code runs on the system's clock (libp2p)
 * and on a simulation's virtual one, where a seed replays a run exactly.
 */

/** A timer's handle: whatever the clock's `setTimeout` returned. */
export type Timer = unknown

/** Its members are plain functions (they may be passed on unbound). */
export interface Clock {
  /** Milliseconds, with a fraction; never goes back. The system clock's are epoch ms (`Date.now()`'s scale). */
  now: () => number
  /** Calls `fn` once, `ms` from now (at least 0 ms; a fraction is kept). */
  setTimeout: (fn: () => void, ms: number) => Timer
  /** Cancels a timer; `undefined`, or one that has fired, is ignored. */
  clearTimeout: (timer: Timer | undefined) => void
  /** Calls `fn` at the end of this turn, after what is ready now (I/O included): `setImmediate`'s place. */
  soon: (fn: () => void) => void
  /** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
  sleep: (ms: number, options?: { signal?: AbortSignal }) => Promise<void>
}

/** A number in [0, 1): `Math.random`'s shape, so a seeded generator can take its place. */
export type Random = () => number

/** The process's clock: `performance` time on the epoch scale, Node's timers. */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: timer => { clearTimeout(timer as ReturnType<typeof setTimeout> | undefined) },
  soon: fn => { setImmediate(fn) },
  sleep: async (ms, options) => await sleepOn(systemClock, ms, options?.signal)
}

/** `clock.sleep` for any clock: resolves after `ms`, rejects with `signal`'s reason once it aborts; leaves no timer behind. */
export async function sleepOn (clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Marks a timer as background work: on the system clock it no longer holds the process open (a
 * net never stopped, a block that lasts 10 minutes); a virtual clock's timers have no such notion.
 */
export function background (timer: Timer): Timer {
  (timer as { unref?: () => void } | undefined)?.unref?.()
  return timer
}

/** A random integer in [0, 2^48), from `random`: sessions and request ids. */
export function random48 (random: Random): number {
  return Math.floor(random() * 2 ** 24) * 2 ** 24 + Math.floor(random() * 2 ** 24)
}
