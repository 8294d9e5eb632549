/**
 * The requests the parent process sends a worker process over IPC, and what each answers.
 * One worker hosts one node (or, for floods, several nodes of the same contender).
 */
import type { AttackName, AttackResult } from './attacker.ts'
import type { ChannelSpec, ContenderName, FetchJob, FetchResult, RequestJob, RequestResult, ResolverSpec, SendJob, SendResult } from './contenders/contender.ts'

export interface CpuTime {
  /** CPU time used (user + system), ms. */
  cpuMs: number
  /** Wall time of the same interval, ms. */
  wallMs: number
}

export interface Pauses {
  loopDelayP50: number
  loopDelayP99: number
  loopDelayMax: number
  gcCount: number
  gcTotalMs: number
  gcMaxMs: number
  /** Over this long. */
  wallMs: number
}

export interface Requests {
  init: {
    args: {
      contender: ContenderName
      nodes: Array<{ nodeId: string, index: number }>
      options?: Record<string, unknown>
      loopback?: boolean
      channels?: ChannelSpec[]
      respond?: number
      resolver?: ResolverSpec
    }
    result: { addrs: string[][], rss: number }
  }
  /** One peer map per hosted node; resolves when every node can send. */
  connect: {
    args: { peers: Array<Record<string, string>>, timeoutMs: number, waitFor?: number }
    /** `memory`: the process's V8 heap (total, used) and memory outside it (external: ArrayBuffers, Buffers), once ready. */
    result: { startedAt: number, readyAt: number[], rss: number, memory: { heapTotal: number, heapUsed: number, external: number }, cpu: CpuTime }
  }
  /**
   * Count payloads of `trial` from now on; a 'recv-done' event follows when `expect` arrived.
   * Payloads of `background` (another trial running alongside, e.g. a flood) are counted apart,
   * without latency samples. With `pauses`, the worker also records its event-loop delay and GC
   * pauses until 'recv-stop'.
   */
  'recv-start': {
    args: { trial: number, expect: number, maxSamples: number, background?: number, pauses?: boolean }
    result: Record<string, never>
  }
  'recv-stop': {
    args: Record<string, never>
    result: {
      received: number
      firstAt: number
      lastAt: number
      cpu: CpuTime
      latencies: Float64Array
      background: { received: number, bytes: number, firstAt: number, lastAt: number }
      /** With `pauses`: event-loop delay percentiles and GC pauses, ms. */
      pauses?: Pauses
    }
  }
  /** Every hosted node runs the job (job.to the same for all). */
  send: {
    args: { job: SendJob }
    result: { results: SendResult[], cpu: CpuTime }
  }
  /** Every hosted node runs the request job and times each round trip. */
  request: {
    args: { job: RequestJob }
    result: { results: RequestResult[], cpu: CpuTime }
  }
  /** Every hosted node runs the fetch job (the resolver scenario) and times each fetch. */
  fetch: {
    args: { job: FetchJob }
    result: { results: FetchResult[], cpu: CpuTime }
  }
  /** From now on, every hosted node's key-value service takes this long to produce a value. */
  'produce-delay': {
    args: { ms: number }
    result: Record<string, never>
  }
  /**
   * Tracks every payload of `trials` by sequence number from now on (alongside 'recv-start'):
   * unique ones, duplicates, ones older than one already delivered, and the arrival time of
   * every delivery (at most `maxArrivals` per trial). Sequence numbers at or above `maxSeq` are
   * counted apart.
   */
  'track-start': {
    args: { trials: number[], maxSeq: number, maxArrivals: number }
    result: Record<string, never>
  }
  /** Distinct sequence numbers delivered so far, per tracked trial. */
  'track-count': {
    args: Record<string, never>
    result: { unique: Record<number, number> }
  }
  'track-stop': {
    args: Record<string, never>
    result: { trials: TrackResult[] }
  }
  'memory-start': {
    /** `pauses`: also record event-loop delay and GC pauses until 'memory-stop'. */
    args: { intervalMs: number, pauses?: boolean }
    result: { rss: number }
  }
  'memory-stop': {
    args: Record<string, never>
    /**
     * RSS at start, peak (sampled), at stop, and after two full GCs; and live JS memory (heap used
     * + external) at start and after the GCs.
     */
    result: {
      before: number
      peak: number
      after: number
      afterGc: number
      liveBefore: number
      liveAfterGc: number
      /** V8 heap committed (heapTotal) at start and after the GCs. */
      heapBefore: number
      heapAfterGc: number
      pauses?: Pauses
    }
  }
  /** Blocks this worker's event loop for `ms` (no reading, no CPU), right after answering. */
  stall: {
    args: { ms: number }
    result: Record<string, never>
  }
  stats: {
    args: Record<string, never>
    result: { nodes: Array<Record<string, unknown>>, rss: number, heapUsed: number }
  }
  stop: {
    args: Record<string, never>
    result: Record<string, never>
  }
  /** The 'hostile' scenario's attacker (benchmarks/attacker.ts): starts its member identity. */
  'hostile-init': {
    args: Record<string, never>
    result: { addr: string }
  }
  /** Runs one attack against `target` (a multiaddr with /p2p/) for `ms`. */
  'hostile-attack': {
    args: { attack: AttackName, target: string, ms: number }
    result: AttackResult
  }
}

export interface TrackResult {
  trial: number
  /** Distinct sequence numbers delivered. */
  unique: number
  /** Deliveries of a sequence number already delivered. */
  duplicates: number
  /** First deliveries of a sequence number lower than one delivered before. */
  reordered: number
  /** Deliveries with a sequence number >= maxSeq (not tracked). */
  outOfRange: number
  /** Arrival time of every delivery, in order (wall-clock ms). */
  arrivals: Float64Array
}

export type RequestName = keyof Requests

export interface RequestMessage { id: number, cmd: RequestName, args: unknown }
export type ReplyMessage = { id: number, ok: true, result: unknown } | { id: number, ok: false, error: string }
export interface EventMessage { event: 'recv-done', trial: number }
