/**
 * A Dispatcher keeps one outgoing stream open to one member and writes that member's lanes to it.
 *
 * `send()` never blocks: it appends to a drop-oldest lane (one per channel, bounded in messages
 * and bytes, every drop counted, see lanes.ts) and schedules at most one flush per tick. The flush
 * packs queued frames into writes of up to `maxWriteBytes`, the most urgent lanes first, so a
 * burst costs one `stream.send()` per ~256 KiB while a lone message on an idle link is written at
 * once. A channel's number is bound to its name (a BIND frame) before its first frame on a
 * stream; a member whose stream speaks only 1.0.0 gets the default channel, and every other
 * lane's frames are dropped (counted) as they come up.
 *
 * On a 1.1.0 stream the Dispatcher also keeps at most `maxBytesInFlight` bytes written but not
 * yet reported consumed by the receiver (FRAME_FLOW, on the stream's reverse direction). libp2p's
 * own backpressure lets megabytes pile up in yamux and socket buffers, which are FIFO: bounded
 * here, what waits stays in the lanes, where priorities, keys, deadlines and drop-oldest act. Backpressure waits on the stream's 'drain'
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
import { FrameDecoder, FRAME_BIND, FRAME_CHANNEL, FRAME_ERROR, FRAME_CREDIT, FRAME_FLOW, FRAME_MESSAGE, FRAME_REQUEST, headerLength, readVarint, varintEnd, varintLength, writeFrameHeader } from './framing.ts'
import { DEFAULT_CHANNEL, Envelope, Lanes, type Item, type Lane, type LaneSpec } from './lanes.ts'
import type { NodeId } from './membership.ts'
import type { AbortOptions, Logger, Stream, StreamMessageEvent } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface DispatcherInit {
  node: NodeId
  addrs: readonly Multiaddr[]
  /** The default channel's lane (its bounds are the node's `sendBufferSize` / `sendBufferBytes`). */
  defaultLane: LaneSpec
  controlLane: LaneSpec
  maxWriteBytes: number
  /** On a 1.1.0 stream: bytes written but not yet reported consumed, at most (one write may go past it). */
  maxBytesInFlight: number
  reconnect: ReconnectOptions
  /** Opens an outgoing stream of our protocols to `addr`; `force` dials a new connection even if one is open. */
  dial: (addr: Multiaddr, options: AbortOptions & { force?: boolean }) => Promise<Stream>
  /** The protocol ID that means a stream speaks 1.1.0 (channels and requests). */
  channelProtocol: string
  /** The outgoing stream opened / closed. */
  onUp: (node: NodeId) => void
  onDown: (node: NodeId) => void
  log: Logger
}

/** A BIND frame in a write being assembled: its lane's channel is bound before its first frame. */
const BIND = new Uint8Array(0)

export class Dispatcher {
  readonly node: NodeId
  readonly lanes = new Lanes()
  /** The default channel's lane: `net.send`. */
  readonly default: Lane
  /** Outgoing streams re-opened after one was lost. */
  reconnects = 0

  readonly #init: DispatcherInit
  #addrs: readonly Multiaddr[]
  #stream: Stream | undefined
  /** The stream speaks 1.1.0. */
  #channels = false
  #closed = false
  /** Aborts the current dial or backoff wait. */
  #attempt = new AbortController()
  #failures = 0
  #nextAddr = 0
  /** The member moved: until a stream opens, dial new connections, not one left from the old address. */
  #force = false
  #flushScheduled = false
  #awaitingDrain = false
  /** Bytes written to the current stream, and reported consumed by its receiver. */
  #written = 0
  #consumed = 0
  /** The write being assembled: its items (BIND for a binding) and their lanes. */
  readonly #items: Item[] = []
  readonly #itemLanes: Lane[] = []

  constructor (init: DispatcherInit) {
    this.#init = init
    this.node = init.node
    this.#addrs = init.addrs
    this.default = this.lanes.open(init.defaultLane)
    this.lanes.open(init.controlLane)
    void this.#run()
  }

