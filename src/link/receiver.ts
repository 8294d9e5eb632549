/**
 * A Receiver reads one inbound stream and hands each frame to its `inbound`, in order,
 * synchronously as the bytes arrive: no queue of its own, no promise per message. Who the
 * sender is comes from the connection's Noise-authenticated peer ID, fixed when the stream is
 * accepted; the owner decides what `inbound` does (deliver from a member, or hold while the peer
 * is tentative) and may swap it between two frames, which is how a tentative peer is promoted
 * without reordering.
 *
 * What each frame's body means, and what the stream must remember of the wire format (channel
 * bindings, the writer's session), is its FrameReader's (frame-reader.ts); a stream that breaks
 * the format is reset and reported once through `onInvalid`. What goes back to the writer (FLOW,
 * ACK) is its FlowReport's (flow-report.ts).
 *
 * A stream is processed in slices: at most TURN_BUDGET worth of frames per turn of the event loop
 * (the decoder's `budget`, wire/decoder.ts), then it yields, so that one peer flooding valid frames
 * cannot stall the others. What waits its turn is kept here and the stream is paused meanwhile:
 * libp2p stops granting the peer window and holds what is already on its way (at most its read
 * buffer, which the owner sets; libp2p resets a stream whose peer overflows it). The consumed bytes
 * reported back (FLOW) are those processed, so an honest writer slows down to what this node takes;
 * a receive rate, if the owner sets one, keeps the stream paused while it is in debt. Once the
 * stream closes nothing more is decoded.
 */
import { DETACHED, FrameReader, type Inbound } from './frame-reader.ts'
import { FlowReport } from './flow-report.ts'
import type { FrameDecoder } from '../wire/decoder.ts'
import { InvalidFrameError } from '../errors.ts'
import type { ReceiveRate } from './receive-rate.ts'
import type { Clock, Timer } from '../clock.ts'
import type { LinkStream, LinkStreamEvents } from './transport.ts'

export interface ReceiverInit {
  /** The remote peer ID (string form), from the connection. */
  peer: string
  maxMessageSize: number
  /** The stream speaks 1.1.0: channels and requests. */
  channels: boolean
  /** This node's session, sent back on a 1.1.0 stream (FRAME_HELLO_BACK) in its first report. */
  session: number
  inbound: Inbound
  /**
   * The stream broke the format, or its writer overflowed the read buffer of the paused stream
   * ('overflow'); it has been reset (its `onClose` came first).
   */
  onInvalid: (receiver: Receiver, err: InvalidFrameError) => void
  /** The stream closed for any reason. */
  onClose: (receiver: Receiver) => void
  clock: Clock
}

/**
 * What one stream may process per turn of the event loop (the decoder's `budget`: 1 per frame, plus
 * 1 per KiB): 1,024 small frames, or about 1 MiB of large ones; a frame is never split.
 */
export const TURN_BUDGET = 1024
/** Closing our side of a stream the writer ended waits at most this long for the last report to go (a peer granting no window). */
const CLOSE_MS = 5_000
/** A stream whose receive rate is in debt waits at least this many ms (then takes what that time paid for, at once). */
const THROTTLE_MS = 10

export class Receiver {
  readonly peer: string
  readonly stream: LinkStream
  readonly #frames: FrameReader
  readonly #decoder: FrameDecoder
  readonly #report: FlowReport
  readonly #init: ReceiverInit
  readonly #clock: Clock
  /** A turn is under way: `#tick` runs at its end (`clock.soon`), refills the budget and reports. */
  #turn = false
  /** What this stream may process per turn, and the rate it is read at (`limit`). */
  #turnBudget = TURN_BUDGET
  #rate: ReceiveRate | undefined
  /** The wait of a rate in debt. */
  #throttle: Timer | undefined
  /** Bytes that arrived but wait for a later turn, oldest first; while there are any the stream is paused. */
  readonly #pending: Uint8Array[] = []
  #paused = false
  #resuming = false
  /** The writer ended the stream while bytes were still waiting their turn. */
  #ended = false
  #remoteClosedWrite = false

