/**
 * Our requests in flight, by id. Ids are unique among this node's requests (1, 2, ...), and an
 * answer names the id it answers (in-reply-to), so it reaches only its own request, whatever the
 * order, the channel or the number in flight; an answer from any other member than the one asked,
 * or for a request no longer waiting, is dropped and counted (`late`).
 *
 * A request is queued in the member's lane like any message: dropped there, it fails `dropped` at
 * once; written to a stream that then dies, `connection-lost` at once. A timeout or an abort
 * takes a queued request back, or cancels a written one at the responder (FRAME_CANCEL).
 *
 * A streamed answer is flow-controlled by credit: the responder may send INITIAL_STREAM_CREDIT
 * parts ahead, and the requester grants more as the caller consumes them, so neither side holds
 * more than that many parts of one stream. The timeout is the time allowed between parts; it
 * does not run while the responder has no credit (the caller is not iterating).
 */
import { NotStartedError, RequestError, type RequestErrorCode } from '../errors.ts'
import { ERROR_BUSY, ERROR_DROPPED, ERROR_NO_HANDLER, ERROR_REMOTE, ERROR_TOO_LARGE, FRAME_CANCEL, FRAME_CREDIT, FRAME_END, FRAME_ERROR, FRAME_PART, FRAME_REQUEST, FRAME_RESPONSE, INITIAL_STREAM_CREDIT, EMPTY } from '../wire/frames.ts'
import { CONTROL_LANE } from '../queue/lanes.ts'
import { Envelope, type Discard, type EnvelopeOwner } from '../queue/envelope.ts'
import { type Lane } from '../queue/lane.ts'
import { checkBytes, checkNodeId, checkOptions, checkSignal, timerMs } from '../validate.ts'
import type { ChannelCore, RequestOptions, RouterHost } from './types.ts'
import type { NodeId } from '../types.ts'
import type { Clock, Timer } from '../clock.ts'

const utf8 = new TextDecoder()

const CODES: Record<number, RequestErrorCode> = {
  [ERROR_BUSY]: 'busy',
  [ERROR_NO_HANDLER]: 'no-handler',
  [ERROR_REMOTE]: 'remote-error',
  [ERROR_TOO_LARGE]: 'too-large',
  [ERROR_DROPPED]: 'dropped'
}

/** What a code means when the responder said no more (its own refusals carry no message). */
const MEANINGS: Record<number, string> = {
  [ERROR_BUSY]: 'the member serves maxConcurrentRequests of ours on this channel and maxQueuedRequests wait',
  [ERROR_NO_HANDLER]: 'the member has not opened this channel or has no handler on it',
  [ERROR_REMOTE]: 'the member\'s handler failed',
  [ERROR_TOO_LARGE]: 'the request or its answer is too large for the member',
  [ERROR_DROPPED]: 'the answer was dropped from the member\'s full queue'
}

const DISCARDS: Record<Discard, RequestErrorCode> = {
  dropped: 'dropped',
  expired: 'dropped',
  lost: 'connection-lost',
  closed: 'unknown-member',
  unsupported: 'no-handler'
}

export class RequestTable {
  /** Answers dropped: for a request no longer waiting (timed out, aborted, failed), or from a member other than the one asked. */
  late = 0
  /** Told of each request that succeeded: its channel and ms from the call to the answer (the end, for a stream). */
  onSucceeded: ((channel: string, ms: number) => void) | undefined
  readonly #host: RouterHost
  readonly #pending = new Map<number, Pending>()
  /**
   * From a random start, not 1: after this process restarts, an answer still queued for its
   * predecessor's request must not match a new request with the same id.
   */
  #nextId: number
  readonly clock: Clock

  constructor (host: RouterHost) {
    this.#host = host
    this.clock = host.clock
    this.#nextId = 1 + Math.floor(host.random() * 2 ** 40)
  }

  async request (core: ChannelCore, to: NodeId, data: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    checkRequest(to, data, options)
    const p = new Single(this, core, to, options)
    this.#start(p, data, options)
    return p.promise
  }

  requestStream (core: ChannelCore, to: NodeId, data: Uint8Array, options: RequestOptions = {}): AsyncIterable<Uint8Array> {
    checkRequest(to, data, options)
    const p = new Parts(this, core, to, options)
    try {
      this.#start(p, data, options)
    } catch (err) {
      p.error = err
    }
    return p
  }

