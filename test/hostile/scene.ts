/**
 * The stage of every hostile-peer test: a victim in its own process (test/hostile/victim.ts, run
 * with --expose-gc and a capped heap, killed at the end whatever happens), an honest member in
 * this process that keeps asking the victim for answers throughout, and a hostile peer (a member
 * of the victim or not). What the issue asks of every attack is checked here, once: the victim
 * stays up, its live heap after forced GCs stays within a bound derived from its options, and
 * the honest member is served. Every expectation is checked and all that fail are reported
 * together, with what was measured, so that a failing run says everything it saw.
 */
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { createConsensusNet, type ConsensusNet } from '../../src/index.ts'
import { HostilePeer } from './hostile-peer.ts'
import { valueOf } from './attacks.ts'
import type { VictimConfig, VictimMemory, VictimStats } from './victim.ts'
import type { TestContext } from 'node:test'

const VICTIM = new URL('./victim.ts', import.meta.url).pathname
const KiB = 1024
const MiB = 1024 * KiB

/** Small bounds, so that the bound below is tight enough to catch a leak within seconds. */
export const VICTIM_INIT = {
  maxMessageSize: 64 * KiB,
  sendBufferBytes: 1 * MiB,
  sendBufferSize: 1024,
  tentativeBufferBytes: 256 * KiB,
  tentativeBufferSize: 256,
  maxTentativeReceivers: 8,
  reconnect: { initialDelay: 20, maxDelay: 200 }
}

/** Defaults docs/api.md gives ("Node options", "Channel options") for what VICTIM_INIT leaves out. */
const DEFAULTS = { maxBytesInFlight: 1 * MiB, maxWriteBytes: 256 * KiB, maxConcurrentRequests: 16, maxQueuedRequests: 1024 }

/** 'svc' answers at once (the honest member's channel too); 'parts' streams parts for as long as it is asked. */
export const VICTIM_CHANNELS: VictimConfig['channels'] = [
  { name: 'svc', options: { maxQueuedRequests: 64 }, serve: 'echo' },
  { name: 'parts', options: { maxQueuedRequests: 16 }, serve: 'parts', partBytes: 1024 }
]

/** Per queued item (a lane's envelope, a held message, a request being served): the JS object around its bytes. */
const ITEM = 256
/** The control lane's bounds (docs/guarantees.md, "Worst-case memory"). */
const CONTROL_FRAMES = 4096
const CONTROL_BYTES = 4 * MiB
/** A 1.1.0 frame's leading fields, at most (docs/wire.md, "Limits": a length may exceed maxMessageSize by 80). */
const FIELD_BYTES = 80
/** Requests waiting per member and channel: at most this many bytes of copies, or one larger request (docs/guarantees.md, "Worst-case memory"). */
const QUEUED_REQUEST_BYTES = 1 * MiB
/** What libp2p holds of a paused stream before it resets it: its default for a non-member, a yamux window and a write for a member (docs/guarantees.md, "Worst-case memory"). */
const READ_BUFFER = 4 * MiB
const YAMUX_MAX_WINDOW = 16 * MiB
/**
 * What the worst-case formula (docs/guarantees.md) does not count and a live node holds anyway:
 * libp2p's state per connection and stream, peer store entries, compiled code. Measured by control.test.ts (no
 * attack: 1,400 member streams of valid frames, or 40 non-members connecting): 1.4-2.3 MiB above
 * idle; about four times that.
 */
export const SLACK = 8 * MiB

/**
 * The victim's worst-case live memory above idle, derived from its options as docs/guarantees.md's
 * "Worst-case memory" list adds it up (queues, requests served and waiting, tentative peers, one
 * partial frame per inbound stream and what a paused one holds, bytes handed to libp2p), each
 * queued item costed at ITEM bytes on top of its payload, plus SLACK. `remote`: members other
 * than the victim.
 */
