/**
 * One direction of a link (its shape, blackhole, bandwidth clock and jitter stream) and the
 * Pipes through it, one per connection: the promise is FIFO per connection, each chunk delivered
 * at `max(previous delivery, end of its transmission + latency + jitter)`, nothing delivered while
 * blackholed, and what was held released in order on heal.
 */
import type { SimConnection, PipeEnd } from './transport.ts'
import type { Logger } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { TraceEvent } from '../links.ts'

/** One link direction's state: shape, blackhole, bandwidth clock, jitter stream and connections. */
export interface Direction {
  readonly from: string
  readonly to: string
  latency: number
  jitter: number
  bandwidth: number
  blackholed: boolean
  /** When the last byte accepted so far finishes transmitting (performance.now() ms). */
  busyUntil: number
  readonly rng: () => number
  readonly pipes: Set<Pipe>
  delivered: number
}

interface Chunk {
  readonly kind: 'data' | 'end' | 'reset'
  readonly data?: Uint8Array | Uint8ArrayList
  readonly bytes: number
  /** Delivery time (performance.now() ms); undefined while held by a blackhole. */
  at?: number
}

/**
 * One direction of one connection: chunks in FIFO order, each delivered at its time unless the
 * direction is blackholed. Delivery runs from timers (setImmediate when due), never inside the
 * writer's call, so a write never re-enters the reader synchronously.
 */
export class Pipe implements PipeEnd {
  readonly #dir: Direction
  readonly #writer: SimConnection
  readonly #reader: SimConnection
  readonly #bufferBytes: number
  readonly #trace?: (event: TraceEvent) => void
  readonly #log: Logger
  #queue: Chunk[] = []
  #head = 0
  /** Bytes written, not yet delivered. */
  #pending = 0
  #lastAt = 0
  #timer?: ReturnType<typeof setTimeout>
  #immediate?: ReturnType<typeof setImmediate>
  #needsDrain = false
  #dead = false

  constructor (dir: Direction, writer: SimConnection, reader: SimConnection, bufferBytes: number, trace: ((event: TraceEvent) => void) | undefined, log: Logger) {
    this.#dir = dir
    this.#writer = writer
    this.#reader = reader
    this.#bufferBytes = bufferBytes
    this.#trace = trace
    this.#log = log
    dir.pipes.add(this)
  }

  get inFlight (): number {
    return this.#sum(chunk => !this.#dir.blackholed && chunk.at !== undefined)
  }

  get held (): number {
    return this.#sum(chunk => this.#dir.blackholed || chunk.at === undefined)
  }

  write (data: Uint8Array | Uint8ArrayList): boolean {
    if (this.#dead) return true
    this.#push({ kind: 'data', data, bytes: data.byteLength })
    this.#pending += data.byteLength
    if (this.#pending < this.#bufferBytes) return true
    this.#needsDrain = true
    return false
  }

  end (): void {
    if (!this.#dead) this.#push({ kind: 'end', bytes: 0 })
  }

  reset (): void {
    if (!this.#dead) this.#push({ kind: 'reset', bytes: 0 })
  }

  /** The direction was healed: schedule what was held, in order. */
  release (): void {
    if (this.#dead) return
    for (let i = this.#head; i < this.#queue.length; i++) {
      const chunk = this.#queue[i]
      if (chunk.at === undefined) this.#schedule(chunk)
    }
    this.#disarm()
    this.#arm()
  }

  /** Discards everything in flight; the pipe ignores writes from now on. */
  kill (): void {
    this.#dead = true
    this.#disarm()
    this.#queue = []
    this.#head = 0
    this.#pending = 0
    this.#dir.pipes.delete(this)
  }

  #push (chunk: Chunk): void {
    this.#queue.push(chunk)
    if (!this.#dir.blackholed) this.#schedule(chunk)
    this.#arm()
  }

  #schedule (chunk: Chunk): void {
    const dir = this.#dir
    const now = performance.now()
    let sent = now
    if (chunk.bytes > 0 && Number.isFinite(dir.bandwidth)) {
      sent = Math.max(now, dir.busyUntil) + chunk.bytes * 1000 / dir.bandwidth
      dir.busyUntil = sent
    }
    const jitter = dir.jitter > 0 ? dir.rng() * dir.jitter : 0
    const at = Math.max(this.#lastAt, sent + dir.latency + jitter)
    chunk.at = this.#lastAt = at
    this.#trace?.({ from: dir.from, to: dir.to, bytes: chunk.bytes, jitter, delay: at - now })
  }

  #arm (): void {
    if (this.#dead || this.#dir.blackholed || this.#timer != null || this.#immediate != null) return
    const head = this.#queue[this.#head]
    if (head?.at === undefined) return
    const wait = head.at - performance.now()
    if (wait <= 0) this.#immediate = setImmediate(this.#flush)
    else this.#timer = setTimeout(this.#flush, Math.ceil(wait))
  }

  #disarm (): void {
    clearTimeout(this.#timer)
    clearImmediate(this.#immediate)
    this.#timer = this.#immediate = undefined
  }

  readonly #flush = (): void => {
    this.#timer = this.#immediate = undefined
    const now = performance.now()
    // only what was due when the flush began: a reader writing back cannot extend this loop
    for (let n = this.#queue.length - this.#head; n > 0 && !this.#dead && !this.#dir.blackholed; n--) {
      const chunk = this.#queue[this.#head]
      if (chunk.at === undefined || chunk.at > now) break
      this.#queue[this.#head++] = undefined as unknown as Chunk
      this.#pending -= chunk.bytes
      this.#deliver(chunk)
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    if (this.#needsDrain && this.#pending < this.#bufferBytes && !this.#dead) {
      this.#needsDrain = false
      this.#writer.safeDispatchEvent('drain')
    }
    this.#arm()
  }

  #deliver (chunk: Chunk): void {
    try {
      if (chunk.kind === 'data') {
        this.#dir.delivered += chunk.bytes
        this.#reader.onData(chunk.data!)
      } else if (chunk.kind === 'end') {
        this.#reader.onTransportClosed()
      } else {
        this.#reader.abort(Object.assign(new Error('connection reset by peer'), { code: 'ECONNRESET' }))
      }
    } catch (err) {
      this.#log.error('delivery on %s>%s failed - %e', this.#dir.from, this.#dir.to, err)
    }
  }

  #sum (counts: (chunk: Chunk) => boolean): number {
    let bytes = 0
    for (let i = this.#head; i < this.#queue.length; i++) if (counts(this.#queue[i])) bytes += this.#queue[i].bytes
    return bytes
  }
}
