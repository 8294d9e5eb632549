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
 * here, what waits stays in the lanes, where priorities, keys, deadlines and drop-oldest act.
 * Priority-0 lanes (and control frames) may go URGENT_HEADROOM past a full window, so an urgent
 * message waits behind what is in flight but never for the receiver's next report.
 * The same reports carry acknowledgements of reliable channels (FRAME_ACK): the first write on a
 * new stream starts with this node's session (FRAME_HELLO) and writes every unacknowledged
 * message again first. A link that reports nothing while we wait on it for `deadLinkTimeout` is
 * dead: its whole connection is aborted (a peer that never reports would otherwise collect one
 * connection per timeout) and the member redialled on a new one. An idle link is probed
 * with a heartbeat (FRAME_PING) every `deadLinkTimeout / HEARTBEATS_PER_TIMEOUT`, so a busy one pays nothing; a new
 * stream writes nothing until it has something to say. Backpressure waits on the stream's 'drain'
 * event (never `onDrain()`, see shared/libp2p-v3-notes.md); meanwhile messages keep queueing.
 *
 * A background loop dials eagerly, trying the member's addresses in turn, notices a lost stream
 * from its 'close' event, and redials with capped exponential backoff and jitter. The backoff is
 * reset by a stream that stayed open STABLE_STREAM_MS, so a peer that accepts and at once resets
 * (it does not count us as a member, say) is retried ever more slowly. A connection with the
 * member opening (it restarted and dialled us, say) ends a backoff wait at once and resets the
 * backoff: the member is back, and our messages to it must not wait out a delay meant for a
 * member that was gone. Messages queued while
 * disconnected are written after the reconnect. Delivery is at-most-once: a message handed to a
 * stream that then dies is lost. On a 1.1.0 stream such losses are counted (`lost`): each write
 * that carried messages is remembered until the receiver's FLOW covers it, and when the stream
 * dies the messages of every write not covered count as lost (a write partly consumed counts
 * whole, so `lost` may include messages that did arrive). A 1.0.0 peer reports nothing: there,
 * nothing is counted.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { backoffDelay, sleep, type ReconnectOptions } from './backoff.ts'
import { STABLE_STREAM_MS } from './constants.ts'
import { DialSupersededError } from './dial-order.ts'
import {
  EMPTY, encodeKindFrame, FrameDecoder, writeHeader, FRAME_ACK, FRAME_BIND, FRAME_CHANNEL, FRAME_CREDIT, FRAME_ERROR, FRAME_FLOW, FRAME_HELLO, FRAME_HELLO_BACK,
  FRAME_MESSAGE, FRAME_PING, FRAME_RELIABLE, FRAME_REQUEST, MAX_KIND_REVERSE, headerLength, readVarint, varintEnd, varintLength, writeFrameHeader
} from './framing.ts'
import { DEFAULT_CHANNEL, Envelope, isMessage, Lanes, type Item, type Lane, type LaneSpec } from './lanes.ts'
import type { NodeId } from './membership.ts'
import type { Logger, Stream, StreamMessageEvent } from '@libp2p/interface'
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
  /** On a 1.1.0 stream: ms without progress while waiting on the receiver after which the link is dead; 0: never (see `checkLink`). */
  deadLinkTimeout: number
  /** This node's session, the first frame of every 1.1.0 stream. */
  session: number
  reconnect: ReconnectOptions
  /**
   * Opens an outgoing stream of our protocols to `addr`, in the node's dial order (dial-order.ts:
   * it may wait for the member to connect first, and carries a timeout); `force` dials a new
   * connection even if one is open. DialSupersededError: the member's own connection opened first.
   */
  dial: (addr: Multiaddr, options: { signal: AbortSignal, force: boolean }) => Promise<Stream>
  /**
   * Aborts the connection a stream from `dial` runs on (its streams with it): a dead link is dead
   * both ways, and a connection left open would be one more with every redial. Without it only
   * the stream is reset.
   */
  abortConnection?: (stream: Stream, err: Error) => void
  /** The protocol ID that means a stream speaks 1.1.0 (channels and requests). */
  channelProtocol: string
  /** The outgoing stream opened / closed. */
  onUp: (node: NodeId) => void
  onDown: (node: NodeId) => void
  log: Logger
}

