/**
 * Link shaping in virtual time, with the promises of the libp2p testing network
 * (../libp2p/network.ts): per direction of a link, each chunk is delivered at `max(previous delivery on its connection,
 * end of its transmission + latency + jitter)`. Transmission is serialised per link direction at
 * `bandwidth` bytes/s (all connections of the direction share it: a chunk waits for the previous
 * one), jitter is drawn uniformly from [0, jitter) ms from the direction's own seeded stream, so
 * latency is a lower bound and a connection is FIFO: jitter never reorders it. Shaping never drops
 * a byte. A blackholed direction delivers nothing and holds what is sent, releasing it in order on
 * heal; a killed pipe (a cut, a crash) discards what it carried.
 *
 * A connection has one Pipe per direction. Its send buffer is the bytes sent and not yet delivered:
 * at `bufferBytes` or more a write reports "full" and, once deliveries bring it below, the pipe
 * calls `onDrain` (in an event of its own). A writer that waits for it can never have more than a
 * buffer and one write undelivered; control frames (stream opening, FIN, RST) count 0 bytes.
 */
import { validShape, type LinkShape, type TraceEvent } from '../links.ts'
import type { ScheduledEvent } from './event-queue.ts'
import type { Scheduler } from './scheduler.ts'

/** One direction of the link between two nodes: its shape, blackhole, bandwidth clock and jitter stream. */
export class Direction {
  readonly from: string
  readonly to: string
  latency: number
  jitter: number
  bandwidth: number
  blackholed = false
  /** When the last byte accepted so far finishes transmitting (virtual ms). */
  busyUntil = 0
  /** Bytes delivered to `to` since the start. */
  delivered = 0
  readonly pipes = new Set<Pipe<unknown>>()
  readonly #rng: () => number

  constructor (from: string, to: string, shape: Required<LinkShape>, rng: () => number) {
    this.from = from
    this.to = to
    this.latency = shape.latency
    this.jitter = shape.jitter
    this.bandwidth = shape.bandwidth
    this.#rng = rng
  }

  get shape (): Required<LinkShape> {
    return { latency: this.latency, jitter: this.jitter, bandwidth: this.bandwidth }
  }

  /** Changes the shape; what was already scheduled keeps its time. Throws a RangeError for a bad value. */
  set (shape: LinkShape): void {
    const next = validShape(this, shape)
    this.latency = next.latency
    this.jitter = next.jitter
    this.bandwidth = next.bandwidth
  }

  /** Transmission end + latency + jitter of `bytes` sent at `now`; takes the bandwidth and draws jitter. */
  arrival (now: number, bytes: number, trace?: (event: TraceEvent) => void, after = 0): number {
    let sent = now
    if (bytes > 0 && Number.isFinite(this.bandwidth)) {
      sent = Math.max(now, this.busyUntil) + bytes * 1000 / this.bandwidth
      this.busyUntil = sent
    }
    const jitter = this.jitter > 0 ? this.#rng() * this.jitter : 0
    const at = Math.max(after, sent + this.latency + jitter)
    trace?.({ from: this.from, to: this.to, bytes, jitter, delay: at - now })
    return at
  }
}

interface Chunk<T> {
  readonly frame: T
  readonly bytes: number
  /** Delivery time; undefined while held by a blackhole. */
  at: number | undefined
}

export interface PipeInit<T> {
  readonly scheduler: Scheduler
  readonly deliver: (frame: T) => void
  readonly onDrain: () => void
  readonly bufferBytes: number
  readonly trace?: ((event: TraceEvent) => void) | undefined
}

/** One direction of one connection: frames in FIFO order, each delivered in an event of its own at its time. */
export class Pipe<T> {
  readonly #dir: Direction
  readonly #init: PipeInit<T>
  #queue: Array<Chunk<T> | undefined> = []
  #head = 0
  /** Bytes written, not yet delivered. */
  #pending = 0
  #lastAt = 0
  #timer: ScheduledEvent | undefined
  #needsDrain = false
  #dead = false

  constructor (dir: Direction, init: PipeInit<T>) {
    this.#dir = dir
    this.#init = init
    dir.pipes.add(this as Pipe<unknown>)
  }

  /** Bytes written and scheduled for delivery. */
  get inFlight (): number {
    return this.#dir.blackholed ? 0 : this.#sum(chunk => chunk.at !== undefined)
  }

  /** Bytes written and held by a blackhole. */
  get held (): number {
    return this.#dir.blackholed ? this.#pending : this.#sum(chunk => chunk.at === undefined)
  }

  /** Queues `frame` (`bytes` of payload); false: the send buffer is full, `onDrain` follows. A dead pipe swallows it. */
  write (frame: T, bytes: number): boolean {
    if (this.#dead) return true
    const chunk: Chunk<T> = { frame, bytes, at: undefined }
    this.#queue.push(chunk)
    this.#pending += bytes
    if (!this.#dir.blackholed) this.#schedule(chunk)
    this.#arm()
    if (this.#pending < this.#init.bufferBytes) return true
    this.#needsDrain = true
    return false
  }

  /** The direction was healed: what was held is scheduled, in order. */
  release (): void {
    if (this.#dead) return
    for (let i = this.#head; i < this.#queue.length; i++) {
      const chunk = this.#queue[i]!
      if (chunk.at === undefined) this.#schedule(chunk)
    }
    this.#arm()
  }

  /** Discards everything it carries; it swallows writes from now on. */
  kill (): void {
    this.#dead = true
    this.#init.scheduler.cancel(this.#timer)
    this.#timer = undefined
    this.#queue = []
    this.#head = 0
    this.#pending = 0
    this.#dir.pipes.delete(this as Pipe<unknown>)
  }

  #schedule (chunk: Chunk<T>): void {
    chunk.at = this.#lastAt = this.#dir.arrival(this.#init.scheduler.now, chunk.bytes, this.#init.trace, this.#lastAt)
  }

  #arm (): void {
    if (this.#dead || this.#dir.blackholed || this.#timer !== undefined) return
    const head = this.#queue[this.#head]
    if (head?.at === undefined) return
    const scheduler = this.#init.scheduler
    this.#timer = scheduler.schedule(head.at - scheduler.now, this.#flush)
  }

  readonly #flush = (): void => {
    this.#timer = undefined
    if (this.#dead || this.#dir.blackholed) return // held: `release` re-arms
    const chunk = this.#queue[this.#head]!
    this.#queue[this.#head++] = undefined
    this.#pending -= chunk.bytes
    this.#dir.delivered += chunk.bytes
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    if (this.#needsDrain && this.#pending < this.#init.bufferBytes) {
      this.#needsDrain = false
      this.#init.scheduler.schedule(0, () => { if (!this.#dead) this.#init.onDrain() })
    }
    this.#arm()
    this.#init.deliver(chunk.frame)
  }

  #sum (counts: (chunk: Chunk<T>) => boolean): number {
    let bytes = 0
    for (let i = this.#head; i < this.#queue.length; i++) {
      const chunk = this.#queue[i]!
      if (counts(chunk)) bytes += chunk.bytes
    }
    return bytes
  }
}
