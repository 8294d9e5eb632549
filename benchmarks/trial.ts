/**
 * One timed trial: receivers start counting a fresh trial id, senders run their jobs, and the
 * trial ends when every receiver has its expected count or `graceMs` after the last sender
 * finished. Throughput is delivered messages over the time from the first send to the last
 * delivery, on the machine's shared clock.
 */
import type { SendJob, SendResult } from './contenders/contender.ts'
import type { CpuTime, Requests } from './protocol.ts'
import type { Worker } from './workers.ts'

let lastTrial = 0

export interface TrialSender { worker: Worker, job: Omit<SendJob, 'trial'> }
export interface TrialReceiver { worker: Worker, expect: number }

export interface TrialResult {
  trial: number
  sent: number
  delivered: number
  expected: number
  /** First send to last delivery, ms. */
  windowMs: number
  /** Delivered messages per second over the window. */
  rate: number
  send: Array<{ results: SendResult[], cpu: CpuTime }>
  recv: Array<Requests['recv-stop']['result']>
}

export interface TrialOptions {
  senders: TrialSender[]
  receivers: TrialReceiver[]
  /** Latency samples kept per receiver. */
  maxSamples?: number
  /** After the senders finish, how long to wait for deliveries. */
  graceMs?: number
}

/** A trial id not used before in this run (payloads carry it in 16 bits). */
export function newTrialId (): number {
  lastTrial = (lastTrial % 65_000) + 1
  return lastTrial
}

export async function runTrial (opts: TrialOptions): Promise<TrialResult> {
  const trial = newTrialId()
  const maxSamples = opts.maxSamples ?? 0
  await Promise.all(opts.receivers.map(async r => {
    await r.worker.call('recv-start', { trial, expect: r.expect, maxSamples }, 10_000)
  }))
  const longest = Math.max(...opts.senders.map(s => s.job.deadline)) - Date.now()
  const send = await Promise.all(opts.senders.map(async s => {
    return await s.worker.call('send', { job: { ...s.job, trial } }, Math.max(0, longest) + 60_000)
  }))
  const grace = opts.graceMs ?? 5000
  await Promise.all(opts.receivers.map(async r => await r.worker.waitReceived(trial, grace)))
  const recv = await Promise.all(opts.receivers.map(async r => await r.worker.call('recv-stop', {}, 10_000)))

  let sent = 0
  let startedAt = Infinity
  for (const s of send) {
    for (const r of s.results) {
      sent += r.sent
      if (r.startedAt < startedAt) startedAt = r.startedAt
    }
  }
  let delivered = 0
  let lastAt = 0
  for (const r of recv) {
    delivered += r.received
    if (r.lastAt > lastAt) lastAt = r.lastAt
  }
  const windowMs = Math.max(1e-3, lastAt - startedAt)
  return {
    trial,
    sent,
    delivered,
    expected: opts.receivers.reduce((n, r) => n + r.expect, 0),
    windowMs,
    rate: delivered / windowMs * 1000,
    send,
    recv
  }
}

/** CPU use of a worker over its measured interval, in % of one core. */
export function cpuPercent (cpu: CpuTime): number {
  return cpu.wallMs > 0 ? cpu.cpuMs / cpu.wallMs * 100 : NaN
}
