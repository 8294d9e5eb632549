/**
 * A Receiver reads one inbound stream and hands each frame to its `inbound`, in order,
 * synchronously as the bytes arrive: no queue of its own, no promise per message. Who the
 * sender is comes from the connection's Noise-authenticated peer ID, fixed when the stream is
 * accepted; the owner decides what `inbound` does (deliver from a member, or hold while the peer
 * is tentative) and may swap it between two frames, which is how a tentative peer is promoted
 * without reordering.
 *
 * On a 1.1.0 stream the Receiver keeps the stream's channel bindings (number -> name, at most
 * MAX_BINDINGS) and checks every frame's body; a stream that breaks the wire format is reset and
 * reported once through `onInvalid`.
 *
 * A stream is processed in slices: at most TURN_BUDGET worth of frames per turn of the event loop
 * (framing.ts `budget`), then it yields, so that one peer flooding valid frames cannot stall the
 * others. What waits its turn is kept here and the stream is paused meanwhile: libp2p stops
 * granting the peer window and holds what is already on its way (at most its read buffer, which
 * the owner sets; libp2p resets a stream whose peer overflows it). The consumed bytes reported
 * back (FLOW) are those processed, so an honest writer slows down to what this node takes; a
 * receive rate, if the owner sets one, keeps the stream paused while it is in debt. Once the
 * stream closes nothing more is decoded.
 */
import {
  bodyOf, EMPTY, encodeKindFrame, FrameDecoder, headerLength, FRAME_CHANNEL, FRAME_ACK, FRAME_BIND, FRAME_FLOW, FRAME_HELLO, FRAME_HELLO_BACK, FRAME_PING, FRAME_RELIABLE, varintLength, writeFrameHeader, FRAME_CANCEL, FRAME_CREDIT, FRAME_END, FRAME_ERROR, FRAME_MESSAGE, FRAME_PART,
  FRAME_REQUEST, FRAME_RESPONSE, MAX_ERROR_CODE, MAX_KIND_1_0, MAX_KIND_1_1, readVarint, varintEnd
} from '../wire/framing.ts'
import { InvalidFrameError } from '../errors.ts'
import type { ReceiveRate } from './receive-rate.ts'
import type { Clock, Timer } from '../clock.ts'
import type { LinkStream, LinkStreamEvents } from './transport.ts'

/** What a Receiver hands its frames to. */
export interface Inbound {
  /** A message of the default channel. */
  message: (data: Uint8Array) => void
  /** A message of the channel named `name`. */
  channel: (name: string, data: Uint8Array) => void
  /** Message `seq` of the reliable channel named `name`, in the writer's session. */
  reliable: (name: string, seq: number, data: Uint8Array) => void
  /** The writer's session: a new one means the writer restarted. */
  hello: (session: number) => void
  request: (name: string, id: number, data: Uint8Array) => void
  /** FRAME_RESPONSE, FRAME_PART, FRAME_END or FRAME_ERROR (code in `n`) for our request `id`. */
  reply: (kind: number, id: number, n: number, data: Uint8Array) => void
  /** FRAME_CANCEL, or FRAME_CREDIT of `n` parts, for the peer's request `id`. */
  control: (kind: number, id: number, n: number) => void
}

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

/** Longest channel name, in bytes of UTF-8. */
export const MAX_CHANNEL_NAME_BYTES = 64
/** Channel numbers one stream may bind; one BIND more resets it ('too-many-channels'). */
export const MAX_BINDINGS = 256
/**
 * What one stream may process per turn of the event loop (framing.ts `budget`: 1 per frame, plus
 * 1 per KiB): 1,024 small frames, or about 1 MiB of large ones; a frame is never split.
 */
export const TURN_BUDGET = 1024
/**
 * What a REQUEST costs beyond its frame, so that a turn's budget is about the same CPU whatever
 * the frames: it starts a handler and queues an answer, 2.2-2.4 µs for a 32 B request answered
 * at once against 45-53 ns for a 32 B message of a named channel, 43-50 times (five runs of
 * `node benchmarks/receive-path.ts`). A turn holds 22 small requests.
 */