  #start (p: Pending, data: Uint8Array, options: RequestOptions): void {
    this.#host.assertStarted()
    options.signal?.throwIfAborted()
    checkBytes('data', data)
    if (data.byteLength > this.#host.maxMessageSize) throw new RequestError('too-large', `request of ${data.byteLength} bytes exceeds maxMessageSize of ${this.#host.maxMessageSize} bytes`)
    const out = this.#host.outbox(p.node)
    if (out === undefined) throw new RequestError('unknown-member', `node "${p.node}" is not a member`)
    const core = p.core
    if (core.pending >= core.options.maxPendingRequests) throw new RequestError('busy', `${core.pending} requests already in flight on channel "${core.spec.name}" (maxPendingRequests)`)
    const id = this.#nextId++
    p.id = id
    this.#pending.set(id, p)
    core.pending++
    p.envelope = new Envelope(FRAME_REQUEST, data, id, -1, undefined, Infinity, p)
    p.lane = out.lanes.open(core.spec)
    p.armTimer()
    p.listen()
    p.lane.push(p.envelope)
    out.schedule()
  }

  /** An answer frame from member `from`. */
  reply (from: NodeId, kind: number, id: number, n: number, data: Uint8Array): void {
    const p = this.#pending.get(id)
    if (p === undefined || p.node !== from) {
      this.late++
      return
    }
    if (kind === FRAME_ERROR) p.fail(CODES[n] ?? 'remote-error', data.byteLength === 0 ? MEANINGS[n] : utf8.decode(data), false)
    else p.answer(kind, data)
  }

