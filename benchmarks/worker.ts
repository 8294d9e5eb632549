/**
 * A worker process: hosts the node(s) of one contender and answers the parent's requests
 * (see protocol.ts). It counts the payloads of the current trial, keeps one-way latency samples,
 * and measures its own CPU and memory. It exits when the parent goes away, so no node outlives
 * a benchmark run.
 */
import { loadContender } from './contenders/registry.ts'
import { readSentAt, readSeq, readTrial, wallNow } from './payload.ts'
import type { Endpoint } from './contenders/contender.ts'
import type { CpuTime, EventMessage, Pauses, ReplyMessage, RequestMessage, RequestName, Requests, TrackResult } from './protocol.ts'
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks'

if (process.send === undefined) {
  console.error('benchmarks/worker.ts runs as a child of benchmarks/run.ts')
  process.exit(2)
}

const post = (msg: ReplyMessage | EventMessage, then?: () => void): void => {
  if (process.connected) process.send!(msg, undefined, {}, () => then?.())
}

/** Set by 'stall': block the event loop this long once the reply has left. */
let stallMs = 0

let endpoints: Endpoint[] = []
/** The 'hostile' scenario's attacker, loaded by 'hostile-init' only. */
let attacker: typeof import('./attacker.ts') | undefined

/** Reception of the current trial. */
const recv = {
  trial: -1,
  expect: 0,
  received: 0,
  firstAt: 0,
  lastAt: 0,
  samples: new Float64Array(0),
  sampleCount: 0,
  cpuStart: process.cpuUsage(),
  wallStart: 0,
  cpuAtDone: undefined as CpuTime | undefined,
  background: { trial: -1, received: 0, bytes: 0, firstAt: 0, lastAt: 0 }
}

function cpuSince (start: NodeJS.CpuUsage, wallStart: number): CpuTime {
  const d = process.cpuUsage(start)
  return { cpuMs: (d.user + d.system) / 1000, wallMs: wallNow() - wallStart }
}

/** Per-sequence-number tracking of some trials ('track-start'): duplicates, order, arrivals. */
interface Tracked { seen: Uint8Array, maxSeen: number, result: TrackResult, arrivalCount: number }
let tracked: Map<number, Tracked> | undefined

function track (t: Tracked, payload: Uint8Array): void {
  const r = t.result
  if (t.arrivalCount < r.arrivals.length) r.arrivals[t.arrivalCount++] = wallNow()
  const seq = readSeq(payload)
  if (seq >= t.seen.length) {
    r.outOfRange++
    return
  }
  if (t.seen[seq] !== 0) {
    r.duplicates++
    return
  }
  t.seen[seq] = 1
  r.unique++
  if (seq < t.maxSeen) r.reordered++
  else t.maxSeen = seq
}

function onPayload (payload: Uint8Array): void {
  if (tracked !== undefined) {
    const t = tracked.get(readTrial(payload))
    if (t !== undefined) track(t, payload)
  }
  if (recv.trial < 0) return
  const trial = readTrial(payload)
  if (trial !== recv.trial) {
    const b = recv.background
    if (trial !== b.trial || b.trial < 0) return
    const now = wallNow()
    if (b.received === 0) b.firstAt = now
    b.lastAt = now
    b.received++
    b.bytes += payload.byteLength
    return
  }
  const now = wallNow()
  if (recv.received === 0) recv.firstAt = now
  recv.lastAt = now
  recv.received++
  if (recv.sampleCount < recv.samples.length) recv.samples[recv.sampleCount++] = now - readSentAt(payload)
  if (recv.received === recv.expect) {
    recv.cpuAtDone = cpuSince(recv.cpuStart, recv.wallStart)
    post({ event: 'recv-done', trial: recv.trial })
  }
}

const memory = { timer: undefined as NodeJS.Timeout | undefined, before: 0, peak: 0, liveBefore: 0, heapBefore: 0 }

function liveBytes (): number {
  const u = process.memoryUsage()
  return u.heapUsed + u.external
}

async function fullGc (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return
  gc()
  await new Promise(resolve => setTimeout(resolve, 50))
  gc()
}

function sampleMemory (): void {
  const rss = process.memoryUsage.rss()
  if (rss > memory.peak) memory.peak = rss
}

