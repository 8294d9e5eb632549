/**
 * What a Receiver tells the writer of a 1.1.0 stream, on the stream's other direction, in one
 * write: the reliable messages delivered (FRAME_ACK, per channel the highest), and the bytes
 * consumed so far (FRAME_FLOW), so that the writer may write more; the stream's first report is
 * led by our session (FRAME_HELLO_BACK), so an idle stream costs no write. Reports are
 * cumulative: while one waits for the stream to drain, the next waits for it, and a peer that
 * grants no window cannot make them pile up here.
 */
import { FRAME_ACK, FRAME_FLOW, FRAME_HELLO_BACK, varintLength } from '../wire/frames.ts'
import { encodeKindFrame, headerLength, writeFrameHeader } from '../wire/encoder.ts'
import type { Clock } from '../clock.ts'
import type { LinkStream } from './transport.ts'

/** While a stream works off a backlog, FLOW is reported once this many more bytes were consumed, or this many ms passed. */
const REPORT_BYTES = 16 * 1024
const REPORT_MS = 250

export class FlowReport {
  readonly #stream: LinkStream
  readonly #clock: Clock
  /** Reliable channels: the highest message delivered, by channel number, not yet acknowledged. */
  readonly #acks = new Map<number, number>()
  /** Bytes consumed, and the total last reported to the writer, and when. */
  #consumed = 0
  #reported = 0
  #reportedAt: number
  /** A report is written and the stream asked to wait ('drain'): the next one waits for it. */
  #draining = false
  /** Our session (FRAME_HELLO_BACK), not yet sent: it leads the first report (1.1.0 only). */
  #helloBack: Uint8Array | undefined
  /** The receiver is done with the stream: nothing more is reported. */
  #stopped = false

  /** `session`: ours, sent back in the first report; undefined on a 1.0.0 stream. */
  constructor (stream: LinkStream, clock: Clock, session: number | undefined) {
    this.#stream = stream
    this.#clock = clock
    this.#reportedAt = clock.now()
    if (session !== undefined) this.#helloBack = encodeKindFrame(FRAME_HELLO_BACK, session, -1)
  }

  /** `bytes` more were processed. */
  consumed (bytes: number): void {
    this.#consumed += bytes
  }

  /** Reliable messages of channel number `n` up to `seq` were delivered. */
  acknowledge (n: number, seq: number): void {
    this.#acks.set(n, seq)
  }

  /**
   * Whether a report is due at the end of a turn: at once when nothing waits any more (`backlog`
   * false); while a backlog is worked off, once REPORT_BYTES more were consumed or REPORT_MS
   * passed (a report per slice would send back a few bytes for every few the peer sends; none for
   * long would have an honest writer take the link for dead); and whenever there are acks.
   */
  due (backlog: boolean): boolean {
    return !backlog || this.#consumed - this.#reported >= REPORT_BYTES || this.#acks.size > 0 || this.#clock.now() - this.#reportedAt >= REPORT_MS
  }

  /** Writes the report (ACKs, FLOW, led by HELLO_BACK the first time), unless there is nothing new or one waits to drain. */
  send (): void {
    if (this.#stopped || this.#draining || (this.#consumed === this.#reported && this.#acks.size === 0)) return
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

  /** Nothing more is reported. */
  stop (): void {
    this.#stopped = true
    this.#stream.removeEventListener('drain', this.#onDrain)
  }

  /** Writes on the reverse direction; a closing stream is left to its 'close' event. */
  #sendBack (frame: Uint8Array): void {
    const stream = this.#stream
    if (stream.writeStatus !== 'writable') return
    let ok = true
    try {
      ok = stream.send(frame)
    } catch {}
    // a peer that grants no window must not make its reports pile up here: one waits at most
    if (!ok) {
      this.#draining = true
      stream.addEventListener('drain', this.#onDrain, { once: true })
    }
  }

  readonly #onDrain = (): void => {
    this.#draining = false
    this.send()
  }
}