  /** Member `node`'s outgoing stream closed: what was written to it will not be answered. */
  lost (node: NodeId): void {
    for (const p of this.#pending.values()) if (p.node === node && p.onStream) p.fail('connection-lost', `the stream to "${node}" closed`, false)
  }

  /** Member `node` left. */
  left (node: NodeId): void {
    for (const p of this.#pending.values()) if (p.node === node) p.fail('unknown-member', `node "${node}" left the membership`, false)
  }

  stop (): void {
    for (const p of this.#pending.values()) if (p.finish(false)) p.settle(new NotStartedError())
  }

  /** Forgets `p`. */
  remove (p: Pending): void {
    if (this.#pending.get(p.id) === p) {
      this.#pending.delete(p.id)
      p.core.pending--
    }
  }

  /** Queues a control frame (cancel, credit) for request `p` to its member. */
  control (p: Pending, kind: number, n: number): void {
    const out = this.#host.outbox(p.node)
    if (out === undefined) return
    out.lanes.open(CONTROL_LANE).push(new Envelope(kind, EMPTY, p.id, n, undefined, Infinity, undefined))
    out.schedule()
  }
}

/** The arguments of `request` / `requestStream`, checked before anything starts. */
function checkRequest (to: NodeId, data: Uint8Array, options: RequestOptions): void {
  checkNodeId('to', to)
  checkBytes('data', data)
  checkOptions('request', options)
  if (options.timeout !== undefined) timerMs('timeout', options.timeout)
  checkSignal(options.signal)
}

/** One request in flight: its place in the lane, its timer and abort signal. */
abstract class Pending implements EnvelopeOwner {
  readonly table: RequestTable
  readonly core: ChannelCore
  readonly node: NodeId
  id = 0
  envelope!: Envelope
  lane!: Lane
  /** Handed to the stream: an answer may come, and a give-up must be sent as a cancel. */
  onStream = false
  done = false
  readonly startedAt: number
  readonly #timeout: number
  readonly #signal: AbortSignal | undefined
  #timer: Timer | undefined

  constructor (table: RequestTable, core: ChannelCore, node: NodeId, options: RequestOptions) {
    this.table = table
    this.startedAt = table.clock.now()
    this.core = core
    this.node = node
    this.#timeout = options.timeout ?? core.options.requestTimeout
    this.#signal = options.signal
  }

  listen (): void {
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  armTimer (): void {
    this.table.clock.clearTimeout(this.#timer)
    this.#timer = this.table.clock.setTimeout(this.#onTimeout, this.#timeout)
  }

  disarmTimer (): void {
    this.table.clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }

  written (): void {
    this.onStream = true
    this.core.requests.sent++
  }

  discarded (_e: Envelope, why: Discard): void {
    this.fail(DISCARDS[why], `the request was not written: ${why}`, false)
  }

  /** An answer frame (not an error) arrived. */
  abstract answer (kind: number, data: Uint8Array): void

  /** Delivers the outcome to the caller. */
  abstract settle (err: unknown, value?: Uint8Array): void

  /** Ends the request; true if it was still waiting. `giveUp`: tell the responder (cancel) or take it back from the lane. */
  finish (giveUp: boolean): boolean {
    if (this.done) return false
    this.done = true
    this.disarmTimer()
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.table.remove(this)
    if (giveUp) {
      if (this.onStream) this.table.control(this, FRAME_CANCEL, -1)
      else this.lane.cancel(this.envelope)
    }
    return true
  }

  fail (code: RequestErrorCode, message: string, giveUp: boolean): void {
    if (!this.finish(giveUp)) return
    if (code === 'timeout') this.core.requests.timedOut++
    else this.core.requests.failed++
    this.settle(new RequestError(code, message))
  }

  succeed (value?: Uint8Array): void {
    if (!this.finish(false)) return
    this.core.requests.succeeded++
    this.table.onSucceeded?.(this.core.spec.name, this.table.clock.now() - this.startedAt)
    this.settle(undefined, value)
  }

  /** The caller gave up. */
  abort (reason: unknown): void {
    if (!this.finish(true)) return
    this.core.requests.aborted++
    this.settle(reason)
  }

  readonly #onTimeout = (): void => {
    this.fail('timeout', `no answer from "${this.node}" within ${this.#timeout} ms`, true)
  }

  readonly #onAbort = (): void => {
    this.abort(this.#signal!.reason)
  }

  tooLarge (data: Uint8Array): boolean {
    if (data.byteLength <= this.core.options.maxResponseSize) return false
    this.fail('too-large', `answer of ${data.byteLength} bytes exceeds maxResponseSize of ${this.core.options.maxResponseSize} bytes`, true)
    return true
  }
}

/** `request()`: one answer. */
class Single extends Pending {
  readonly promise: Promise<Uint8Array>
  #resolve!: (value: Uint8Array) => void
  #reject!: (err: unknown) => void

  constructor (table: RequestTable, core: ChannelCore, node: NodeId, options: RequestOptions) {
    super(table, core, node, options)
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  answer (kind: number, data: Uint8Array): void {
    if (kind !== FRAME_RESPONSE) {
      this.fail('remote-error', 'the answer is a stream: use requestStream()', kind === FRAME_PART)
      return
    }
    if (!this.tooLarge(data)) this.succeed(data)
  }

  settle (err: unknown, value?: Uint8Array): void {
    if (err === undefined) this.#resolve(value!)
    else this.#reject(err)
  }
}

/** `requestStream()`: parts until the end, with credit. */
class Parts extends Pending implements AsyncIterableIterator<Uint8Array> {
  error: unknown
  readonly #parts: Uint8Array[] = []
  #ended = false
  #waiter: { resolve: (r: IteratorResult<Uint8Array>) => void, reject: (err: unknown) => void } | undefined
  /** Parts the responder may send, in total, and parts received. */
  #granted = INITIAL_STREAM_CREDIT
  #received = 0
  /** Parts consumed since the last grant. */
  #consumed = 0

  answer (kind: number, data: Uint8Array): void {
    if (kind === FRAME_END) {
      this.succeed()
      return
    }
    if (this.tooLarge(data)) return
    if (kind === FRAME_PART && ++this.#received > this.#granted) {
      this.fail('remote-error', 'the responder sent more parts than granted', true)
      return
    }
    this.#push(data)
    if (kind === FRAME_RESPONSE) this.succeed()
    else if (this.#received < this.#granted) this.armTimer()
    else this.disarmTimer() // the responder must wait for credit: the caller is not iterating
  }

  settle (err: unknown): void {
    if (err !== undefined) this.error = err
    else this.#ended = true
    const w = this.#waiter
    if (w === undefined) return
    this.#waiter = undefined
    if (err !== undefined) {
      this.error = undefined
      w.reject(err)
    } else {
      w.resolve({ done: true, value: undefined })
    }
  }

  #push (part: Uint8Array): void {
    const w = this.#waiter
    if (w !== undefined) {
      this.#waiter = undefined
      this.#took()
      w.resolve({ done: false, value: part })
    } else {
      this.#parts.push(part)
    }
  }

  /** The caller took a part: grant more once half the initial credit is used. */
  #took (): void {
    if (this.done || ++this.#consumed < INITIAL_STREAM_CREDIT / 2) return
    this.table.control(this, FRAME_CREDIT, this.#consumed)
    this.#granted += this.#consumed
    this.#consumed = 0
    this.armTimer()
  }

  async next (): Promise<IteratorResult<Uint8Array>> {
    const part = this.#parts.shift()
    if (part !== undefined) {
      this.#took()
      return { done: false, value: part }
    }
    if (this.error !== undefined) {
      const err = this.error
      this.error = undefined
      this.#ended = true
      throw err
    }
    if (this.#ended || this.done) return { done: true, value: undefined }
    if (this.#waiter !== undefined) throw new Error('requestStream: one next() at a time')
    return new Promise((resolve, reject) => { this.#waiter = { resolve, reject } })
  }

  [Symbol.asyncIterator] (): AsyncIterableIterator<Uint8Array> {
    return this
  }

  /** The caller stopped iterating: cancel at the responder. */
  async return (): Promise<IteratorResult<Uint8Array>> {
    this.abort(undefined)
    this.#ended = true
    this.#parts.length = 0
    return { done: true, value: undefined }
  }
}