/** Event-loop delay and GC pauses between 'recv-start' and 'recv-stop', when asked for. */
const pauses = {
  histogram: undefined as ReturnType<typeof monitorEventLoopDelay> | undefined,
  startedAt: 0,
  observer: undefined as PerformanceObserver | undefined,
  gc: { count: 0, totalMs: 0, maxMs: 0 },
  start (): void {
    this.stop()
    this.gc = { count: 0, totalMs: 0, maxMs: 0 }
    this.startedAt = wallNow()
    this.histogram = monitorEventLoopDelay({ resolution: 1 })
    this.histogram.enable()
    this.observer = new PerformanceObserver(list => {
      for (const e of list.getEntries()) {
        this.gc.count++
        this.gc.totalMs += e.duration
        this.gc.maxMs = Math.max(this.gc.maxMs, e.duration)
      }
    })
    this.observer.observe({ entryTypes: ['gc'] })
  },
  stop (): Pauses | undefined {
    const h = this.histogram
    if (h === undefined) return undefined
    h.disable()
    this.observer?.disconnect()
    this.histogram = undefined
    this.observer = undefined
    // the histogram is in ns and includes the sampling interval itself
    return {
      loopDelayP50: h.percentile(50) / 1e6,
      loopDelayP99: h.percentile(99) / 1e6,
      loopDelayMax: h.max / 1e6,
      gcCount: this.gc.count,
      gcTotalMs: this.gc.totalMs,
      gcMaxMs: this.gc.maxMs,
      wallMs: wallNow() - this.startedAt
    }
  }
}

type Handler<K extends RequestName> = (args: Requests[K]['args']) => Promise<Requests[K]['result']>