  constructor (stream: LinkStream, init: ReceiverInit) {
    this.stream = stream
    this.peer = init.peer
    this.#init = init
    this.#clock = init.clock
    this.#frames = new FrameReader(init.maxMessageSize, init.channels, init.inbound)
    this.#decoder = this.#frames.decoder
    this.#report = new FlowReport(stream, init.clock, init.channels ? init.session : undefined)
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('remoteCloseWrite', this.#onRemoteCloseWrite, { once: true })
    stream.addEventListener('end', this.#onEnd, { once: true })
    stream.addEventListener('close', (evt: LinkStreamEvents['close']) => {
      // libp2p resets a paused stream whose writer sent more than its read buffer holds: the
      // writer ignored what this receiver reported consumed (FLOW)
      const overflow = evt.error?.name === 'StreamBufferError' && this.inbound !== DETACHED
      // nothing more is decoded: what waited its turn is gone with the stream, and what libp2p
      // still holds of it would follow a gap
      this.#detach()
      init.onClose(this)
      if (overflow) init.onInvalid(this, new InvalidFrameError('overflow'))
    }, { once: true })
  }

  /** Where the frames go; the owner may swap it between two frames. */
  get inbound (): Inbound {
    return this.#frames.inbound
  }

  set inbound (inbound: Inbound) {
    this.#frames.inbound = inbound
  }

  /** The writer's session from its HELLO (at most one per stream), or -1 before it. */
  get session (): number {
    return this.#frames.session
  }

  /** Reliable messages of channel `name` up to `seq` were delivered: tell the writer (FRAME_ACK). */
  acknowledge (name: string, seq: number): void {
    const n = this.#frames.numberOf(name)
    if (n === undefined) return
    this.#report.acknowledge(n, seq)
    if (!this.#turn) this.#startTurn(true)
  }

  /**
   * Resets the stream and delivers nothing more, not even the rest of the chunk being decoded
   * (a handler may remove the sender in the middle of one).
   */
  close (reason: string): void {
    this.#detach()
    this.stream.abort(new Error(reason))
  }

  readonly #onMessage = (evt: LinkStreamEvents['message']): void => {
    // what stream.resume() hands over is part of the turn that resumed it: no fresh budget for it
    if (!this.#turn) this.#startTurn(!this.#resuming)
    const pending = this.#pending
    const waiting = pending.length > 0
    const data = evt.data
    if (data instanceof Uint8Array) pending.push(data)
    else for (const chunk of data) pending.push(chunk)
    // behind what waits: it goes on at the turn's end; else as far as this turn's budget goes
    if (!waiting && this.#drain() && pending.length > 0) this.#pause()
  }

  /**
   * Decodes what waits, in order, as far as the budget goes (the rest stays, from where it
   * stopped); false once the stream is done with (it broke the format, or was closed by a
   * handler). If a (lean) handler throws, what it was handed counts as consumed and the rest goes
   * on at the next turn: nothing is decoded twice, nor lost.
   */
  #drain (): boolean {
    const pending = this.#pending
    const decoder = this.#decoder
    while (pending.length > 0 && decoder.budget > 0) {
      const chunk = pending[0]
      let at: number
      try {
        at = decoder.push(chunk)
      } catch (err) {
        this.#took(chunk, decoder.next)
        if (pending.length > 0 && this.inbound !== DETACHED) {
          this.#pause()
          if (!this.#turn) this.#startTurn(true)
        }
        throw err
      }
      if (at < 0) {
        this.#invalid()
        return false
      }
      if (!this.#took(chunk, at)) break
    }
    return this.inbound !== DETACHED
  }

  /** `chunk`, the first that waits, was decoded up to `at`; true if all of it. */
  #took (chunk: Uint8Array, at: number): boolean {
    this.#taken(at)
    if (at < chunk.byteLength) {
      this.#pending[0] = chunk.subarray(at)
      return false
    }
    this.#pending.shift()
    return true
  }

  /** `bytes` were processed: counted consumed, and charged to the rate, if any (in debt: nothing more until it is paid). */
  #taken (bytes: number): void {
    this.#report.consumed(bytes)
    if (bytes > 0) this.#charge(bytes)
  }

  /** Charges the rate, if any; in debt, the stream stops (budget spent, paused) until the debt is paid. */
  #charge (bytes: number): void {
    const rate = this.#rate
    if (rate === undefined || this.#throttle !== undefined || this.inbound === DETACHED) return
    const wait = rate.take(bytes, this.#clock.now())
    if (wait <= 0) return
    this.#decoder.budget = 0
    // at least THROTTLE_MS: a stream read in a trickle of wakes would cost a timer and a FLOW report each
    this.#throttle = this.#clock.setTimeout(this.#paid, Math.max(THROTTLE_MS, Math.ceil(wait)))
    this.#pause()
  }

  /** The debt is paid: a turn goes on with what waited, and reports (what was read while in debt is reported too). */
  readonly #paid = (): void => {
    this.#throttle = undefined
    if (!this.#turn) this.#startTurn(true)
  }

  /**
   * What this stream may take, from now on (the owner's to say: a non-member's is less than a
   * member's, and changes when it is promoted): `turnBudget` per turn (see TURN_BUDGET), read at
   * `rate` if any (shared by streams, perhaps: processing waits, the stream paused, while it is in
   * debt), and `readBuffer` bytes that libp2p holds of the paused stream (a peer that sends more
   * has it reset: 'overflow'). A wait under the old rate ends: the stream goes on at the next turn.
   */
  limit (turnBudget: number, rate: ReceiveRate | undefined, readBuffer: number): void {
    this.#turnBudget = turnBudget
    this.#rate = rate
    this.stream.maxReadBufferLength = readBuffer
    if (this.#throttle === undefined) return
    this.#clock.clearTimeout(this.#throttle)
    this.#paid()
  }

  /**
   * A turn begins, and `#tick` at its end; `fresh`: with a new budget, none while the rate is in
   * debt (a stream that starts while other streams sharing its rate are in debt waits too).
   */
  #startTurn (fresh: boolean): void {
    this.#turn = true
    if (fresh) {
      this.#decoder.budget = this.#throttle === undefined ? this.#turnBudget : 0
      this.#charge(0)
    }
    this.#clock.soon(this.#tick)
  }

  /**
   * The end of a turn: what waited goes on (`#continue`), then the report (1.1.0), if one is due
   * (FlowReport `due`: at once when nothing waits any more, now and then while a backlog is
   * worked off).
   */
  readonly #tick = (): void => {
    this.#turn = false
    this.#continue()
    if (!this.#init.channels || this.inbound === DETACHED) return
    const report = this.#report
    if (report.due(this.#pending.length > 0)) report.send()
  }

  /**
   * What waited gets a fresh budget, unless a rate is in debt; once nothing waits and no rate is
   * in debt the stream resumes (libp2p then hands over what it held, at once); else it stays
   * paused, and goes on at the next turn or when the debt is paid.
   */
  #continue (): void {
    if (this.inbound === DETACHED) return
    if (this.#throttle === undefined) this.#decoder.budget = this.#turnBudget
    if (!this.#drain()) return
    const pending = this.#pending
    if (this.#throttle !== undefined) {
      this.#pause()
    } else if (pending.length > 0) {
      if (!this.#turn) this.#startTurn(true)
    } else {
      this.#resume()
      if (this.#ended && pending.length === 0) this.#end()
    }
  }

  #pause (): void {
    if (this.#paused) return
    this.#paused = true
    // stream.resume() ends by resuming the muxer: pausing inside it would be undone (#resume)
    if (!this.#resuming) pauseStream(this.stream)
  }

  #resume (): void {
    if (!this.#paused) return
    this.#paused = false
    this.#resuming = true
    try {
      this.stream.resume() // dispatches what libp2p held, into #onMessage
    } catch {} finally {
      this.#resuming = false
    }
    if (this.#paused) pauseStream(this.stream) // what it held spent the budget again
  }

  readonly #onRemoteCloseWrite = (): void => {
    this.#remoteClosedWrite = true
  }

  /**
   * Nothing more will be read. After the sender closed its side gracefully, ending inside a frame
   * is a violation; a reset, an abort or a lost connection is not the sender breaking the format.
   */
  readonly #onEnd = (): void => {
    if (!this.#remoteClosedWrite || this.stream.status === 'reset' || this.stream.status === 'aborted') return
    if (this.#pending.length > 0) this.#ended = true // once what waits is processed
    else this.#end()
  }

  #end (): void {
    if (!this.#decoder.end()) {
      this.#invalid()
      return
    }
    const deadline = new AbortController()
    const timer = this.#clock.setTimeout(() => { deadline.abort(new Error(`closing took over ${CLOSE_MS} ms`)) }, CLOSE_MS)
    this.stream.close({ signal: deadline.signal }).then(() => { this.#clock.clearTimeout(timer) }, err => {
      this.#clock.clearTimeout(timer)
      this.stream.abort(err)
    })
  }

  #invalid (): void {
    if (this.inbound === DETACHED) return // closed by a handler while its frame was being decoded
    this.#detach() // abort() dispatches 'end' synchronously: the violation is reported once
    const err = this.#decoder.error!
    // reset first: what the owner does next (block the peer, closing its connection) must not
    // take the place of the stream's own reset
    this.stream.abort(err)
    this.#init.onInvalid(this, err)
  }

  #detach (): void {
    this.inbound = DETACHED
    this.#pending.length = 0
    this.#clock.clearTimeout(this.#throttle)
    this.#throttle = undefined
    this.#report.stop()
    this.#decoder.stop()
    this.stream.removeEventListener('message', this.#onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
    this.stream.removeEventListener('end', this.#onEnd)
  }
}

/** Stops the peer's window from being replenished; a stream already closing is left to its 'close' event. */
function pauseStream (stream: LinkStream): void {
  try {
    stream.pause()
  } catch {}
}