export function heapBound (config: VictimConfig, remote: number): { bytes: number, terms: Record<string, number> } {
  const o = { ...DEFAULTS, ...config.init } as typeof DEFAULTS & typeof VICTIM_INIT
  const lane = Math.min(o.sendBufferBytes, o.sendBufferSize * o.maxMessageSize) + o.sendBufferSize * ITEM
  let served = 0
  for (const c of config.channels) {
    if (c.serve === 'none') continue
    const concurrent = (c.options.maxConcurrentRequests as number | undefined) ?? o.maxConcurrentRequests
    const queued = (c.options.maxQueuedRequests as number | undefined) ?? o.maxQueuedRequests
    served += concurrent * (o.maxMessageSize + ITEM) + Math.min(queued * o.maxMessageSize, Math.max(QUEUED_REQUEST_BYTES, o.maxMessageSize)) + queued * ITEM
  }
  // a stream that waits its turn: what arrived beyond its budget, and libp2p's read buffer while paused
  const memberReadBuffer = YAMUX_MAX_WINDOW + o.maxWriteBytes
  const terms = {
    lanes: remote * (1 + config.channels.length) * lane,
    control: remote * (CONTROL_BYTES + CONTROL_FRAMES * ITEM),
    requests: remote * served,
    tentative: o.maxTentativeReceivers * (o.tentativeBufferBytes + o.tentativeBufferSize * ITEM),
    partialFrames: (remote + o.maxTentativeReceivers) * (o.maxMessageSize + 1 + FIELD_BYTES),
    waiting: remote * 2 * memberReadBuffer + o.maxTentativeReceivers * 2 * READ_BUFFER,
    inFlight: remote * (o.maxBytesInFlight + o.maxWriteBytes),
    slack: SLACK
  }
  return { bytes: Object.values(terms).reduce((a, b) => a + b, 0), terms }
}

