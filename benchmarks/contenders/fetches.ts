/**
 * The fetch loop of the resolver scenario, shared by its two ways of fetching (the resolver, and
 * a naive request per fetch) so that both are driven and timed alike: a closed loop that keeps
 * `concurrency` fetches outstanding until every fetch of the job was issued or the deadline
 * passed. A fetch is timed from its call until its value is in hand, and counts as a success
 * only if the value is the key's (it starts with the key and has the service's size).
 */
import { wallNow } from '../payload.ts'
import type { FetchJob, FetchResult } from './contender.ts'

const encoder = new TextEncoder()

/** The value every node serves for `key`: `size` bytes starting with the key's UTF-8 bytes. */
export function valueFor (key: string, size: number): Uint8Array {
  const value = new Uint8Array(size)
  encoder.encodeInto(key, value)
  return value
}

function isValueOf (value: Uint8Array, key: string, size: number): boolean {
  if (value.byteLength !== size) return false
  const k = encoder.encode(key)
  for (let i = 0; i < k.byteLength && i < size; i++) if (value[i] !== k[i]) return false
  return true
}

/** `fetchOne(key, to)` resolves with the value of `key`. */
export async function runFetches (
  job: FetchJob,
  valueSize: number,
  signal: AbortSignal,
  fetchOne: (key: string, to: string) => Promise<Uint8Array>
): Promise<FetchResult> {
  const latencies = new Float64Array(job.fetches.length)
  const errors: Record<string, number> = {}
  let issued = 0
  let succeeded = 0
  let failed = 0
  let endedAt = 0
  const fail = (code: string): void => {
    failed++
    errors[code] = (errors[code] ?? 0) + 1
  }
  const one = async (i: number): Promise<void> => {
    issued++
    const { key, to } = job.fetches[i]
    const start = wallNow()
    try {
      const value = await fetchOne(key, to)
      const end = wallNow()
      endedAt = Math.max(endedAt, end)
      if (isValueOf(value, key, valueSize)) latencies[succeeded++] = end - start
      else fail('wrong value')
    } catch (err) {
      endedAt = Math.max(endedAt, wallNow())
      const e = err as { code?: unknown, name?: unknown }
      fail(typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : String(err))
    }
  }
  const startedAt = wallNow()
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < job.fetches.length && !signal.aborted && wallNow() < job.deadline) await one(next++)
  }
  await Promise.all(Array.from({ length: Math.max(1, job.concurrency) }, lane))
  return { issued, succeeded, failed, errors, startedAt, endedAt, latencies: latencies.slice(0, succeeded) }
}
