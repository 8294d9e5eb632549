/**
 * A Dispatcher keeps one outgoing stream open to one member and writes that member's lanes to it.
 * `send()` never blocks: it appends to a drop-oldest lane (queue/) and schedules at most one
 * flush per tick, which packs queued frames into writes of up to `maxWriteBytes`, the most urgent
 * lanes first (packer.ts): a burst costs one `stream.send()` per ~256 KiB, a lone message on an
 * idle link is written at once. Backpressure waits on 'drain' (shared/libp2p-v3-notes.md).
 *
 * On a 1.1.0 stream at most `maxBytesInFlight` bytes are written but not yet reported consumed
 * (FRAME_FLOW, on the reverse direction: report-reader.ts), so what waits stays in the lanes, where
 * priorities, keys, deadlines and drop-oldest act; priority-0 lanes may go URGENT_HEADROOM past a
 * full window. Reports also acknowledge reliable channels (FRAME_ACK): a new stream's first write
 * starts with our session (FRAME_HELLO) and every unacknowledged message again. A link that
 * reports nothing while we wait on it for `deadLinkTimeout` is dead: its connection is aborted and
 * the member redialled; an idle link gets a heartbeat (FRAME_PING) every `deadLinkTimeout /
 * HEARTBEATS_PER_TIMEOUT`.
 *
 * A background loop dials, trying the member's addresses in turn, and redials a lost stream with
 * capped exponential backoff and jitter, reset by a stream that stayed open STABLE_STREAM_MS or by
 * a connection with the member opening (it is back). Delivery is at-most-once; on a 1.1.0 stream
 * what a dying stream took with it is counted `lost` (write-ledger.ts).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { backoffDelay, sleep } from './backoff.ts'
import type { ReconnectOptions } from '../config.ts'
import type { Clock, Random } from '../clock.ts'
import { STABLE_STREAM_MS } from '../constants.ts'
import { FRAME_HELLO, FRAME_PING } from '../wire/frames.ts'
import { encodeKindFrame } from '../wire/encoder.ts'
import { Lanes } from '../queue/lanes.ts'
import type { Lane, LaneSpec } from '../queue/lane.ts'
import type { NodeId } from '../types.ts'
import { WritePacker } from './packer.ts'
import { WriteLedger } from './write-ledger.ts'
import { ReportReader } from './report-reader.ts'
import { DialSupersededError, type LinkStream, type LinkStreamEvents, type Log } from './transport.ts'

export interface DispatcherInit {
  node: NodeId
  addrs: readonly unknown[]
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
  dial: (addr: unknown, options: { signal: AbortSignal, force: boolean }) => Promise<LinkStream>
  /**
   * Aborts the connection a stream from `dial` runs on (its streams with it): a dead link is dead
   * both ways, and a connection left open would be one more with every redial. Without it only
   * the stream is reset.
   */
  abortConnection?: (stream: LinkStream, err: Error) => void
  /** The protocol ID that means a stream speaks 1.1.0 (channels and requests). */
  channelProtocol: string
  /** The outgoing stream opened / closed. */
  onUp: (node: NodeId) => void
  onDown: (node: NodeId) => void
  log: Log
  clock: Clock
  /** Backoff jitter. */
  random: Random
}

/** Bytes the most urgent lanes (priority 0, control) may write past a full window. */
const URGENT_HEADROOM = 64 * 1024

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
  readonly #packer = new WritePacker()
  readonly #ledger = new WriteLedger()
  readonly #clock: Clock
  #addrs: readonly unknown[]
  #stream: LinkStream | undefined
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
    this.#clock = init.clock
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
    if (this.#blocked) {
      this.default.dropped++ // what push and schedule would do, without queueing it first
      return
    }
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
  setAddrs (addrs: readonly unknown[]): void {
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
      let stream: LinkStream | undefined
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
          const since = this.#clock.now()
          await this.#use(stream)
          if (this.#closed) return
          if (this.#clock.now() - since >= STABLE_STREAM_MS) this.#failures = 0
        }
      }
      this.#backingOff = true
      await sleep(this.#clock, backoffDelay(this.#failures++, this.#init.reconnect, this.#init.random), attempt.signal)
      this.#backingOff = false
    }
  }

  /** Writes to `stream` until its 'close' event. */
  async #use (stream: LinkStream): Promise<void> {
    const reports = new ReportReader({
      flow: total => {
        if (total <= this.#consumed) return
        this.#consumed = total
        this.#progressAt = this.#clock.now()
      },
      ack: (channel, seq) => { this.lanes.get(channel)?.ack(seq) },
      helloBack: session => {
        // a restarted receiver never delivered what its predecessor left unacknowledged: it is written again
        if (this.#peerSession !== -1 && this.#peerSession !== session) this.#init.log('%s restarted: unacknowledged reliable messages are written again', this.node)
        this.#peerSession = session
      }
    })
    const onMessage = (evt: LinkStreamEvents['message']): void => {
      const err = reports.push(evt.data)
      if (err !== undefined) stream.abort(err)
      else if (this.#consumed > this.#written) stream.abort(new Error('the receiver reported more bytes consumed than were written'))
      else {
        this.#ledger.confirm(this.#consumed)
        this.#flush()
      }
    }
    await new Promise<void>(resolve => {
      stream.addEventListener('close', () => {
        stream.removeEventListener('drain', this.#onDrain)
        stream.removeEventListener('message', onMessage)
        if (this.#channels) this.#ledger.countLost(this.lanes)
        this.#stream = undefined
        this.#awaitingDrain = false
        this.#init.onDown(this.node)
        resolve()
      }, { once: true })
      this.#stream = stream
      this.#channels = stream.protocol === this.#init.channelProtocol
      this.#written = 0
      this.#consumed = 0
      this.#writtenAt = this.#clock.now()
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
  #send (stream: LinkStream, data: Uint8Array | Uint8ArrayList): boolean | Error {
    if (this.#written === this.#consumed) this.#progressAt = this.#clock.now()
    let ok: boolean
    try {
      ok = stream.send(data)
    } catch (err: any) {
      return err instanceof Error ? err : new Error(String(err))
    }
    this.#written += data.byteLength
    this.#writtenAt = this.#clock.now()
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
      const batch = this.#packer.pack(this.lanes, stream, this.#channels, this.#helloPending ? this.#hello : undefined, urgentOnly, this.#clock.now(), this.#init.maxWriteBytes)
      // nothing writable: every lane is empty, or waits (a reliable lane on acknowledgements);
      // what is left will be written when an event (send, FLOW, ACK, drain) calls us again
      if (batch === undefined) return
      const ok = this.#send(stream, batch)
      if (ok instanceof Error) {
        this.#ledger.settle(this.#packer, false, false, this.#written)
        stream.abort(ok)
        return
      }
      this.#ledger.settle(this.#packer, true, this.#channels, this.#written)
      if (!ok) {
        this.#awaitingDrain = true
        stream.addEventListener('drain', this.#onDrain, { once: true })
        return
      }
    }
  }
}
