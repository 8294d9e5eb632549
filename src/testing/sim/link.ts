/**
 * Link shaping in virtual time, with the promises of the libp2p testing network
 * (../libp2p/network.ts): per direction of a link, each chunk is delivered at `max(previous
 * delivery on its connection, end of its transmission + latency + jitter)`. Transmission is
 * serialised per link direction at `bandwidth` bytes/s (all connections of the direction share
 * it: a chunk waits for the previous one), jitter is drawn uniformly from [0, jitter) ms from the
 * direction's own seeded stream, so latency is a lower bound and a connection is FIFO: jitter
 * never reorders it. Shaping never drops a byte. A blackholed direction delivers nothing and holds
 * what is sent, releasing it in order on heal; a killed pipe (a cut, a crash) discards what it
 * carried.
 *
 * Unlike the libp2p testing network, which sends a RST behind everything queued, an abort
 * discards as TCP's does: what the aborted connection has not put on the wire yet (held, waiting
 * for the bandwidth, or still being transmitted); a stream's reset, that stream's chunks that
 * have not started transmission. Chunks discarded or killed give back the bandwidth they held:
 * the ones behind them on the direction, of any connection, move up. What is on the wire
 * (transmitted, waiting out the latency) still arrives.
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
  /** The chunks that take bandwidth, in transmission order; those whose transmission ended are pruned as it goes. */
  #sending: Array<Chunk<unknown> | undefined> = []
  #sendingHead = 0

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

  /**
   * Times `chunk`, written at `now`: its transmission (it takes the bandwidth), its jitter (drawn
   * now) and its delivery, no earlier than `after`.
   */
  schedule (now: number, chunk: Chunk<unknown>, trace: ((event: TraceEvent) => void) | undefined, after: number): void {
    chunk.start = chunk.end = now
    if (chunk.bytes > 0 && Number.isFinite(this.bandwidth)) {
      chunk.start = Math.max(now, this.busyUntil)
      chunk.end = this.busyUntil = chunk.start + chunk.bytes * 1000 / this.bandwidth
      this.#prune(now)
      this.#sending.push(chunk)
    }
    const jitter = this.jitter > 0 ? this.#rng() * this.jitter : 0
    chunk.ready = chunk.end + this.latency + jitter
    chunk.at = Math.max(after, chunk.ready)
    trace?.({ from: this.from, to: this.to, bytes: chunk.bytes, jitter, delay: chunk.at - now })
  }

  /**
   * Chunks were dropped before their transmission ended: the bandwidth they held goes to the
   * chunks behind them, which move up (each keeping its duration, latency and jitter), and every
   * pipe re-times its deliveries. Returns whether it re-timed them.
   */
  reclaim (now: number): boolean {
    this.#prune(now)
    const kept: Array<Chunk<unknown> | undefined> = []
    let cursor = now
    let moved = false
    for (let i = this.#sendingHead; i < this.#sending.length; i++) {
      const chunk = this.#sending[i]!
      if (chunk.dropped) continue
      kept.push(chunk)
      if (chunk.start > cursor) { // not started (cursor >= now): it starts when the one before it ends
        const shift = chunk.start - cursor
        chunk.start = cursor
        chunk.end -= shift
        chunk.ready -= shift
        moved = true
      }
      cursor = chunk.end
    }
    this.#sending = kept
    this.#sendingHead = 0
    this.busyUntil = cursor
    if (moved) for (const pipe of this.pipes) pipe.retime()
    return moved
  }

  #prune (now: number): void {
    const sending = this.#sending
    while (this.#sendingHead < sending.length && sending[this.#sendingHead]!.end <= now) sending[this.#sendingHead++] = undefined
    if (this.#sendingHead === sending.length) {
      sending.length = 0
      this.#sendingHead = 0
    } else if (this.#sendingHead > 1024 && this.#sendingHead * 2 > sending.length) {
      this.#sending = sending.slice(this.#sendingHead)
      this.#sendingHead = 0
    }
  }
}

