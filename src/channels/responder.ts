/**
 * The Responder serves requests from members with their channel's handler, and sends back what
 * it answers on that channel's lane to the requester: one FRAME_RESPONSE, or FRAME_PARTs (never
 * more than the requester's credit, itself never more than INITIAL_STREAM_CREDIT parts ahead) and
 * a FRAME_END; a failure as one FRAME_ERROR on the control lane. Each member may have at most
 * `maxConcurrentRequests` being served per channel; more wait their turn, in order, up to
 * `maxQueuedRequests` and QUEUED_REQUEST_BYTES (a burst of requests that arrive together is not
 * refused for arriving together), and one more is answered `busy` at once. So a member flooding
 * requests costs a bounded amount of memory, and the refusals this module writes carry no
 * message: an ERROR costs the requester's stream at least as many bytes as it costs ours.
 *
 * The handler's signal aborts when the requester cancels, when the stream the request came on
 * closes (the requester has failed it already), when the member leaves, or on stop; what the
 * handler returns after that is not sent.
 */
import { ERROR_BUSY, ERROR_DROPPED, ERROR_NO_HANDLER, ERROR_REMOTE, ERROR_TOO_LARGE, FRAME_CANCEL, FRAME_CREDIT, FRAME_END, FRAME_ERROR, FRAME_PART, FRAME_RESPONSE, INITIAL_STREAM_CREDIT, EMPTY } from '../wire/frames.ts'
import { CONTROL_LANE } from '../queue/lanes.ts'
import { Envelope, type Discard, type EnvelopeOwner } from '../queue/envelope.ts'
import { MAX_ERROR_MESSAGE_BYTES } from '../link/frame-reader.ts'
import { type Receiver } from '../link/receiver.ts'
import type { ChannelCore, RouterHost, Slots, WaitingRequest } from './types.ts'
import type { NodeId } from '../types.ts'

const encoder = new TextEncoder()

/**
 * Bytes of requests that may wait per member and channel (copied: a view would pin the chunk it
 * arrived in); one request larger than this may still wait alone.
 */
export const QUEUED_REQUEST_BYTES = 1024 * 1024

export class Responder {
  readonly #host: RouterHost
  /** Requests being served, by member and request id. */
  readonly #serving = new Map<NodeId, Map<number, Serving>>()

  constructor (host: RouterHost) {
    this.#host = host
  }

  /** Request `id` from `from` on `core`'s channel (undefined: a channel we have not opened). */
  request (from: NodeId, source: Receiver | undefined, core: ChannelCore | undefined, id: number, data: Uint8Array): void {
    if (core?.handler === undefined) {
      this.error(from, id, ERROR_NO_HANDLER)
      return
    }
    let byId = this.#serving.get(from)
    if (byId?.has(id) === true) {
      this.error(from, id, ERROR_REMOTE) // the id is in use: the requester broke the format's rule
      return
    }
    let slots = core.serving.get(from)
    if (slots === undefined) core.serving.set(from, slots = { running: 0, waiting: [], bytes: 0 })
    const { maxConcurrentRequests, maxQueuedRequests } = core.options
    const now = slots.running < maxConcurrentRequests
    if (!now && (slots.waiting.length >= maxQueuedRequests || (slots.waiting.length > 0 && slots.bytes + data.byteLength > QUEUED_REQUEST_BYTES))) {
      core.requests.rejectedBusy++
      this.error(from, id, ERROR_BUSY)
      return
    }
    if (byId === undefined) this.#serving.set(from, byId = new Map())
    const s = new Serving(this, from, source, core, id, slots)
    byId.set(id, s)
    if (now) {
      slots.running++
      void s.run(data)
    } else {
      s.data = data.slice()
      slots.waiting.push(s)
      slots.bytes += data.byteLength
    }
  }

  /** FRAME_CANCEL or FRAME_CREDIT from the requester. */
  control (from: NodeId, kind: number, id: number, n: number): void {
    const s = this.#serving.get(from)?.get(id)
    if (s === undefined) return // already answered: nothing to stop
    if (kind === FRAME_CANCEL) s.abort()
    else if (kind === FRAME_CREDIT) s.grant(n)
  }

