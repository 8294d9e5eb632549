/**
 * Virtual time. Every timer, every delivery and every "soon" of a simulation is an event in one
 * queue ordered by (virtual time, sequence number); `run` takes them out one at a time, jumping
 * to the next one when nothing is due, so nothing ever waits on real time. Between two events
 * every promise reaction settles, as it does between two I/O callbacks of a real event loop: an
 * async function in the core goes as far as it can before the next event runs. The same program
 * and seed run the same events in the same order, so a failing run replays from its seed.
 *
 * How events are settled: each event runs in a `process.nextTick` callback queued from a
 * microtask. Node runs the ticks queued from a microtask only once the microtask queue is empty
 * (its tick loop is "drain ticks, run every microtask, repeat while ticks were queued"), so the
 * next event starts after every reaction of the last one, however deep. That is about 0.5 us per
 * event, against 0.8-1 us for a `setImmediate` per event. The one reaction this ordering does not
 * honour is a `process.nextTick` called from a promise reaction: it runs after the next event
 * (the core uses neither; its "soon" is `clock.soon`). Every YIELD_EVERY events the loop goes
 * through `setImmediate` instead, so real I/O (a test runner's) is not starved; the virtual order
 * does not depend on it.
 */
import { sleepOn, type Clock, type Timer } from '../../clock.ts'
import { EventQueue, ScheduledEvent, type Owner } from './event-queue.ts'

/** `for`: advance virtual time by that many ms. `until`: run until it holds, failing `timeout` virtual ms from now. */
export type RunOptions = { for: number } | { until: () => boolean, timeout: number }

/** Why a run failed, with the virtual time and the seed that replays it. */
export class SimulationError extends Error {
  override readonly name = 'SimulationError'
  readonly seed: number
  /** Virtual ms when it failed. */
  readonly time: number
  readonly reason: 'stall' | 'timeout' | 'livelock' | 'failure' | 'stopped'

  constructor (reason: SimulationError['reason'], time: number, seed: number, message: string, options?: { cause?: unknown }) {
    super(`${reason === 'stall' ? 'stalled' : reason} at t=${formatMs(time)} ms (seed ${seed}): ${message}`, options)
    this.reason = reason
    this.time = time
    this.seed = seed
  }
}

export interface SchedulerInit {
  seed: number
  /** Events run at one virtual instant before a run fails as a livelock (a loop of `soon`). Default 1,000,000. */
  maxEventsPerInstant?: number
}

/** Events between two real macrotask boundaries (see the file's comment). */
const YIELD_EVERY = 1024
const DEFAULT_MAX_EVENTS_PER_INSTANT = 1_000_000

interface Run {
  readonly deadline: number
  readonly until: (() => boolean) | undefined
  readonly timeout: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
  count: number
}

export class Scheduler {
  readonly seed: number
  readonly #queue = new EventQueue()
  readonly #maxPerInstant: number
  #now = 0
  #seq = 0
  #events = 0
  #atInstant = 0
  #run: Run | undefined
  #failure: { error: unknown } | undefined
  #stopped = false

