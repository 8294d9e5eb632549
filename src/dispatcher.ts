/**
 * A Dispatcher keeps one outgoing stream open to one member and writes that member's queue to it.
 *
 * `send()` never blocks: it appends to a drop-oldest ring buffer (bounded in messages and bytes,
 * every drop counted) and schedules at most one flush per tick. The flush packs queued messages
 * into writes of up to `maxWriteBytes`, so a burst costs one `stream.send()` per ~256 KiB while
 * a lone message on an idle link is written at once. Backpressure waits on the stream's 'drain'
 * event (never `onDrain()`, see shared/libp2p-v3-notes.md); meanwhile messages keep queueing.
 *
 * A background loop dials eagerly, trying the member's addresses in turn, notices a lost stream
 * from its 'close' event, and redials with capped exponential backoff and jitter. The backoff is
 * reset by a stream that stayed open STABLE_STREAM_MS, so a peer that accepts and at once resets
 * (it does not count us as a member, say) is retried ever more slowly. Messages queued while
 * disconnected are written after the reconnect. Delivery is at-most-once: a message handed to a
 * stream that then dies is lost.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { backoffDelay, sleep, type ReconnectOptions } from './backoff.ts'
import { DIAL_TIMEOUT, STABLE_STREAM_MS } from './constants.ts'
import { headerLength, writeHeader } from './framing.ts'
import { RingBuffer } from './ring-buffer.ts'
import type { NodeId } from './membership.ts'
import type { AbortOptions, Logger, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface DispatcherInit {
  node: NodeId
  addrs: readonly Multiaddr[]
  sendBufferSize: number
  sendBufferBytes: number
  maxWriteBytes: number
  reconnect: ReconnectOptions
  /** Opens an outgoing stream of our protocol to `addr`; `force` dials a new connection even if one is open. */
  dial: (addr: Multiaddr, options: AbortOptions & { force?: boolean }) => Promise<Stream>
  /** The outgoing stream opened / closed. */
  onUp: (node: NodeId) => void
  onDown: (node: NodeId) => void
  log: Logger
}

export class Dispatcher {
  readonly node: NodeId
  readonly queue: RingBuffer
  /** Messages handed to the stream. */
  sent = 0
  /** Messages dropped: the oldest when the queue was full, or a batch the stream refused. */
  dropped = 0
  /** Outgoing streams re-opened after one was lost. */
  reconnects = 0

  readonly #init: DispatcherInit
  #addrs: readonly Multiaddr[]
  #stream: Stream | undefined
  #closed = false
  /** Aborts the current dial or backoff wait. */
  #attempt = new AbortController()
  #failures = 0
  #nextAddr = 0
  /** The member moved: until a stream opens, dial new connections, not one left from the old address. */
  #force = false
  #flushScheduled = false
  #awaitingDrain = false

  constructor (init: DispatcherInit) {
    this.#init = init
    this.node = init.node
    this.#addrs = init.addrs
    this.queue = new RingBuffer(init.sendBufferSize, init.sendBufferBytes)
    void this.#run()
  }

  get connected (): boolean {
    return this.#stream != null
  }