  sourceClosed (source: Receiver): void {
    for (const byId of this.#serving.values()) for (const s of byId.values()) if (s.source === source) s.abort()
  }

  left (node: NodeId): void {
    for (const s of this.#serving.get(node)?.values() ?? []) s.abort()
  }

  stop (): void {
    for (const byId of this.#serving.values()) for (const s of byId.values()) s.abort()
  }

  /** Queues `kind` (with error code `n`, or -1) for request `id` of `to` on `core`'s lane; false if `to` is no longer a member. */
  send (to: NodeId, core: ChannelCore, kind: number, id: number, data: Uint8Array, owner: EnvelopeOwner, n = -1): boolean {
    const out = this.#host.outbox(to)
    if (out === undefined) return false
    out.lanes.open(core.spec).push(new Envelope(kind, data, id, n, undefined, Infinity, owner))
    out.schedule()
    return true
  }

  /**
   * Answers request `id` of `to` with an error and no message, on the control lane: before it is
   * served (busy, no-handler, an id in use), or when its answer was dropped. The requester knows
   * what the code means.
   */
  error (to: NodeId, id: number, code: number): void {
    const out = this.#host.outbox(to)
    if (out === undefined) return
    out.lanes.open(CONTROL_LANE).push(new Envelope(FRAME_ERROR, EMPTY, id, code, undefined, Infinity, undefined))
    out.schedule()
  }

  /** `s` is over (answered, failed or given up, served or still waiting): the next waiting request of its member on its channel starts. */
  done (s: Serving): void {
    const byId = this.#serving.get(s.from)
    if (byId?.get(s.id) !== s) return
    byId.delete(s.id)
    if (byId.size === 0) this.#serving.delete(s.from)
    const slots = s.slots
    if (s.data === undefined) {
      slots.running--
    } else {
      slots.waiting.splice(slots.waiting.indexOf(s), 1)
      slots.bytes -= s.data.byteLength
    }
    while (slots.running < s.core.options.maxConcurrentRequests && slots.waiting.length > 0) {
      const next = slots.waiting.shift()!
      const data = next.data!
      next.data = undefined
      slots.bytes -= data.byteLength
      slots.running++
      void next.run(data)
    }
    if (slots.running === 0 && slots.waiting.length === 0 && s.core.serving.get(s.from) === slots) s.core.serving.delete(s.from)
  }
}

/** One request being served, or waiting its turn. */
class Serving implements EnvelopeOwner, WaitingRequest {
  readonly responder: Responder
  readonly from: NodeId
  readonly source: Receiver | undefined
  readonly core: ChannelCore
  readonly id: number
  readonly slots: Slots
  /** The request, while it waits its turn (a copy). */
  data: Uint8Array | undefined
  readonly #controller = new AbortController()
  /** Set at once by `abort()`; the signal follows on a microtask. */
  #cancelled = false
  /** Parts the requester will still take. */
  #credit = INITIAL_STREAM_CREDIT
  #onCredit: (() => void) | undefined

  constructor (responder: Responder, from: NodeId, source: Receiver | undefined, core: ChannelCore, id: number, slots: Slots) {
    this.responder = responder
    this.from = from
    this.source = source
    this.core = core
    this.id = id
    this.slots = slots
  }

  async run (data: Uint8Array): Promise<void> {
    try {
      const answer = await this.core.handler!(data, { from: this.from, signal: this.#controller.signal })
      if (this.#cancelled) return
      if (answer instanceof Uint8Array) {
        if (this.#fits(answer) && this.#send(FRAME_RESPONSE, answer)) this.core.requests.served++
      } else if (answer != null && typeof (answer as any)[Symbol.asyncIterator] === 'function') {
        await this.#stream(answer)
      } else {
        this.#error(ERROR_REMOTE, 'the handler returned neither a Uint8Array nor an AsyncIterable')
      }
    } catch (err: any) {
      if (!this.#cancelled) this.#error(ERROR_REMOTE, String(err?.message ?? err))
    } finally {
      this.responder.done(this)
      this.abort() // a handler's signal never outlives its request
    }
  }

  async #stream (answer: AsyncIterable<Uint8Array>): Promise<void> {
    const it = answer[Symbol.asyncIterator]()
    let finished = false
    try {
      for (;;) {
        if (this.#credit === 0) await new Promise<void>(resolve => { this.#onCredit = resolve })
        if (this.#cancelled) return
        const r = await it.next()
        if (this.#cancelled) return
        if (r.done === true) break
        const part = r.value
        if (!(part instanceof Uint8Array)) {
          this.#error(ERROR_REMOTE, 'the handler yielded something other than a Uint8Array')
          return
        }
        if (!this.#fits(part)) return
        this.#credit--
        if (!this.#send(FRAME_PART, part)) return
      }
      finished = true
      if (this.#send(FRAME_END, EMPTY)) this.core.requests.served++
    } finally {
      // let the generator clean up; never wait on it
      if (!finished) it.return?.()?.catch(() => {})
    }
  }

  /**
   * The requester took `n` more parts. It never has more than INITIAL_STREAM_CREDIT parts
   * outstanding (it grants what its caller consumed): more is capped, so that whatever a peer
   * grants, an answer holds at most that many parts here.
   */
  grant (n: number): void {
    this.#credit = Math.min(this.#credit + n, INITIAL_STREAM_CREDIT)
    this.#wake()
  }

  /**
   * Stops serving: nothing more is sent (a request still waiting its turn is forgotten). The
   * handler's signal aborts on the next microtask, so its listeners (user code) never run inside
   * a membership update or a stream's close.
   */
  abort (): void {
    if (this.#cancelled) return
    this.#cancelled = true
    if (this.data !== undefined) {
      this.responder.done(this)
      return
    }
    this.#wake()
    queueMicrotask(() => { this.#controller.abort(new Error('request cancelled')) })
  }

  /** One of our answer frames left the lane unwritten. */
  discarded (_e: Envelope, why: Discard): void {
    // dropped from a full lane: tell the requester at once rather than let it time out
    if (why === 'dropped') this.responder.error(this.from, this.id, ERROR_DROPPED)
    this.abort()
  }

  #wake (): void {
    const wake = this.#onCredit
    this.#onCredit = undefined
    wake?.()
  }

  #fits (data: Uint8Array): boolean {
    const max = this.core.options.maxResponseSize
    if (data.byteLength <= max) return true
    this.#error(ERROR_TOO_LARGE, `answer of ${data.byteLength} bytes exceeds maxResponseSize of ${max} bytes`)
    return false
  }

  #send (kind: number, data: Uint8Array): boolean {
    if (this.responder.send(this.from, this.core, kind, this.id, data, this)) return true
    this.abort()
    return false
  }

  /**
   * The handler failed: on the channel's lane, like its answers, so the error never overtakes
   * parts of a stream still queued there (the control lane goes first).
   */
  #error (code: number, message: string): void {
    this.responder.send(this.from, this.core, FRAME_ERROR, this.id, cut(message), this, code)
  }
}

/** UTF-8 of `message`, cut to MAX_ERROR_MESSAGE_BYTES on a character boundary. */
function cut (message: string): Uint8Array {
  const bytes = encoder.encode(message)
  if (bytes.byteLength <= MAX_ERROR_MESSAGE_BYTES) return bytes
  let end = MAX_ERROR_MESSAGE_BYTES
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}
