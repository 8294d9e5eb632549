/**
 * Worker processes seen from the parent: fork one per node (or per group of flooding nodes), call
 * them with a deadline on every request, and kill every one of them when the run ends, fails or
 * is interrupted (SIGINT, SIGTERM, an uncaught error). Workers also exit by themselves when the
 * parent's IPC channel closes.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { EventMessage, ReplyMessage, RequestName, Requests } from './protocol.ts'

const WORKER_PATH = fileURLToPath(new URL('./worker.ts', import.meta.url))
const live = new Set<ChildProcess>()
let extraExecArgv: string[] = []
let pidLog: string | undefined

/**
 * Node flags for every worker started from now on (e.g. --cpu-prof); `log`, when given, gets one
 * line per worker, "<pid> <name>", to tell the profiles apart.
 */
export function setWorkerExecArgv (args: string[], log?: string): void {
  extraExecArgv = args
  pidLog = log
}

export class Worker {
  readonly name: string
  readonly child: ChildProcess
  #nextId = 1
  readonly #pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  readonly #done = new Map<number, () => void>()
  readonly #doneTrials = new Set<number>()
  #stderr = ''
  #exited: string | undefined

  constructor (name: string) {
    this.name = name
    this.child = fork(WORKER_PATH, [], {
      execPath: process.execPath,
      // --expose-gc: the memory scenario reports RSS after a full collection as well as its peak
      execArgv: ['--expose-gc', ...extraExecArgv],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc']
    })
    live.add(this.child)
    if (pidLog !== undefined) appendFileSync(pidLog, `${this.child.pid} ${name}\n`)
    this.child.stderr?.setEncoding('utf8')
    this.child.stderr?.on('data', (s: string) => { this.#stderr = (this.#stderr + s).slice(-4000) })
    this.child.on('message', (raw) => { this.#onMessage(raw as ReplyMessage | EventMessage) })
    this.child.on('exit', (code, signal) => {
      live.delete(this.child)
      this.#exited = `worker ${this.name} exited (${signal ?? code})${this.#stderr === '' ? '' : ': ' + this.#stderr.trim()}`
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer)
        p.reject(new Error(this.#exited))
      }
      this.#pending.clear()
    })
  }

  /** The last lines the worker wrote to stderr. */
  get stderr (): string { return this.#stderr }

  call<K extends RequestName>(cmd: K, args: Requests[K]['args'], timeoutMs: number): Promise<Requests[K]['result']> {
    if (this.#exited !== undefined) return Promise.reject(new Error(this.#exited))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`worker ${this.name}: '${cmd}' timed out after ${timeoutMs} ms${this.#stderr === '' ? '' : ': ' + this.#stderr.trim()}`))
      }, timeoutMs)
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ id, cmd, args })
    })
  }

  /** Resolves true when the worker reports that `trial` arrived in full, false after `timeoutMs`. */
  waitReceived (trial: number, timeoutMs: number): Promise<boolean> {
    if (this.#doneTrials.has(trial)) return Promise.resolve(true)
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.#done.delete(trial); resolve(false) }, timeoutMs)
      this.#done.set(trial, () => { clearTimeout(timer); resolve(true) })
    })
  }

  kill (): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }

  #onMessage (msg: ReplyMessage | EventMessage): void {
    if ('event' in msg) {
      this.#doneTrials.add(msg.trial)
      this.#done.get(msg.trial)?.()
      this.#done.delete(msg.trial)
      return
    }
    const p = this.#pending.get(msg.id)
    if (p === undefined) return
    this.#pending.delete(msg.id)
    clearTimeout(p.timer)
    if (msg.ok) p.resolve(msg.result)
    else p.reject(new Error(`worker ${this.name}: ${msg.error}`))
  }
}

/** Asks every worker to stop its nodes (briefly), then kills whatever is left. */
export async function stopWorkers (workers: Worker[]): Promise<void> {
  await Promise.allSettled(workers.map(async w => { await w.call('stop', {}, 5000) }))
  await Promise.all(workers.map(async w => {
    if (w.child.exitCode !== null || w.child.signalCode !== null) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => { w.kill(); resolve() }, 1000)
      w.child.once('exit', () => { clearTimeout(timer); resolve() })
    })
  }))
}

/** Kills every worker still running. Synchronous, so it is safe in an 'exit' handler. */
export function killAllWorkers (): void {
  for (const child of live) {
    try { child.kill('SIGKILL') } catch {}
  }
  live.clear()
}

export function liveWorkers (): number {
  return live.size
}

let installed = false

/** Kill the workers whatever way the parent ends. */
export function installCleanup (onInterrupt: () => void): void {
  if (installed) return
  installed = true
  process.on('exit', killAllWorkers)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAllWorkers()
      onInterrupt()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
  process.on('uncaughtException', (err) => {
    killAllWorkers()
    console.error(err)
    process.exit(1)
  })
  process.on('unhandledRejection', (err) => {
    killAllWorkers()
    console.error(err)
    process.exit(1)
  })
}