  /** Queues `data` (by reference: do not modify it afterwards). Never blocks, never throws. */
  send (data: Uint8Array): void {
    if (this.#closed) return
    const dropped = this.queue.push(data)
    if (dropped !== 0) this.dropped += dropped
    if (!this.#flushScheduled && !this.#awaitingDrain && this.#stream != null) {
      this.#flushScheduled = true
      queueMicrotask(this.#flush)
    }
  }

  /**
   * The member moved. A live stream is kept (it is authenticated to the same peer ID); otherwise
   * the pending dial or backoff is cut short and the new addresses are dialled at once, on a new
   * connection: one libp2p still holds to the old address may be dead without its knowing yet.
   */
  setAddrs (addrs: readonly Multiaddr[]): void {
    this.#addrs = addrs
    this.#nextAddr = 0
    this.#failures = 0
    if (this.#stream != null) return
    this.#force = true
    this.#attempt.abort()
  }

  /** Stops for good: resets the stream, cancels dial and backoff, discards the queue. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#attempt.abort()
    this.#stream?.abort(new Error('dispatcher closed'))
    this.queue.clear()
  }

  async #run (): Promise<void> {
    let opened = false
    while (!this.#closed) {
      const attempt = this.#attempt = new AbortController()
      const addr = this.#addrs[this.#nextAddr % this.#addrs.length]
      let stream: Stream | undefined
      try {
        // our signal replaces libp2p's own negotiation timeout, so it carries one
        stream = await this.#init.dial(addr, { signal: AbortSignal.any([attempt.signal, AbortSignal.timeout(DIAL_TIMEOUT)]), force: this.#force })
      } catch (err: any) {
        if (this.#closed) return
        if (attempt.signal.aborted) continue // new addresses: dial them now
        this.#init.log('dial %s of %s failed: %s', addr, this.node, err?.message ?? err?.type ?? err)
        this.#nextAddr++
      }
      if (stream != null) {
        if (this.#closed) {
          stream.abort(new Error('dispatcher closed'))
          return
        }
        if (stream.status === 'open') {
          if (opened) this.reconnects++
          opened = true
          this.#force = false // reached the member: later redials may use what libp2p holds
          const since = Date.now()
          await this.#use(stream)
          if (this.#closed) return
          if (Date.now() - since >= STABLE_STREAM_MS) this.#failures = 0
        }
      }
      await sleep(backoffDelay(this.#failures++, this.#init.reconnect), attempt.signal)
    }
  }

  /** Writes to `stream` until its 'close' event. */
  async #use (stream: Stream): Promise<void> {
    await new Promise<void>(resolve => {
      stream.addEventListener('close', () => {
        stream.removeEventListener('drain', this.#onDrain)
        this.#stream = undefined
        this.#awaitingDrain = false
        this.#init.onDown(this.node)
        resolve()
      }, { once: true })
      this.#stream = stream
      this.#init.onUp(this.node)
      this.#flush()
    })
  }

  readonly #onDrain = (): void => {
    this.#awaitingDrain = false
    this.#flush()
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false
    const stream = this.#stream
    if (stream == null || this.#awaitingDrain) return
    const queue = this.queue
    while (queue.length > 0) {
      if (stream.writeStatus !== 'writable') return // closing: its 'close' event follows
      const count = this.#batchLength()
      const batch = this.#pack(count, this.#batchBytes)
      let ok: boolean
      try {
        ok = stream.send(batch)
      } catch (err: any) {
        this.dropped += count
        stream.abort(err)
        return
      }
      this.sent += count
      if (!ok) {
        this.#awaitingDrain = true
        stream.addEventListener('drain', this.#onDrain, { once: true })
        return
      }
    }
  }

  /** Bytes of the frames of the last `#batchLength()`. */
  #batchBytes = 0

  /** How many of the oldest queued messages fit in one write (at least one). */
  #batchLength (): number {
    const queue = this.queue
    const max = this.#init.maxWriteBytes
    let bytes = 0
    let n = 0
    for (let m = queue.peek(0); m != null; m = queue.peek(++n)) {
      const frame = headerLength(m.byteLength) + m.byteLength
      if (bytes + frame > max && n > 0) break
      bytes += frame
    }
    this.#batchBytes = bytes
    return n
  }

  /** Removes `count` messages (`bytes` as frames) from the queue as one buffer of frames. */
  #pack (count: number, bytes: number): Uint8Array | Uint8ArrayList {
    const queue = this.queue
    if (count === 1 && queue.peek(0)!.byteLength >= this.#init.maxWriteBytes) {
      // a large message on its own: frame it without copying it
      const m = queue.shift()!
      const header = new Uint8Array(headerLength(m.byteLength))
      writeHeader(header, 0, m.byteLength)
      return new Uint8ArrayList(header, m)
    }
    const buf = new Uint8Array(bytes)
    let offset = 0
    for (let i = 0; i < count; i++) {
      const m = queue.shift()!
      offset = writeHeader(buf, offset, m.byteLength)
      buf.set(m, offset)
      offset += m.byteLength
    }
    return buf
  }
}