  get connected (): boolean {
    return this.#stream != null
  }

  /** Queues `data` on the default channel (by reference: do not modify it afterwards). Never blocks, never throws. */
  send (data: Uint8Array): void {
    if (this.#closed) return
    this.default.push(data)
    this.schedule()
  }

  /** Something was queued in a lane: write it on the next microtask, if the stream can take it. */
  schedule (): void {
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

  /** Stops for good: resets the stream, cancels dial and backoff, discards the lanes. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#attempt.abort()
    this.#stream?.abort(new Error('dispatcher closed'))
    this.lanes.clear('closed')
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
    // FRAME_FLOW is the only frame of a stream's reverse direction
    const flow: FrameDecoder = new FrameDecoder(0, (kind, body) => {
      const total = kind === FRAME_FLOW ? readVarint(body, 0) : -1
      if (total < 0 || varintEnd !== body.byteLength) flow.fail('malformed-body')
      else if (total > this.#consumed) this.#consumed = total
    }, FRAME_FLOW)
    const onMessage = (evt: StreamMessageEvent): void => {
      const data = evt.data
      let ok = true
      if (data instanceof Uint8Array) ok = flow.push(data)
      else for (const chunk of data) ok &&= flow.push(chunk)
      if (!ok) stream.abort(flow.error!)
      else if (this.#consumed > this.#written) stream.abort(new Error('the receiver reported more bytes consumed than were written'))
      else this.#flush()
    }
    await new Promise<void>(resolve => {
      stream.addEventListener('close', () => {
        stream.removeEventListener('drain', this.#onDrain)
        stream.removeEventListener('message', onMessage)
        this.#stream = undefined
        this.#awaitingDrain = false
        this.#init.onDown(this.node)
        resolve()
      }, { once: true })
      this.#stream = stream
      this.#channels = stream.protocol === this.#init.channelProtocol
      this.#written = 0
      this.#consumed = 0
      if (this.#channels) stream.addEventListener('message', onMessage)
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
    while (this.lanes.pending) {
      if (stream.writeStatus !== 'writable') return // closing: its 'close' event follows
      if (this.#channels && this.#written - this.#consumed >= this.#init.maxBytesInFlight) return // FRAME_FLOW resumes
      const batch = this.#pack(stream)
      if (batch === undefined) continue // only holes, expired or unsupported frames: they are gone now
      let ok: boolean
      try {
        ok = stream.send(batch)
      } catch (err: any) {
        this.#settle(false)
        stream.abort(err)
        return
      }
      this.#written += batch.byteLength
      this.#settle(true)
      if (!ok) {
        this.#awaitingDrain = true
        stream.addEventListener('drain', this.#onDrain, { once: true })
        return
      }
    }
  }

  /** Counts the write just made (or refused) and tells envelope owners. */
  #settle (written: boolean): void {
    const items = this.#items
    const lanes = this.#itemLanes
    for (let i = 0; i < items.length; i++) {
      const item = items[i]
      if (item === BIND) continue
      const lane = lanes[i]
      if (written) {
        lane.sent++
        if (item instanceof Envelope) item.owner?.written?.(item)
      } else {
        lane.dropped++
        if (item instanceof Envelope) item.owner?.discarded(item, 'lost')
      }
    }
    items.length = 0
    lanes.length = 0
  }

  /**
   * Takes frames for one write of up to `maxWriteBytes` (at least one frame) from the lanes, in
   * order of priority after any starved lane, and packs them into one buffer; undefined if
   * nothing writable was queued.
   */
  #pack (stream: Stream): Uint8Array | Uint8ArrayList | undefined {
    const max = this.#init.maxWriteBytes
    const now = Date.now()
    const lanes = this.lanes
    let bytes = 0
    let frames = 0
    const take = (lane: Lane): boolean => {
      for (let item = lane.peek(now); item !== undefined; item = lane.peek(now)) {
        if (!this.#channels && lane.spec.channel !== DEFAULT_CHANNEL) {
          lane.shift()
          lane.dropped++
          if (item instanceof Envelope) item.owner?.discarded(item, 'unsupported')
          continue
        }
        const bind = lane.boundOn !== stream && lane.spec.channel > 0
        const size = frameBytes(lane, item) + (bind ? bindBytes(lane) : 0)
        if (frames > 0 && bytes + size > max) return false
        lane.shift()
        lane.took = true
        if (bind) {
          lane.boundOn = stream
          this.#items.push(BIND)
          this.#itemLanes.push(lane)
        }
        this.#items.push(item)
        this.#itemLanes.push(lane)
        bytes += size
        frames++
      }
      return true
    }
    const starved = lanes.starved()
    if (starved === undefined || take(starved)) {
      for (const lane of lanes.ordered) if (lane !== starved && !take(lane)) break
    }
    lanes.written()
    if (frames === 0) return undefined

    const items = this.#items
    const itemLanes = this.#itemLanes
    const last = items[items.length - 1]
    const lastPayload = last instanceof Envelope ? last.data : last
    // a large message: frame it without copying it
    const zeroCopy = lastPayload.byteLength >= max
    const buf = new Uint8Array(zeroCopy ? bytes - lastPayload.byteLength : bytes)
    let offset = 0
    for (let i = 0; i < items.length; i++) {
      const item = items[i]
      const lane = itemLanes[i]
      if (item === BIND) {
        const name = lane.spec.nameBytes
        offset = writeFrameHeader(buf, offset, FRAME_BIND, lane.spec.channel, -1, varintLength(lane.spec.channel), name.byteLength)
        buf.set(name, offset)
        offset += name.byteLength
        continue
      }
      const payload = shapeOf(lane, item)
      offset = writeFrameHeader(buf, offset, shape.kind, shape.a, shape.b, shape.fields, payload.byteLength)
      if (zeroCopy && i === items.length - 1) break
      buf.set(payload, offset)
      offset += payload.byteLength
    }
    return zeroCopy ? new Uint8ArrayList(buf, lastPayload) : buf
  }
}