/** A frame on a pipe and its timing (virtual ms). */
interface Chunk<T> {
  readonly frame: T
  readonly bytes: number
  /** Its transmission, from `start` to `end`: both the time it was scheduled when it takes no bandwidth (0 bytes, unbounded). */
  start: number
  end: number
  /** `end` + latency + jitter: its delivery but for the chunks ahead of it. */
  ready: number
  /** Delivery time: `ready`, or the previous chunk's delivery if later; undefined while held by a blackhole. */
  at: number | undefined
  /** Discarded before its transmission ended (an abort, a reset, a cut). */
  dropped: boolean
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
    const chunk: Chunk<T> = { frame, bytes, start: 0, end: 0, ready: 0, at: undefined, dropped: false }
    this.#queue.push(chunk)
    this.#pending += bytes
    if (!this.#dir.blackholed) this.#schedule(chunk)
    this.#arm()
    if (this.#pending < this.#init.bufferBytes) return true
    this.#needsDrain = true
    return false
  }

  /**
   * The connection is aborted from this end (TCP's abort): what is not on the wire yet (held,
   * waiting for the bandwidth, or still being transmitted) is discarded and its bandwidth freed;
   * what is on the wire still arrives, and `reset` follows it, after the latency.
   */
  abort (reset: T): void {
    if (this.#dead) return
    this.#drop(() => true, true)
    this.write(reset, 0)
  }

  /**
   * Discards the frames `picks` selects that have not started transmission (held, or waiting for
   * the bandwidth), and every one it selects after them, so nothing outlives what went before it
   * (a FIN its data); the frames behind them move up into the bandwidth they held.
   */
  discard (picks: (frame: T) => boolean): void {
    if (!this.#dead) this.#drop(picks, false)
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

  /** Discards everything it carries, freeing the bandwidth it held; it swallows writes from now on. */
  kill (): void {
    if (this.#dead) return
    this.#dead = true
    this.#init.scheduler.cancel(this.#timer)
    this.#timer = undefined
    const now = this.#init.scheduler.now
    let reclaim = false
    for (let i = this.#head; i < this.#queue.length; i++) {
      const chunk = this.#queue[i]!
      chunk.dropped = true
      if (chunk.at !== undefined && chunk.end > now) reclaim = true
    }
    this.#queue = []
    this.#head = 0
    this.#pending = 0
    this.#dir.pipes.delete(this as Pipe<unknown>)
    if (reclaim) this.#dir.reclaim(now)
  }

  /** Deliveries again from the chunks' `ready` times, in order (chunks were dropped, or moved up), and the timer on the first. */
  retime (): void {
    const now = this.#init.scheduler.now
    let at = now
    for (let i = this.#head; i < this.#queue.length; i++) {
      const chunk = this.#queue[i]!
      if (chunk.at === undefined) break // held, and all after it
      chunk.at = at = Math.max(at, chunk.ready)
    }
    this.#lastAt = at
    const head = this.#queue[this.#head]
    if (this.#timer !== undefined && this.#timer.at !== head?.at) {
      this.#init.scheduler.cancel(this.#timer)
      this.#timer = undefined
    }
    this.#arm()
  }

  /**
   * Drops the chunks `picks` selects from the first one not on the wire: held, not transmitted
   * yet, or (`cut`) not transmitted entirely.
   */
  #drop (picks: (frame: T) => boolean, cut: boolean): void {
    const now = this.#init.scheduler.now
    const kept: Array<Chunk<T> | undefined> = []
    let dropping = false
    let reclaim = false
    for (let i = this.#head; i < this.#queue.length; i++) {
      const chunk = this.#queue[i]!
      const picked = picks(chunk.frame)
      if (picked && !dropping) dropping = chunk.at === undefined || (cut ? chunk.end > now : chunk.start > now)
      if (!picked || !dropping) {
        kept.push(chunk)
        continue
      }
      chunk.dropped = true
      this.#pending -= chunk.bytes
      if (chunk.at !== undefined && chunk.end > now) reclaim = true
    }
    if (kept.length === this.#queue.length - this.#head) return // nothing dropped
    this.#queue = kept
    this.#head = 0
    if (!reclaim || !this.#dir.reclaim(now)) this.retime()
    this.#maybeDrain()
  }

  #schedule (chunk: Chunk<T>): void {
    this.#dir.schedule(this.#init.scheduler.now, chunk as Chunk<unknown>, this.#init.trace, this.#lastAt)
    this.#lastAt = chunk.at!
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
    this.#maybeDrain()
    this.#arm()
    this.#init.deliver(chunk.frame)
  }

  #maybeDrain (): void {
    if (this.#needsDrain && this.#pending < this.#init.bufferBytes) {
      this.#needsDrain = false
      this.#init.scheduler.schedule(0, () => { if (!this.#dead) this.#init.onDrain() })
    }
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