export const REQUEST_COST = 44
/** While a stream works off a backlog, FLOW is reported once this many more bytes were consumed, or this many ms passed. */
const REPORT_BYTES = 16 * 1024
const REPORT_MS = 250
/** Closing our side of a stream the writer ended waits at most this long for the last report to go (a peer granting no window). */
const CLOSE_MS = 5_000
/** A stream whose receive rate is in debt waits at least this many ms (then takes what that time paid for, at once). */
const THROTTLE_MS = 10
/** Longest error message carried by FRAME_ERROR, in bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 1024

const utf8 = new TextDecoder('utf-8', { fatal: true })

export class Receiver {
  readonly peer: string
  readonly stream: LinkStream
  inbound: Inbound
  readonly #decoder: FrameDecoder
  readonly #init: ReceiverInit
  readonly #clock: Clock
  /** Channel numbers bound on this stream, and the other way round. */
  readonly #names = new Map<number, string>()
  readonly #numbers = new Map<string, number>()
  /** Reliable channels: the highest message delivered, by channel number, not yet acknowledged. */
  readonly #acks = new Map<number, number>()
  /** 1.1.0: bytes consumed, and the total last reported to the writer (FRAME_FLOW), and when. */
  #consumed = 0
  #reported = 0
  #reportedAt: number
  /** A report is written and the stream asked to wait ('drain'): the next one waits for it (reports are cumulative). */
  #reportDraining = false
  /** A turn is under way: `#tick` runs at its end (setImmediate), refills the budget and reports. */
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
  /** 1.1.0: our session (FRAME_HELLO_BACK), not yet sent; it leads the first report, so an idle stream costs no write. */
  #helloBack: Uint8Array | undefined

  constructor (stream: LinkStream, init: ReceiverInit) {
    this.stream = stream
    this.peer = init.peer
    this.inbound = init.inbound
    this.#init = init
    this.#clock = init.clock
    this.#reportedAt = init.clock.now()
    this.#decoder = new FrameDecoder(init.maxMessageSize, this.#onFrame, init.channels ? MAX_KIND_1_1 : MAX_KIND_1_0)
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
    if (init.channels) this.#helloBack = encodeKindFrame(FRAME_HELLO_BACK, init.session, -1)
  }

  /** Reliable messages of channel `name` up to `seq` were delivered: tell the writer (FRAME_ACK). */
  acknowledge (name: string, seq: number): void {
    const n = this.#numbers.get(name)
    if (n === undefined) return
    this.#acks.set(n, seq)
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

  /** The writer's session from its HELLO (at most one per stream), or -1 before it. */
  session = -1

  /**
   * One frame: `kind`, body `buf[start, end)`; one view is made, of the payload. Returns false
   * (from the decoder's `fail`) when the body breaks the format.
   */
  readonly #onFrame = (kind: number, buf: Uint8Array, start: number, end: number): false | undefined => {
    const decoder = this.#decoder
    if (kind === FRAME_MESSAGE) {
      // a 1.1.0 decoder lets frames exceed maxMessageSize by their fields: a message has none
      if (end - start > decoder.maxMessageSize) return decoder.fail('too-large')
      this.inbound.message(bodyOf(buf, start, end))
      return
    }
    if (kind === FRAME_CHANNEL) {
      // the other hot kind, kept apart from the rest so that this function stays small
      const channel = readVarint(buf, start, end)
      if (channel < 0) return decoder.fail('malformed-body')
      const name = this.#names.get(channel)
      if (name === undefined) return decoder.fail('unbound-channel')
      const at = varintEnd
      if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
      this.inbound.channel(name, bodyOf(buf, at, end))
      return
    }
    return this.#onOther(kind, buf, start, end)
  }

  /** Every kind but MESSAGE and CHANNEL. */
  #onOther (kind: number, buf: Uint8Array, start: number, end: number): false | undefined {
    const decoder = this.#decoder
    if (kind === FRAME_PING) {
      if (end !== start) decoder.fail('malformed-body')
      return
    }
    const a = readVarint(buf, start, end)
    if (a < 0) return decoder.fail('malformed-body')
    let at = varintEnd
    switch (kind) {
      case FRAME_REQUEST:
      case FRAME_RELIABLE: {
        const name = this.#names.get(a)
        if (name === undefined) return decoder.fail('unbound-channel')
        if (kind === FRAME_RELIABLE) {
          const seq = readVarint(buf, at, end)
          if (seq < 1 || this.session < 0) return decoder.fail('malformed-body')
          at = varintEnd
          if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
          this.inbound.reliable(name, seq, bodyOf(buf, at, end))
          return
        }
        const id = readVarint(buf, at, end)
        if (id < 1) return decoder.fail('malformed-body')
        at = varintEnd
        if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
        decoder.budget -= REQUEST_COST
        this.inbound.request(name, id, bodyOf(buf, at, end))
        return
      }
      case FRAME_BIND: {
        const bytes = end - at
        if (a < 1 || bytes < 1 || bytes > MAX_CHANNEL_NAME_BYTES || this.#names.has(a)) return decoder.fail('malformed-body')
        if (this.#names.size >= MAX_BINDINGS) return decoder.fail('too-many-channels')
        let name: string
        try {
          name = utf8.decode(buf.subarray(at, end))
        } catch {
          return decoder.fail('malformed-body')
        }
        this.#names.set(a, name)
        this.#numbers.set(name, a)
        return
      }
      case FRAME_HELLO:
        if (this.session >= 0 || at !== end) return decoder.fail('malformed-body')
        this.session = a
        this.inbound.hello(a)
        return
      case FRAME_RESPONSE:
      case FRAME_PART:
        if (a < 1) return decoder.fail('malformed-body')
        if (end - at > decoder.maxMessageSize) return decoder.fail('too-large')
        this.inbound.reply(kind, a, -1, bodyOf(buf, at, end))
        return
      case FRAME_END:
      case FRAME_CANCEL:
        if (a < 1 || at !== end) return decoder.fail('malformed-body')
        if (kind === FRAME_END) this.inbound.reply(kind, a, -1, EMPTY)
        else this.inbound.control(kind, a, -1)
        return
      case FRAME_ERROR: {
        const code = at < end ? buf[at] : 0
        if (a < 1 || code < 1 || code > MAX_ERROR_CODE || end - at - 1 > MAX_ERROR_MESSAGE_BYTES) return decoder.fail('malformed-body')
        this.inbound.reply(kind, a, code, bodyOf(buf, at + 1, end))
        return
      }
      case FRAME_CREDIT: {
        const n = readVarint(buf, at, end)
        if (a < 1 || n < 1 || varintEnd !== end) return decoder.fail('malformed-body')
        this.inbound.control(kind, a, n)
      }
    }
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
    this.#consumed += bytes
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
   * The end of a turn: what waited goes on (`#continue`), then the report (1.1.0): at once when
   * nothing waits any more; while a backlog is worked off, once REPORT_BYTES more were consumed
   * or REPORT_MS passed (a report per slice would send back a few bytes for every few the peer
   * sends; none for long would have an honest writer take the link for dead).
   */
  readonly #tick = (): void => {
    this.#turn = false
    this.#continue()
    if (!this.#init.channels || this.inbound === DETACHED) return
    if (this.#pending.length === 0 || this.#consumed - this.#reported >= REPORT_BYTES || this.#acks.size > 0 || this.#clock.now() - this.#reportedAt >= REPORT_MS) this.#report()
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

  /**
   * Tells the writer what was delivered on reliable channels (FRAME_ACK) and how much was
   * consumed, so it may write more (FRAME_FLOW), in one write, led by our session
   * (FRAME_HELLO_BACK) in the stream's first report.
   */
  #report (): void {
    if (this.inbound === DETACHED || this.#reportDraining || (this.#consumed === this.#reported && this.#acks.size === 0)) return
    const helloBack = this.#helloBack
    let bytes = helloBack?.byteLength ?? 0
    for (const [n, seq] of this.#acks) bytes += headerLength(0, varintLength(n) + varintLength(seq))
    const flow = this.#consumed !== this.#reported
    if (flow) bytes += headerLength(0, varintLength(this.#consumed))
    const buf = new Uint8Array(bytes)
    let offset = 0
    if (helloBack !== undefined) {
      buf.set(helloBack)
      offset = helloBack.byteLength
      this.#helloBack = undefined
    }
    for (const [n, seq] of this.#acks) offset = writeFrameHeader(buf, offset, FRAME_ACK, n, seq, varintLength(n) + varintLength(seq), 0)
    if (flow) offset = writeFrameHeader(buf, offset, FRAME_FLOW, this.#consumed, -1, varintLength(this.#consumed), 0)
    this.#acks.clear()
    this.#reported = this.#consumed
    this.#reportedAt = this.#clock.now()
    this.#sendBack(buf) // sized exactly above
  }

  /** Writes on the reverse direction; a closing stream is left to its 'close' event. */
  #sendBack (frame: Uint8Array): void {
    if (this.stream.writeStatus !== 'writable') return
    let ok = true
    try {
      ok = this.stream.send(frame)
    } catch {}
    // a peer that grants no window must not make its reports pile up here: one waits at most
    if (!ok) {
      this.#reportDraining = true
      this.stream.addEventListener('drain', this.#onDrain, { once: true })
    }
  }

  readonly #onDrain = (): void => {
    this.#reportDraining = false
    this.#report()
  }

  #remoteClosedWrite = false

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
    this.stream.removeEventListener('drain', this.#onDrain)
    this.#decoder.stop()
    this.stream.removeEventListener('message', this.#onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.#onRemoteCloseWrite)
    this.stream.removeEventListener('end', this.#onEnd)
  }
}

function noop (): void {}

/** Stops the peer's window from being replenished; a stream already closing is left to its 'close' event. */
function pauseStream (stream: LinkStream): void {
  try {
    stream.pause()
  } catch {}
}

/** Where a closed Receiver's frames go: nowhere. */
export const DETACHED: Inbound = { message: noop, channel: noop, reliable: noop, hello: noop, request: noop, reply: noop, control: noop }