/** Bytes the most urgent lanes (priority 0, control) may write past a full window. */
const URGENT_HEADROOM = 64 * 1024

/**
 * Payloads of at least this many bytes are written by reference, between copied headers, not
 * copied into the write: a copy costs more than the extra piece libp2p then handles (Noise
 * encrypts a list piece by piece), while smaller messages coalesce into one buffer.
 */
const REF_BYTES = 16 * 1024

/** Bytes a frame's leading uvarint fields take at most (channel, request id, sequence number, code, credit: two of them). */
const MAX_FIELDS = 16

/**
 * A new buffer for a write, uninitialised from 4 KiB on: only the bytes written into it are
 * handed to the stream, and zeroing it first costs up to half as much again as the copies into it
 * (measured: a 256 KiB buffer, full 41 µs against 46 µs zeroed, half full 28 against 43 µs).
 * Smaller ones are plain typed arrays, which V8 allocates more cheaply than Node's pooled Buffers.
 */
function allocWrite (bytes: number): Uint8Array {
  if (bytes < 4096 || typeof Buffer !== 'function') return new Uint8Array(bytes)
  return new Uint8Array(Buffer.allocUnsafeSlow(bytes).buffer, 0, bytes)
}

const PING = encodeKindFrame(FRAME_PING, -1, -1)
/** An idle link is probed every `deadLinkTimeout / HEARTBEATS_PER_TIMEOUT`. */
export const HEARTBEATS_PER_TIMEOUT = 2

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
  /** The loop sleeps its reconnect backoff (aborting `#attempt` ends it). */
  #backingOff = false
  #nextAddr = 0
  /** The member moved: until a stream opens, dial new connections, not one left from the old address. */
  #force = false
  /** Blocked (`block()`): no stream, no dial, and everything queued is dropped, until `unblock()`. */
  #blocked = false
  /** Ends the wait of a blocked loop. */
  #unblocked: (() => void) | undefined
  #flushScheduled = false
  #awaitingDrain = false
  /** Bytes written to the current stream, and reported consumed by its receiver. */
  #written = 0
  #consumed = 0
  /** When the receiver last reported progress, or we started waiting on it; when we last wrote. */
  #progressAt = 0
  #writtenAt = 0
  /** The receiver's session (FRAME_HELLO_BACK): a new one means it restarted. */
  #peerSession = -1
  /** Our session (FRAME_HELLO); written first on a 1.1.0 stream, with its first write: an idle stream costs nothing. */
  readonly #hello: Uint8Array
  /** A heartbeat as the first write of a stream: HELLO then PING. */
  readonly #helloPing: Uint8Array

  constructor (init: DispatcherInit) {
    this.#init = init
    this.node = init.node
    this.#addrs = init.addrs
    this.#hello = encodeKindFrame(FRAME_HELLO, init.session, -1)
    this.#helloPing = new Uint8Array(this.#hello.byteLength + PING.byteLength)
    this.#helloPing.set(this.#hello)
    this.#helloPing.set(PING, this.#hello.byteLength)
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
    if (this.#blocked) {
      this.#dropQueued()
      return
    }
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

  /**
   * The member is blocked: its stream is reset, it is not dialled, and what is queued for it, or
   * queued from now on, is dropped (counted, and requests fail `dropped`) until `unblock()`.
   */
  block (): void {
    if (this.#closed || this.#blocked) return
    this.#blocked = true
    this.#attempt.abort()
    this.#stream?.abort(new Error('blocked'))
    this.#dropQueued()
  }

  /** The block ended: dial again at once. */
  unblock (): void {
    if (!this.#blocked) return
    this.#blocked = false
    this.#failures = 0
    this.#unblocked?.()
  }

  #dropQueued (): void {
    for (const lane of this.lanes.ordered) lane.dropped += lane.clear('dropped')
  }

  /**
   * A connection with the member opened, whichever side dialled: if the loop sleeps its backoff,
   * the wait ends now and the failures are forgotten. A dial in progress is left alone
   * (dial-order.ts already reacts to the connection).
   */
  connectionOpened (): void {
    if (!this.#backingOff) return
    this.#failures = 0
    this.#attempt.abort()
  }

  /** Stops for good: resets the stream, cancels dial and backoff, discards the lanes. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#unblocked?.()
    this.#attempt.abort()
    this.#stream?.abort(new Error('dispatcher closed'))
    this.lanes.clear('closed')
  }

  async #run (): Promise<void> {
    let opened = false
    while (!this.#closed) {
      if (this.#blocked) {
        await new Promise<void>(resolve => { this.#unblocked = resolve })
        this.#unblocked = undefined
        continue
      }
      const attempt = this.#attempt = new AbortController()
      const addr = this.#addrs[this.#nextAddr % this.#addrs.length]
      let stream: Stream | undefined
      try {
        stream = await this.#init.dial(addr, { signal: attempt.signal, force: this.#force })
      } catch (err: any) {
        if (this.#closed) return
        if (attempt.signal.aborted) continue // new addresses: dial them now
        if (err instanceof DialSupersededError) {
          this.#force = false // the member's connection just opened: ride it, even if we were forcing a new one
          continue
        }
        this.#init.log('dial %s of %s failed: %s', addr, this.node, err?.message ?? err?.type ?? err)
        this.#nextAddr++
      }
      if (stream != null) {
        if (this.#closed) {
          stream.abort(new Error('dispatcher closed'))
          return
        }
        if (this.#blocked) {
          stream.abort(new Error('blocked')) // the dial completed after block(): the loop waits for unblock()
          continue
        }
        if (stream.status !== 'open') {
          stream.abort(new Error('stream not open'))
        } else {
          if (opened) this.reconnects++
          opened = true
          this.#force = false // reached the member: later redials may use what libp2p holds
          const since = Date.now()
          await this.#use(stream)
          if (this.#closed) return
          if (Date.now() - since >= STABLE_STREAM_MS) this.#failures = 0
        }
      }
      this.#backingOff = true
      await sleep(backoffDelay(this.#failures++, this.#init.reconnect), attempt.signal)
      this.#backingOff = false
    }
  }

  /** Writes to `stream` until its 'close' event. */
  async #use (stream: Stream): Promise<void> {
    // the reverse direction: FLOW, ACK and HELLO_BACK only
    const flow: FrameDecoder = new FrameDecoder(0, (kind, buf, start, end) => {
      const a = readVarint(buf, start, end)
      const b = kind === FRAME_ACK && a >= 0 ? readVarint(buf, varintEnd, end) : 0
      if (a < 0 || b < 0 || varintEnd !== end) {
        flow.fail('malformed-body')
      } else if (kind === FRAME_FLOW) {
        if (a > this.#consumed) {
          this.#consumed = a
          this.#progressAt = Date.now()
        }
      } else if (kind === FRAME_ACK) {
        this.lanes.get(a)?.ack(b)
      } else if (kind === FRAME_HELLO_BACK) {
        // a restarted receiver never delivered what its predecessor left unacknowledged: it is written again below
        if (this.#peerSession !== -1 && this.#peerSession !== a) this.#init.log('%s restarted: unacknowledged reliable messages are written again', this.node)
        this.#peerSession = a
      } else {
        flow.fail('unknown-kind')
      }
    }, MAX_KIND_REVERSE)
    const onMessage = (evt: StreamMessageEvent): void => {
      const data = evt.data
      let ok = true
      if (data instanceof Uint8Array) ok = flow.push(data) >= 0
      else for (const chunk of data) ok &&= flow.push(chunk) >= 0
      if (!ok) stream.abort(flow.error!)
      else if (this.#consumed > this.#written) stream.abort(new Error('the receiver reported more bytes consumed than were written'))
      else {
        this.#confirm(this.#consumed)
        this.#flush()
      }
    }
    await new Promise<void>(resolve => {
      stream.addEventListener('close', () => {
        stream.removeEventListener('drain', this.#onDrain)
        stream.removeEventListener('message', onMessage)
        if (this.#channels) this.#countLost()
        this.#stream = undefined
        this.#awaitingDrain = false
        this.#init.onDown(this.node)
        resolve()
      }, { once: true })
      this.#stream = stream
      this.#channels = stream.protocol === this.#init.channelProtocol
      this.#written = 0
      this.#consumed = 0
      this.#writtenAt = Date.now()
      this.lanes.rewind()
      if (this.#channels) stream.addEventListener('message', onMessage)
      this.#init.onUp(this.node)
      this.#flush()
    })
  }

  /**
   * Called by the network's one timer, every twentieth of `deadLinkTimeout`: a 1.1.0 stream
   * waiting on the receiver with no progress for the timeout is dead; one idle for
   * `timeout / HEARTBEATS_PER_TIMEOUT` gets a heartbeat, so that the receiver's FLOW shows it
   * alive. A dead link is thus found within the timeout, plus one heartbeat interval if it was
   * idle, plus the timer's granularity.
   */
  checkLink (now: number): void {
    const stream = this.#stream
    const timeout = this.#init.deadLinkTimeout
    if (stream === undefined || !this.#channels) return
    if (this.#written > this.#consumed) {
      if (now - this.#progressAt < timeout) return
      this.#init.log('link to %s is dead: nothing consumed for %d ms', this.node, now - this.#progressAt)
      this.#force = true // redial on a new connection, not on another one libp2p holds to the member
      const err = new Error(`dead link: nothing consumed for ${now - this.#progressAt} ms`)
      this.#init.abortConnection?.(stream, err)
      stream.abort(err) // if the connection was not found
    } else if (now - this.#writtenAt >= timeout / HEARTBEATS_PER_TIMEOUT && stream.writeStatus === 'writable') {
      // counted in flight like any other write; led by HELLO if it is the stream's first
      const ok = this.#send(stream, this.#helloPending ? this.#helloPing : PING)
      if (ok instanceof Error) stream.abort(ok)
    }
  }

  /** Nothing was written on this 1.1.0 stream yet: its first write starts with our session. */
  get #helloPending (): boolean {
    return this.#channels && this.#written === 0
  }

  /**
   * Hands `data` to the stream, counted in flight (the dead-link clock starts when the link goes
   * from idle to waiting); returns what `send()` returned, or the error it threw (the caller
   * aborts the stream, after settling what the write carried).
   */
  #send (stream: Stream, data: Uint8Array | Uint8ArrayList): boolean | Error {
    if (this.#written === this.#consumed) this.#progressAt = Date.now()
    let ok: boolean
    try {
      ok = stream.send(data)
    } catch (err: any) {
      return err instanceof Error ? err : new Error(String(err))
    }
    this.#written += data.byteLength
    this.#writtenAt = Date.now()
    return ok
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
      // past the window only the most urgent lanes write, and only by URGENT_HEADROOM: an urgent
      // message then waits behind what is in flight, not for the receiver's next FLOW report
      const inFlight = this.#channels ? this.#written - this.#consumed : 0
      const urgentOnly = inFlight >= this.#init.maxBytesInFlight
      if (urgentOnly && inFlight >= this.#init.maxBytesInFlight + URGENT_HEADROOM) return // FRAME_FLOW resumes
      const batch = this.#pack(stream, urgentOnly)
      // nothing writable: every lane is empty, or waits (a reliable lane on acknowledgements);
      // what is left will be written when an event (send, FLOW, ACK, drain) calls us again
      if (batch === undefined) return
      const ok = this.#send(stream, batch)
      if (ok instanceof Error) {
        this.#settle(false)
        stream.abort(ok)
        return
      }
      this.#settle(true)
      if (!ok) {
        this.#awaitingDrain = true
        stream.addEventListener('drain', this.#onDrain, { once: true })
        return
      }
    }
  }

  /**
   * The write being assembled by `#pack`: its bytes and frames so far; the buffer its frames are
   * copied into (`#out`, filled to `#at`), the part of it from `#piece` not yet in `#list`; the
   * list, once the write holds a payload by reference or fills a second buffer; our session, to
   * lead the first frame.
   */
  #bytes = 0
  #frames = 0
  #out: Uint8Array = EMPTY
  #at = 0
  #piece = 0
  #list: Uint8ArrayList | undefined
  #lead: Uint8Array | undefined
  /** At least what the frames still to be taken copy (`#copyBound`): a new buffer need hold no more. */
  #spare = 0
  /** Lanes the write took plain messages from (their `writing` counts them), and the envelopes it took, with their lanes. */
  readonly #touched: Lane[] = []
  readonly #envelopes: Envelope[] = []
  readonly #envelopeLanes: Lane[] = []

  /**
   * Frames `lane`'s writable items into the write being assembled, while they fit in `max` bytes
   * (the first frame always does); false once the write is full. Past a full window (`urgentOnly`)
   * only priority-0 lanes give.
   *
   * A frame is copied straight into the buffer handed to the stream, its payload too unless it is
   * written by reference (REF_BYTES): each payload is copied once at most. The buffer is allocated
   * by the first frame, as large as what is left of the write's budget or what the lanes' frames
   * may copy (`#spare`), whichever is less: a lone message gets a small one, a burst one of about
   * `max`, and the write stays one buffer (a list only around payloads written by reference).
   */
  #take (lane: Lane, stream: Stream, urgentOnly: boolean, now: number, max: number): boolean {
    if (urgentOnly && lane.spec.priority > 0) return true
    const spec = lane.spec
    if (!this.#channels && spec.channel !== DEFAULT_CHANNEL) {
      this.#unsupported(lane, now)
      return true
    }
    const reliable = spec.reliable
    let buf = this.#out
    // the write's state in locals while frames are taken; in its fields again around #grow and at the end
    let at = this.#at
    let bytes = this.#bytes
    let spare = this.#spare
    let full = false
    for (let item = lane.peek(now); item !== undefined; item = lane.peek(now)) {
      const bind = lane.boundOn !== stream && spec.channel > 0
      let payloadLength: number
      let size: number
      if (item instanceof Uint8Array) {
        payloadLength = item.byteLength
        size = headerLength(payloadLength, lane.fieldBytes) + payloadLength
      } else {
        payloadLength = item.data.byteLength
        size = frameBytes(lane, item)
      }
      // at most: a reliable message's number adds up to 7 bytes, and 1 to its length prefix
      if (reliable) size += 8
      if (bind) size += bindBytes(lane)
      if (this.#frames > 0 && bytes + size > max) {
        full = true
        break
      }
      const taken = lane.shift()
      lane.took = true
      // written by reference, not copied (nor is one larger than a write)
      const byRef = payloadLength >= REF_BYTES || payloadLength >= max
      const copied = size - (byRef ? payloadLength : 0)
      if (copied > buf.byteLength - at) {
        this.#at = at
        this.#bytes = bytes
        this.#spare = spare
        buf = this.#grow(copied, Math.min(spare, max - bytes))
        at = this.#at
        bytes = this.#bytes
        spare = this.#spare
      }
      let offset = at
      const start = offset
      if (bind) {
        lane.boundOn = stream
        const name = spec.nameBytes
        offset = writeFrameHeader(buf, offset, FRAME_BIND, spec.channel, -1, varintLength(spec.channel), name.byteLength)
        buf.set(name, offset)
        offset += name.byteLength
      }
      // a reliable lane hands a keyed message out as its bytes, numbered (lane.seq)
      const plain = taken instanceof Uint8Array
      let payload: Uint8Array
      if (plain && lane.seq < 0) {
        // a plain message, by far the most common: its header without the general shape
        payload = taken
        offset = spec.channel === DEFAULT_CHANNEL
          ? writeHeader(buf, offset, payload.byteLength)
          : writeFrameHeader(buf, offset, FRAME_CHANNEL, spec.channel, -1, lane.fieldBytes, payload.byteLength)
      } else {
        payload = shapeOf(lane, taken, lane.seq)
        offset = writeFrameHeader(buf, offset, shape.kind, shape.a, shape.b, shape.fields, payload.byteLength)
      }
      if (!plain) {
        this.#envelopes.push(taken)
        this.#envelopeLanes.push(lane)
      } else if (lane.writing++ === 0) {
        this.#touched.push(lane)
      }
      this.#frames++
      bytes += offset - start + payload.byteLength
      if (byRef) {
        spare -= offset - start
        const list = this.#list ??= new Uint8ArrayList()
        if (offset > this.#piece) list.append(buf.subarray(this.#piece, offset))
        list.append(payload)
        at = this.#piece = offset
        continue
      }
      buf.set(payload, offset)
      at = offset + payload.byteLength
      spare -= at - start
    }
    this.#at = at
    this.#bytes = bytes
    this.#spare = spare
    return !full
  }

  /**
   * At least the bytes the next write copies, from the lanes it may take from: every payload but
   * those written by reference (of each payload, at most what is copied), a header for each, of at
   * most a length prefix, the kind and two uvarint fields, and a BIND.
   */
  #copyBound (urgentOnly: boolean, max: number): number {
    const copiedAtMost = Math.min(REF_BYTES, max) - 1
    let bound = 0
    for (const lane of this.lanes.ordered) {
      const items = lane.items
      if (items === 0 || (urgentOnly && lane.spec.priority > 0) || (!this.#channels && lane.spec.channel !== DEFAULT_CHANNEL)) continue
      const bytes = lane.bytes
      bound += Math.min(bytes, items * copiedAtMost) + items * (varintLength(bytes + MAX_FIELDS + 1) + 1 + MAX_FIELDS) + (lane.spec.channel > 0 ? bindBytes(lane) : 0)
    }
    return bound
  }

  /**
   * Starts a new buffer for the write being assembled (what the last one holds goes to the list),
   * of `want` bytes, or what the next frame `need`s if more; led by our session if it leads the write.
   */
  #grow (need: number, want: number): Uint8Array {
    if (this.#at > this.#piece) (this.#list ??= new Uint8ArrayList()).append(this.#out.subarray(this.#piece, this.#at))
    const lead = this.#lead
    const leadBytes = lead?.byteLength ?? 0
    const out = this.#out = allocWrite(Math.max(need + leadBytes, want))
    this.#at = this.#piece = 0
    if (lead !== undefined) {
      out.set(lead)
      this.#at = leadBytes
      this.#bytes += leadBytes
      this.#spare -= leadBytes
      this.#lead = undefined
    }
    return out
  }

  /** A 1.0.0 stream has only the default channel: `lane`'s items are dropped, counted, as they come up. */
  #unsupported (lane: Lane, now: number): void {
    for (let item = lane.peek(now); item !== undefined; item = lane.peek(now)) {
      lane.shift()
      if (lane.seq >= 0) lane.ack(lane.seq) // a reliable lane forgets it too: it will never be written
      lane.dropped++
      if (item instanceof Envelope) item.owner?.discarded(item, 'unsupported')
    }
  }

  /**
   * `lost`, on a 1.1.0 stream: the writes that carried messages of lanes that are not reliable and
   * that the receiver has not reported consumed, oldest first from `#writeHead`: where each ends
   * in the stream and how many lanes it carried messages of; per such lane, from `#markHead`, the
   * lane and its `onStream` after that write (which becomes its `confirmed` once FLOW covers the
   * write). Per write, not per message; as many writes as are in flight.
   */
  readonly #writeEnd: number[] = []
  readonly #writeLanes: number[] = []
  #writeHead = 0
  readonly #markLane: Lane[] = []
  readonly #markCount: number[] = []
  #markHead = 0

  /** Counts the write just made (or refused) and tells envelope owners; on a 1.1.0 stream remembers what it carried until FLOW covers it. */
  #settle (written: boolean): void {
    const track = written && this.#channels
    const marks = this.#markLane.length
    for (const lane of this.#touched) {
      if (written) {
        lane.sent += lane.writing
        if (track && !lane.spec.reliable) this.#carried(lane, lane.writing, marks)
      } else if (!lane.spec.reliable) {
        lane.dropped += lane.writing // a reliable message stays unacknowledged: written again on the next stream
      }
      lane.writing = 0
    }
    const envelopes = this.#envelopes
    for (let i = 0; i < envelopes.length; i++) {
      const e = envelopes[i]
      const lane = this.#envelopeLanes[i]
      if (written) {
        lane.sent++
        if (track && !lane.spec.reliable && isMessage(e)) this.#carried(lane, 1, marks)
        e.owner?.written?.(e)
      } else {
        lane.dropped++
        e.owner?.discarded(e, 'lost')
      }
    }
    this.#touched.length = 0
    envelopes.length = 0
    this.#envelopeLanes.length = 0
    const lanes = this.#markLane
    if (lanes.length > marks) {
      for (let i = marks; i < lanes.length; i++) this.#markCount.push(lanes[i].onStream)
      this.#writeEnd.push(this.#written)
      this.#writeLanes.push(lanes.length - marks)
    }
  }

  /** The write being settled carried `n` messages of `lane` (entries of this write start at `from`). */
  #carried (lane: Lane, n: number, from: number): void {
    lane.onStream += n
    const lanes = this.#markLane
    for (let i = from; i < lanes.length; i++) if (lanes[i] === lane) return
    lanes.push(lane)
  }

  /** The receiver reported `consumed` bytes: the writes that end within them are confirmed. */
  #confirm (consumed: number): void {
    const ends = this.#writeEnd
    let w = this.#writeHead
    if (w === ends.length || ends[w] > consumed) return
    const counts = this.#writeLanes
    const lanes = this.#markLane
    const marks = this.#markCount
    let m = this.#markHead
    do {
      for (let k = counts[w]; k > 0; k--, m++) lanes[m].confirmed = marks[m]
      w++
    } while (w < ends.length && ends[w] <= consumed)
    if (w === ends.length) {
      this.#forgetWrites()
      return
    }
    this.#writeHead = w
    this.#markHead = m
    // a receiver that always lags keeps some writes unconfirmed: drop the confirmed ones now and then
    if (w >= 1024 && w * 2 >= ends.length) {
      ends.splice(0, w)
      counts.splice(0, w)
      lanes.splice(0, m)
      marks.splice(0, m)
      this.#writeHead = 0
      this.#markHead = 0
    }
  }

  /** The stream died: the messages of every write its receiver did not report consumed are lost (a write partly consumed counts whole). */
  #countLost (): void {
    for (const lane of this.lanes.ordered) {
      lane.lost += lane.onStream - lane.confirmed
      lane.onStream = 0
      lane.confirmed = 0
    }
    this.#forgetWrites()
  }

  #forgetWrites (): void {
    this.#writeEnd.length = 0
    this.#writeLanes.length = 0
    this.#markLane.length = 0
    this.#markCount.length = 0
    this.#writeHead = 0
    this.#markHead = 0
  }

  /**
   * Takes frames for one write of up to `maxWriteBytes` (at least one frame) from the lanes, in
   * order of priority after any starved lane, framing them straight into the buffer handed to the
   * stream (with payloads of REF_BYTES or more in place, uncopied: then a list); returns it, or
   * undefined if nothing writable was queued. A buffer is never reused: the stream keeps it.
   */
  #pack (stream: Stream, urgentOnly: boolean): Uint8Array | Uint8ArrayList | undefined {
    const max = this.#init.maxWriteBytes
    const now = Date.now()
    const lanes = this.lanes
    this.#frames = 0
    this.#bytes = 0
    // a new stream's first write starts with our session
    const lead = this.#lead = this.#helloPending ? this.#hello : undefined
    this.#spare = (lead?.byteLength ?? 0) + this.#copyBound(urgentOnly, max)
    const starved = lanes.starved()
    if (starved === undefined || this.#take(starved, stream, urgentOnly, now, max)) {
      for (const lane of lanes.ordered) if (lane !== starved && !this.#take(lane, stream, urgentOnly, now, max)) break
    }
    lanes.written()
    const out = this.#out
    const at = this.#at
    const piece = this.#piece
    const list = this.#list
    // what is left of the buffer is not written to again: the next write starts a new one
    this.#out = EMPTY
    this.#at = this.#piece = 0
    this.#list = this.#lead = undefined
    if (this.#frames === 0) return undefined
    if (list === undefined) return at === out.byteLength ? out : out.subarray(0, at)
    if (at > piece) list.append(out.subarray(piece, at))
    return list
  }
}

/** The frame of one queued item: kind, its leading uvarint fields (-1: none) and their bytes. */
const shape = { kind: 0, a: -1, b: -1, fields: 0 }

/** Sets `shape` for `item` queued on `lane` (a reliable message numbered `seq`, else -1); returns its payload. */
function shapeOf (lane: Lane, item: Item, seq: number): Uint8Array {
  const channel = lane.spec.channel
  let kind: number
  let a = -1
  let b = -1
  let payload: Uint8Array
  if (seq >= 0) {
    payload = item as Uint8Array
    kind = FRAME_RELIABLE
    a = channel
    b = seq
  } else if (item instanceof Uint8Array) {
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

/** Bytes of the frame of an envelope (its header and payload), without a reliable number. */
function frameBytes (lane: Lane, item: Envelope): number {
  const payload = shapeOf(lane, item, -1)
  return headerLength(payload.byteLength, shape.fields) + payload.byteLength
}

function bindBytes (lane: Lane): number {
  return headerLength(lane.spec.nameBytes.byteLength, varintLength(lane.spec.channel)) + lane.spec.nameBytes.byteLength
}