const handlers: { [K in RequestName]: Handler<K> } = {
  async init ({ contender, nodes, options, loopback, channels, respond, resolver }) {
    const factory = await loadContender(contender)
    endpoints = []
    for (const n of nodes) {
      endpoints.push(await factory({
        ...n,
        ...(options === undefined ? {} : { options }),
        loopback: loopback === true,
        ...(channels === undefined ? {} : { channels }),
        ...(respond === undefined ? {} : { respond }),
        ...(resolver === undefined ? {} : { resolver })
      }, onPayload))
    }
    return { addrs: endpoints.map(e => e.addrs()), rss: process.memoryUsage.rss() }
  },
  async connect ({ peers, timeoutMs, waitFor }) {
    const signal = AbortSignal.timeout(timeoutMs)
    const cpuStart = process.cpuUsage()
    const startedAt = wallNow()
    const readyAt = await Promise.all(endpoints.map(async (e, i) => {
      await e.connect(peers[i], signal, waitFor)
      return wallNow()
    }))
    const cpu = cpuSince(cpuStart, startedAt)
    const { rss, heapTotal, heapUsed, external } = process.memoryUsage()
    return { startedAt, readyAt, rss, memory: { heapTotal, heapUsed, external }, cpu }
  },
  async 'recv-start' ({ trial, expect, maxSamples, background, pauses: measurePauses }) {
    recv.background = { trial: background ?? -1, received: 0, bytes: 0, firstAt: 0, lastAt: 0 }
    if (measurePauses === true) pauses.start()
    else pauses.stop()
    recv.trial = trial
    recv.expect = expect
    recv.received = 0
    recv.firstAt = 0
    recv.lastAt = 0
    if (recv.samples.length !== maxSamples) recv.samples = new Float64Array(maxSamples)
    recv.sampleCount = 0
    recv.cpuAtDone = undefined
    recv.cpuStart = process.cpuUsage()
    recv.wallStart = wallNow()
    return {}
  },
  async 'recv-stop' () {
    const cpu = recv.cpuAtDone ?? cpuSince(recv.cpuStart, recv.wallStart)
    const result = {
      received: recv.received,
      firstAt: recv.firstAt,
      lastAt: recv.lastAt,
      cpu,
      latencies: recv.samples.slice(0, recv.sampleCount),
      background: { received: recv.background.received, bytes: recv.background.bytes, firstAt: recv.background.firstAt, lastAt: recv.background.lastAt },
      pauses: pauses.stop()
    }
    recv.trial = -1
    return result
  },
  async send ({ job }) {
    const signal = AbortSignal.timeout(Math.round(Math.max(1000, job.deadline - wallNow() + 30_000)))
    const cpuStart = process.cpuUsage()
    const wallStart = wallNow()
    const results = await Promise.all(endpoints.map(async e => await e.send(job, signal)))
    const cpu = cpuSince(cpuStart, wallStart)
    // what was prepared before the clock started (the ceiling's packing, synchronous: its wall
    // time is its CPU time) is not the trial's
    const setup = results.reduce((ms, r) => ms + (r.setupCpuMs ?? 0), 0)
    cpu.cpuMs -= setup
    cpu.wallMs -= setup
    return { results, cpu }
  },
  async request ({ job }) {
    const signal = AbortSignal.timeout(Math.round(Math.max(1000, job.deadline - wallNow() + job.timeoutMs + 30_000)))
    const cpuStart = process.cpuUsage()
    const wallStart = wallNow()
    const results = await Promise.all(endpoints.map(async e => {
      if (e.request === undefined) throw new Error(`${e.nodeId}: this contender does not run request jobs`)
      return await e.request(job, signal)
    }))
    return { results, cpu: cpuSince(cpuStart, wallStart) }
  },
  async fetch ({ job }) {
    const signal = AbortSignal.timeout(Math.round(Math.max(1000, job.deadline - wallNow() + job.timeoutMs + 30_000)))
    const cpuStart = process.cpuUsage()
    const wallStart = wallNow()
    const results = await Promise.all(endpoints.map(async e => {
      if (e.fetch === undefined) throw new Error(`${e.nodeId}: this contender does not run fetch jobs`)
      return await e.fetch(job, signal)
    }))
    return { results, cpu: cpuSince(cpuStart, wallStart) }
  },
  async 'produce-delay' ({ ms }) {
    for (const e of endpoints) {
      if (e.setProduceDelay === undefined) throw new Error(`${e.nodeId}: this contender has no key-value service`)
      e.setProduceDelay(ms)
    }
    return {}
  },
  async 'track-start' ({ trials, maxSeq, maxArrivals }) {
    tracked = new Map(trials.map(trial => [trial, {
      seen: new Uint8Array(maxSeq),
      maxSeen: -1,
      arrivalCount: 0,
      result: { trial, unique: 0, duplicates: 0, reordered: 0, outOfRange: 0, arrivals: new Float64Array(maxArrivals) }
    }]))
    return {}
  },
  async 'track-count' () {
    const unique: Record<number, number> = {}
    for (const [trial, t] of tracked ?? []) unique[trial] = t.result.unique
    return { unique }
  },
  async 'track-stop' () {
    const t = tracked
    tracked = undefined
    return { trials: t === undefined ? [] : [...t.values()].map(x => ({ ...x.result, arrivals: x.result.arrivals.slice(0, x.arrivalCount) })) }
  },
  async 'memory-start' ({ intervalMs, pauses: measurePauses }) {
    if (memory.timer !== undefined) clearInterval(memory.timer)
    await fullGc()
    if (measurePauses === true) pauses.start()
    memory.liveBefore = liveBytes()
    memory.heapBefore = process.memoryUsage().heapTotal
    memory.before = process.memoryUsage.rss()
    memory.peak = memory.before
    memory.timer = setInterval(sampleMemory, intervalMs)
    return { rss: memory.before }
  },
  async 'memory-stop' () {
    const stopped = pauses.stop()
    if (memory.timer !== undefined) clearInterval(memory.timer)
    memory.timer = undefined
    sampleMemory()
    const after = process.memoryUsage.rss()
    await fullGc()
    return {
      before: memory.before,
      peak: memory.peak,
      after,
      afterGc: process.memoryUsage.rss(),
      liveBefore: memory.liveBefore,
      liveAfterGc: liveBytes(),
      heapBefore: memory.heapBefore,
      heapAfterGc: process.memoryUsage().heapTotal,
      pauses: stopped
    }
  },
  async stall ({ ms }) {
    stallMs = Math.min(ms, 120_000)
    return {}
  },
  async stats () {
    const usage = process.memoryUsage()
    return { nodes: endpoints.map(e => e.stats()), rss: usage.rss, heapUsed: usage.heapUsed }
  },
  async 'hostile-init' () {
    attacker ??= await import('./attacker.ts')
    return await attacker.startMember()
  },
  async 'hostile-attack' ({ attack, target, ms }) {
    if (attacker === undefined) throw new Error('hostile-init first')
    return await attacker.runAttack(attack, target, ms)
  },
  async stop () {
    await attacker?.stopAttacker()
    await Promise.allSettled(endpoints.map(async e => { await e.stop() }))
    endpoints = []
    setTimeout(() => process.exit(0), 10).unref()
    return {}
  }
}

process.on('message', (raw) => {
  const msg = raw as RequestMessage
  const handler = handlers[msg.cmd] as (args: unknown) => Promise<unknown>
  handler(msg.args).then(
    result => {
      post({ id: msg.id, ok: true, result }, () => {
        if (stallMs > 0) {
          const ms = stallMs
          stallMs = 0
          // a member that stops reading: the thread sleeps, the kernel's socket buffers fill up
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
        }
      })
    },
    (err: Error) => { post({ id: msg.id, ok: false, error: err?.stack ?? String(err) }) }
  )
})

// the parent went away (finished, crashed or killed): never outlive it
process.on('disconnect', () => { process.exit(0) })
// a peer's misbehaviour must not kill the node silently; the parent sees the error on its next request
process.on('unhandledRejection', (err) => { console.error('worker unhandled rejection:', err) })