  constructor (init: SchedulerInit) {
    this.seed = init.seed
    this.#maxPerInstant = init.maxEventsPerInstant ?? DEFAULT_MAX_EVENTS_PER_INSTANT
    if (!(this.#maxPerInstant >= 1)) throw new RangeError(`maxEventsPerInstant must be >= 1, got ${this.#maxPerInstant}`)
  }

  /** Virtual ms since the start. */
  get now (): number {
    return this.#now
  }

  /** Events run so far. */
  get events (): number {
    return this.#events
  }

  /**
   * Schedules `fn` `ms` from now (NaN and less than 0: now, after what is already due now; Infinity:
   * never). With an `owner`, it runs only if the owner is still alive then.
   */
  schedule (ms: number, fn: () => void, owner?: Owner): ScheduledEvent {
    const event = new ScheduledEvent(this.#now + (ms > 0 ? ms : 0), this.#seq++, fn, owner)
    if (!this.#stopped && event.at !== Infinity) this.#queue.push(event)
    else event.fn = undefined
    return event
  }

  /** Cancels an event from `schedule`; anything else is ignored. */
  cancel (timer: Timer | undefined): void {
    if (timer instanceof ScheduledEvent) timer.fn = undefined
  }

  /** A `Clock` on this virtual time; with an `owner`, its timers die with it. */
  clock (owner?: Owner): Clock {
    return new VirtualClock(this, owner)
  }

  /**
   * Something went wrong where no caller can be told (a stream event listener threw): the run under
   * way fails with it once the current event is over, or the next run does. The first one counts.
   */
  fail (error: unknown): void {
    this.#failure ??= { error }
  }

  /** Runs events; see `RunOptions`. Rejects with a SimulationError naming the seed. One run at a time. */
  async run (options: RunOptions): Promise<void> {
    if (this.#run !== undefined) throw new Error('a run is already under way: await it first')
    if (this.#stopped) throw new SimulationError('stopped', this.#now, this.seed, 'the simulation is stopped')
    const until = 'until' in options ? options.until : undefined
    const span = until !== undefined ? (options as { timeout: number }).timeout : (options as { for: number }).for
    if (typeof until !== 'function' && until !== undefined) throw new TypeError('until must be a function')
    if (!(Number.isFinite(span) && span >= 0)) throw new RangeError(`${until !== undefined ? 'timeout' : 'for'} must be a finite number of ms >= 0, got ${span}`)
    await new Promise<void>((resolve, reject) => {
      this.#run = { deadline: this.#now + span, until, timeout: span, resolve, reject, count: 0 }
      // the first event waits for what the caller has set going to settle, as every later one does
      queueMicrotask(this.#hop)
    })
  }

  /** Drops every event; a run under way fails. */
  stop (): void {
    this.#stopped = true
    this.#queue.clear()
    const run = this.#run
    if (run !== undefined) this.#finish(run, new SimulationError('stopped', this.#now, this.seed, 'the simulation was stopped during a run'))
  }

  readonly #hop = (): void => {
    process.nextTick(this.#step)
  }

  readonly #step = (): void => {
    const run = this.#run
    if (run === undefined) return
    const failure = this.#failure
    if (failure !== undefined) {
      this.#failure = undefined
      const cause = failure.error
      this.#finish(run, new SimulationError('failure', this.#now, this.seed, `an event failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }))
      return
    }
    if (run.until !== undefined) {
      let done: boolean
      try {
        done = run.until()
      } catch (err) {
        this.#finish(run, err)
        return
      }
      if (done) {
        this.#finish(run)
        return
      }
    }
    const event = this.#queue.peek()
    if (event === undefined || event.at > run.deadline) {
      if (run.until === undefined) {
        this.#advance(run.deadline)
        this.#finish(run)
      } else if (event === undefined) {
        this.#finish(run, new SimulationError('stall', this.#now, this.seed, 'no event left while the condition is false'))
      } else {
        this.#advance(run.deadline)
        this.#finish(run, new SimulationError('timeout', this.#now, this.seed, `the condition is still false after ${formatMs(run.timeout)} ms`))
      }
      return
    }
    this.#queue.pop()
    this.#advance(event.at)
    if (++this.#atInstant > this.#maxPerInstant) {
      this.#finish(run, new SimulationError('livelock', this.#now, this.seed, `${this.#maxPerInstant} events without virtual time advancing`))
      return
    }
    const fn = event.fn!
    event.fn = undefined
    this.#events++
    try {
      fn()
    } catch (err) {
      this.fail(err)
    }
    if (++run.count % YIELD_EVERY === 0) queueMicrotask(this.#yield)
    else queueMicrotask(this.#hop)
  }

  readonly #yield = (): void => {
    setImmediate(this.#step)
  }

  #advance (to: number): void {
    if (to > this.#now) {
      this.#now = to
      this.#atInstant = 0
    }
  }

  #finish (run: Run, err?: unknown): void {
    this.#run = undefined
    if (err === undefined) run.resolve()
    else run.reject(err)
  }
}

/** A `Clock` on a scheduler's virtual time; an owner's timers never fire once it is dead. */
export class VirtualClock implements Clock {
  readonly #scheduler: Scheduler
  readonly #owner: Owner | undefined

  constructor (scheduler: Scheduler, owner?: Owner) {
    this.#scheduler = scheduler
    this.#owner = owner
  }

  readonly now = (): number => this.#scheduler.now
  readonly setTimeout = (fn: () => void, ms: number): Timer => this.#scheduler.schedule(ms, fn, this.#owner)
  readonly clearTimeout = (timer: Timer | undefined): void => { this.#scheduler.cancel(timer) }
  readonly soon = (fn: () => void): void => { this.#scheduler.schedule(0, fn, this.#owner) }
  readonly sleep = async (ms: number, options?: { signal?: AbortSignal }): Promise<void> => { await sleepOn(this, ms, options?.signal) }
}

/** Virtual ms for a message: whole ms as they are, else to the µs. */
export function formatMs (ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(3)
}
