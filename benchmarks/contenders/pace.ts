/**
 * Fixed-rate sending shared by the contenders: every tick (about 1 ms) sends the messages that
 * are due since the start, so the offered load stays at `rate` on average whatever the timer
 * jitter. Bounded by the job's count and deadline, and by the signal.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { wallNow } from '../payload.ts'
import type { SendJob } from './contender.ts'

/**
 * `sendOne(seq)` sends message `seq`; it returns false (or a promise) when the caller must wait
 * (`waitWritable()`, or the promise) before sending more.
 */
export async function sendAtRate (
  job: SendJob,
  signal: AbortSignal,
  sendOne: (seq: number) => boolean | Promise<unknown>,
  waitWritable: () => Promise<void>
): Promise<number> {
  const start = wallNow()
  let seq = 0
  while (seq < job.count && !signal.aborted) {
    const now = wallNow()
    if (now > job.deadline) break
    const due = Math.min(job.count, Math.floor((now - start) * job.rate / 1000) + 1)
    while (seq < due) {
      const r = sendOne(seq++)
      if (r === false) await waitWritable()
      else if (r !== true) await r
    }
    await sleep(1)
  }
  return seq
}

/** Resolves on the stream's next 'drain', rejects on 'close' or abort. */
export function waitForDrain (stream: EventTarget, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onClose)
    }
    const onDrain = (): void => { done(); resolve() }
    const onClose = (): void => { done(); reject(new Error('stream closed while waiting for drain')) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onClose)
  })
}
