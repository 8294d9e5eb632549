/**
 * Capped exponential backoff with jitter, and an abortable wait. A dispatcher's n-th failed
 * attempt in a row waits `backoffDelay(n)`; a success resets n to 0.
 */
import type { Clock, Random } from '../clock.ts'
import type { ReconnectOptions } from '../config.ts'

export function backoffDelay (attempt: number, o: ReconnectOptions, random: Random): number {
  const base = Math.min(o.maxDelay, o.initialDelay * Math.pow(o.factor, attempt))
  return Math.min(o.maxDelay, Math.max(0, base * (1 + o.jitter * (2 * random() - 1))))
}

/** Resolves after `ms` of `clock`, or at once when `signal` aborts; never rejects, leaves no timer behind. */
export async function sleep (clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      clock.clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = clock.setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