/** The frame of one queued item: kind, its leading uvarint fields (-1: none) and their bytes. */
const shape = { kind: 0, a: -1, b: -1, fields: 0 }

/** Sets `shape` for `item` queued on `lane`; returns its payload. */
function shapeOf (lane: Lane, item: Item): Uint8Array {
  const channel = lane.spec.channel
  let kind: number
  let a = -1
  let b = -1
  let payload: Uint8Array
  if (item instanceof Uint8Array) {
    payload = item
    kind = channel === DEFAULT_CHANNEL ? FRAME_MESSAGE : FRAME_CHANNEL
  } else {
    payload = item.data
    kind = item.kind
    if (kind === FRAME_MESSAGE || kind === FRAME_CHANNEL) {
      kind = channel === DEFAULT_CHANNEL ? FRAME_MESSAGE : FRAME_CHANNEL
    } else if (kind === FRAME_REQUEST) {
      a = channel
      b = item.id
    } else {
      a = item.id
      if (kind === FRAME_ERROR || kind === FRAME_CREDIT) b = item.n
    }
  }
  if (kind === FRAME_CHANNEL) a = channel
  shape.kind = kind
  shape.a = a
  shape.b = b
  shape.fields = (a >= 0 ? varintLength(a) : 0) + (b >= 0 ? varintLength(b) : 0)
  return payload
}

function frameBytes (lane: Lane, item: Item): number {
  if (item instanceof Uint8Array && lane.spec.channel === DEFAULT_CHANNEL) return headerLength(item.byteLength) + item.byteLength
  const payload = shapeOf(lane, item)
  return headerLength(payload.byteLength, shape.fields) + payload.byteLength
}

function bindBytes (lane: Lane): number {
  return headerLength(lane.spec.nameBytes.byteLength, varintLength(lane.spec.channel)) + lane.spec.nameBytes.byteLength
}