export const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`

/** The victim's process, driven over IPC. */
export class VictimProcess {
  readonly child: ChildProcess
  readonly config: VictimConfig
  addr = ''
  peerId = ''
  /** 'peer:blocked' events, in order. */
  readonly blocked: Array<{ peer: string, node?: string, until?: number, reason: string }> = []
  #stderr = ''
  #exit: string | undefined
  #nextId = 1
  readonly #pending = new Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>()
  readonly #ready: Promise<void>

  private constructor (config: VictimConfig) {
    this.config = config
    // the heap cap makes a leak kill the victim in seconds rather than swap the machine
    this.child = fork(VICTIM, [JSON.stringify(config)], {
      execArgv: ['--expose-gc', '--max-old-space-size=768'],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc']
    })
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (s: string) => { this.#stderr = (this.#stderr + s).slice(-3000) })
    let ready!: () => void
    let failed!: (e: Error) => void
    this.#ready = new Promise((resolve, reject) => { ready = resolve; failed = reject })
    this.child.on('message', (m: any) => {
      if (m.event === 'ready') {
        this.peerId = m.peerId
        this.addr = (m.addrs as string[]).find(a => a.startsWith('/ip4/127.0.0.1/')) ?? m.addrs[0]
        ready()
      } else if (m.event === 'peer:blocked') {
        this.blocked.push(m.detail)
      } else if (typeof m.id === 'number') {
        const p = this.#pending.get(m.id)
        this.#pending.delete(m.id)
        if (m.ok === true) p?.resolve(m.result)
        else p?.reject(new Error(`victim: ${String(m.error)}`))
      }
    })
    this.child.on('error', () => {}) // IPC errors of a dead victim: every call reports them, and 'exit' follows
    this.child.on('exit', (code, signal) => {
      this.#exit = `victim exited (${signal ?? code})${this.#stderr === '' ? '' : ': ' + lastLines(this.#stderr)}`
      for (const p of this.#pending.values()) p.reject(new Error(this.#exit))
      this.#pending.clear()
      failed(new Error(this.#exit))
    })
  }

  static async start (config: VictimConfig): Promise<VictimProcess> {
    const v = new VictimProcess(config)
    await withTimeout(v.#ready, 30_000, 'the victim did not start')
    return v
  }

  /** Why the process ended, if it did. */
  get exit (): string | undefined {
    return this.#exit
  }

  /** Resolves once the process has exited, or after `ms`. */
  async exited (ms: number): Promise<void> {
    if (this.#exit !== undefined) return
    await withTimeout(new Promise(resolve => this.child.once('exit', resolve)), ms, 'still running').catch(() => {})
  }

  async call<T = unknown> (cmd: string, args: object = {}, ms = 15_000): Promise<T> {
    if (this.#exit !== undefined) throw new Error(this.#exit)
    const id = this.#nextId++
    const reply = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      // a victim that died a moment ago: the send fails (EPIPE) before its 'exit' arrives
      this.child.send({ id, cmd, args }, err => { if (err != null) reject(new Error(`victim: ${err.message}${this.#stderr === '' ? '' : ': ' + lastLines(this.#stderr)}`)) })
    })
    return await withTimeout(reply, ms, `the victim did not answer '${cmd}' within ${ms} ms (event loop blocked?)`)
      .finally(() => { this.#pending.delete(id) })
  }

  async stats (): Promise<VictimStats> {
    return await this.call<VictimStats>('stats')
  }

  async memory (): Promise<VictimMemory> {
    return await this.call<VictimMemory>('memory', {}, 30_000)
  }

  async kill (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}

/** What every check found; all are reported at the end, with the measurements taken. */
export class Findings {
  readonly problems: string[] = []
  readonly measured: string[] = []

  check (ok: boolean, problem: string): boolean {
    if (!ok) this.problems.push(problem)
    return ok
  }

  note (line: string): void {
    this.measured.push(line)
  }

  /** Fails the test with every problem found, listing the measurements; passes with them as diagnostics. */
  settle (t: TestContext): void {
    for (const m of this.measured) t.diagnostic(m)
    assert.ok(this.problems.length === 0, `${this.problems.length} expectation(s) failed:\n- ${this.problems.join('\n- ')}\nmeasured:\n  ${this.measured.join('\n  ')}`)
  }
}

/** The honest member's requests while an attack runs: one every `every` ms, each allowed `timeout` ms. */
export class HonestLoad {
  readonly latencies: number[] = []
  readonly failures: Record<string, number> = {}
  issued = 0
  readonly #inFlight = new Set<Promise<void>>()
  readonly #timer: ReturnType<typeof setInterval>
  readonly #maxCount: number

  constructor (honest: ConsensusNet, to: string, { every = 20, timeout = 2000, maxMs = 30_000 } = {}) {
    const channel = honest.channel('svc')
    const payload = new Uint8Array(256).fill(0x68)
    this.#maxCount = Math.ceil(maxMs / every)
    const one = (): void => {
      if (this.issued >= this.#maxCount) return
      this.issued++
      const started = performance.now()
      const p: Promise<void> = channel.request(to, payload, { timeout }).then(
        () => { this.latencies.push(performance.now() - started) },
        (err: { code?: string, name?: string }) => {
          const code = err?.code ?? err?.name ?? 'error'
          this.failures[code] = (this.failures[code] ?? 0) + 1
        }
      ).finally(() => { this.#inFlight.delete(p) })
      this.#inFlight.add(p)
      this.#waiters = this.#waiters.filter(w => {
        if (this.issued < w.n) return true
        w.resolve()
        return false
      })
    }
    one()
    this.#timer = setInterval(one, every)
  }

  #waiters: Array<{ n: number, resolve: () => void }> = []

  /** Resolves once `n` requests were issued (at most `ms` later): a short attack still sees a few. */
  async issuedAtLeast (n: number, ms: number): Promise<void> {
    if (this.issued >= n) return
    await withTimeout(new Promise<void>(resolve => { this.#waiters.push({ n, resolve }) }), ms, 'honest requests').catch(() => {})
  }

  /** Stops issuing and waits for what is in flight (each bounded by its timeout). */
  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await Promise.all(this.#inFlight)
  }

  percentile (p: number): number {
    const s = [...this.latencies].sort((a, b) => a - b)
    return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]
  }

  describe (): string {
    const failed = Object.values(this.failures).reduce((a, b) => a + b, 0)
    return `${this.latencies.length}/${this.issued} answered, p50 ${this.percentile(50).toFixed(1)} ms, p99 ${this.percentile(99).toFixed(1)} ms, max ${Math.max(0, ...this.latencies).toFixed(0)} ms` +
      (failed > 0 ? `, failed ${JSON.stringify(this.failures)}` : '')
  }
}

export interface SceneOptions {
  /** The attacker is in the victim's membership (as 'x'), and reads the victim's stream to it. */
  member: boolean
  /** How the attacker reads the victim's stream to it: reporting FLOW, never, or falsely. */
  reading?: 'honest' | 'silent' | 'lying'
  /** More hostile members (x1, x2, ...), reading like the attacker: a coalition. */
  accomplices?: number
  channels?: VictimConfig['channels']
  init?: Record<string, unknown>
  /** The victim opens a resolver of this name (and the honest member one that serves every key). */
  resolver?: string
}

export interface Scene {
  victim: VictimProcess
  honest: ConsensusNet
  attacker: HostilePeer
  /** The other hostile members (`accomplices`), after `attacker`. */
  accomplices: HostilePeer[]
  findings: Findings
  config: VictimConfig
  /** The victim's live memory before the attack, and the most it may hold above it. */
  idle: VictimMemory
  bound: number
  /**
   * Checks the victim's live heap against the bound now; returns it. `quiescent`: nothing is
   * queued, held, served or in flight any more (the attack's streams are closed and answered), so
   * every term of the bound is zero but SLACK: what is left is state the attack left behind.
   */
  checkHeap: (when: string, quiescent?: boolean) => Promise<number | undefined>
  /** The victim's stats, or undefined (noted as a problem) if it does not answer. */
  stats: () => Promise<VictimStats | undefined>
}

/**
 * Runs `attack` on a fresh scene, then checks that the victim is up, its heap within the bound,
 * and the honest member served throughout; tears everything down whatever happens.
 */
export async function onStage (t: TestContext, options: SceneOptions, attack: (s: Scene) => Promise<void>): Promise<void> {
  const config: VictimConfig = {
    init: { ...VICTIM_INIT, ...options.init },
    channels: options.channels ?? VICTIM_CHANNELS,
    manyHosts: true,
    ...(options.resolver === undefined ? {} : { resolver: options.resolver })
  }
  const findings = new Findings()
  const cleanup: Array<() => Promise<unknown>> = []
  try {
    const victim = await VictimProcess.start(config)
    cleanup.push(async () => { await victim.kill() })
    const honest = await createConsensusNet({ reconnect: { initialDelay: 20, maxDelay: 200 } })
    cleanup.push(async () => { await honest.stop() })
    honest.channel('svc')
    if (options.resolver !== undefined) honest.resolver(options.resolver, { produce: key => valueOf(key) })
    const attacker = await HostilePeer.start()
    cleanup.push(async () => { await attacker.stop() })
    const accomplices: HostilePeer[] = []
    for (let i = 0; i < (options.accomplices ?? 0); i++) {
      const p = await HostilePeer.start()
      cleanup.push(async () => { await p.stop() })
      accomplices.push(p)
    }
    const hostile: Record<string, string> = {}
    if (options.member) {
      for (const [i, p] of [attacker, ...accomplices].entries()) {
        await p.accept(options.reading ?? 'honest')
        hostile[i === 0 ? 'x' : `x${i}`] = p.addr
      }
    }
    const remote = 1 + Object.keys(hostile).length

    const v = { v: victim.addr, h: honest.getMultiaddrs().map(String)[0] }
    await victim.call('connect', { membership: { ...v, ...hostile } })
    await honest.connect(v)
    await Promise.all([honest.waitFor(2, { signal: AbortSignal.timeout(10_000) }), victim.call('waitFor', { n: 1 + remote, ms: 10_000 })])
    // warm up the request path both ways before the idle figure is taken
    for (let i = 0; i < 20; i++) await honest.channel('svc').request('v', new Uint8Array(256), { timeout: 5000 })

    const idle = await victim.memory()
    const { bytes: bound, terms } = heapBound(config, remote)
    findings.note(`victim idle: live ${mib(idle.live)} (heap ${mib(idle.heapUsed)}, external ${mib(idle.external)}), rss ${mib(idle.rss)}; bound idle + ${mib(bound)} = ${mib(idle.live + bound)} (${Object.entries(terms).map(([k, n]) => `${k} ${mib(n)}`).join(', ')})`)
    const scene: Scene = {
      victim,
      honest,
      attacker,
      accomplices,
      findings,
      config,
      idle,
      bound,
      async checkHeap (when, quiescent = false) {
        let m: VictimMemory
        try {
          m = await victim.memory()
        } catch (err) {
          findings.check(false, `victim's memory could not be read ${when}: ${(err as Error).message}`)
          return undefined
        }
        findings.note(`victim live heap ${when}: ${mib(m.live)} (+${mib(m.live - idle.live)}; heap ${mib(m.heapUsed)}, external ${mib(m.external)}), rss ${mib(m.rss)}`)
        const allowed = quiescent ? SLACK : bound
        findings.check(m.live - idle.live <= allowed, `victim's live heap ${when} grew by ${mib(m.live - idle.live)}, over the ${quiescent ? `${mib(SLACK)} a quiescent victim may hold (the slack: nothing is queued or in flight)` : `bound of ${mib(bound)} derived from its options`}`)
        return m.live
      },
      async stats () {
        try {
          return await victim.stats()
        } catch (err) {
          findings.check(false, `victim's stats could not be read: ${(err as Error).message}`)
          return undefined
        }
      }
    }

    const load = new HonestLoad(honest, 'v')
    cleanup.push(async () => { await load.stop() })
    try {
      await attack(scene)
    } catch (err) {
      findings.check(false, `the attack itself failed: ${(err as Error).stack ?? String(err)}`)
    }
    await load.issuedAtLeast(10, 2000)
    await load.stop()
    findings.note(`honest member during the attack: ${load.describe()}`)
    const up = victim.exit === undefined && await victim.call('stats', {}, 15_000).then(() => true, () => false)
    if (!up) await victim.exited(2000) // a victim that just died: its 'exit' says how
    findings.check(victim.exit === undefined, `the victim died: ${victim.exit ?? ''}`)
    if (victim.exit === undefined) findings.check(up, 'the victim does not answer after the attack')
    findings.check(load.issued > 0 && load.latencies.length === load.issued,
      `the honest member was not served during the attack: ${load.describe()}`)
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {})
  }
  findings.settle(t)
}

export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(what)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

function lastLines (s: string): string {
  return s.trim().split('\n').slice(-6).join(' | ')
}
