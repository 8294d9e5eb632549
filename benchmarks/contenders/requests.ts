/**
 * The request loop shared by the request/response contenders, so that both are driven and timed
 * alike: a closed loop that keeps exactly `concurrency` requests outstanding until `count` were
 * issued, or a fixed offered rate (open loop, at most `concurrency` outstanding). A round trip is
 * timed from before the request is built to when its whole response is in hand, and counts as a
 * success only if the response carries back this request's header (trial and sequence number).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { HEADER_BYTES, allocPayload, readSeq, readTrial, wallNow } from '../payload.ts'
import type { RequestJob, RequestResult } from './contender.ts'

/** A response of `size` bytes that carries the request's header back, allocated as a payload is. */
export function responseTo (request: Uint8Array, size: number): Uint8Array {
  const response = allocPayload(size)
  response.set(request.subarray(0, Math.min(HEADER_BYTES, size, request.byteLength)), 0)
  return response
}

/** `requestOne(seq)` builds request `seq` (header stamped), sends it and resolves with its response. */
export async function runRequests (
  job: RequestJob,
  signal: AbortSignal,
  requestOne: (seq: number) => Promise<Uint8Array>
): Promise<RequestResult> {
  const latencies = new Float64Array(job.count)
  const errors: Record<string, number> = {}
  let issued = 0
  let succeeded = 0
  let failed = 0
  let capped = 0
  let endedAt = 0
  const fail = (code: string): void => {
    failed++
    errors[code] = (errors[code] ?? 0) + 1
  }
  // never rejects: every outcome is counted
  const one = async (seq: number): Promise<void> => {
    issued++
    const start = wallNow()
    try {
      const response = await requestOne(seq)
      const end = wallNow()
      endedAt = Math.max(endedAt, end)
      if (response.byteLength < HEADER_BYTES || readTrial(response) !== job.trial || readSeq(response) !== seq) {
        fail('wrong response')
      } else {
        latencies[succeeded++] = end - start
      }
    } catch (err) {
      endedAt = Math.max(endedAt, wallNow())
      const e = err as { code?: unknown, name?: unknown }
      fail(typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : String(err))
    }
  }
  const open = (): boolean => !signal.aborted && wallNow() < job.deadline
  const startedAt = wallNow()
  if (job.rate <= 0) {
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < job.count && open()) await one(next++)
    }
    await Promise.all(Array.from({ length: Math.max(1, job.concurrency) }, lane))
  } else {
    const outstanding = new Set<Promise<void>>()
    let seq = 0
    while (seq < job.count && open()) {
      const due = Math.min(job.count, Math.floor((wallNow() - startedAt) * job.rate / 1000) + 1)
      while (seq < due && open()) {
        if (outstanding.size >= job.concurrency) {
          capped++
          await Promise.race(outstanding)
          continue
        }
        const p: Promise<void> = one(seq++).finally(() => { outstanding.delete(p) })
        outstanding.add(p)
      }
      await sleep(1)
    }
    await Promise.all(outstanding)
  }
  return { issued, succeeded, failed, errors, capped, startedAt, endedAt, latencies: latencies.slice(0, succeeded) }
}
