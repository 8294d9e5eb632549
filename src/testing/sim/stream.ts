/**
 * One end of a simulated stream: a `LinkStream` with the libp2p v3 semantics the core relies on,
 * over a simulated connection (connection.ts) that carries its frames through the link.
 *
 * - `send` hands the bytes to the connection at once (by reference: do not modify a buffer after
 *   sending it) and returns false while the connection's send buffer is full (bytes sent but not
 *   yet delivered, see link.ts); later sends return false too until 'drain'.
 * - Bytes arrive as 'message' events, one per chunk sent (a chunk larger than a yamux frame as
 *   one per frame, see connection.ts), in order. A paused stream, or one with no 'message'
 *   listener yet, holds them; `resume` (or adding a listener, in a microtask) hands
 *   over everything held as one event (a Uint8ArrayList when several chunks were held), as
 *   libp2p does. More than `maxReadBufferLength` held: the stream is aborted with an error named
 *   'StreamBufferError', and the writer sees it reset.
 * - `close()` half-closes: once a pending 'drain' came, a FIN follows the bytes sent; the remote
 *   sees 'remoteCloseWrite' (then 'end' once it has read everything). `close()` resolves when the
 *   FIN is sent, not when it arrives; the stream's 'close' (status 'closed') comes once both
 *   sides have closed their writing side.
 * - `abort(err)`: status 'aborted', 'end', a RST to the remote (what the stream sent that has not
 *   started transmission is discarded, as libp2p drops its unsent buffer), then 'close' with `err`
 *   and `local: true`. The remote, when the RST arrives: status 'reset', what it held is dropped,
 *   and so is what it sent that has not started transmission, 'end', then 'close' with an error
 *   named 'StreamResetError' and `local: false`. A connection reset (cut, crash, the remote
 *   aborting the connection) ends its streams the same way.
 * - `status` 'open' -> 'closed' | 'aborted' | 'reset'; `writeStatus` 'writable' -> 'closing'
 *   (waiting for drain in `close`) -> 'closed'; `readStatus` 'readable' <-> 'paused' -> 'closed'.
 *   `send` on a stream that is not writable, and `pause`/`resume` on one closed for reading,
 *   throw an error named 'StreamStateError'.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { Emitter } from './emitter.ts'
import type { LinkStream, LinkStreamEvents, LinkStreamStatus } from '../../link/transport.ts'

/** What a stream sends through its connection. */
export type StreamFrame = { kind: 'data', data: Uint8Array } | { kind: 'fin' } | { kind: 'rst' }

/** What a stream end needs of the connection it rides. */
export interface StreamCarrier {
  /** Sends a frame of `stream` to the other end; false: the connection's send buffer is full ('drain' follows). */
  send: (stream: SimStream, frame: StreamFrame) => boolean
  /** `stream` is finished: no frame is delivered to it any more. */
  detach: (stream: SimStream) => void
  /** A listener threw. */
  report: (err: unknown) => void
}

/** libp2p's default read buffer of a paused stream. */
export const DEFAULT_MAX_READ_BUFFER_LENGTH = 4 * 1024 * 1024

export function namedError (name: string, message: string): Error {
  const err = new Error(message)
  err.name = name
  return err
}

class StreamMessageEvent extends Event {
  readonly data: Uint8Array | Uint8ArrayList
  constructor (data: Uint8Array | Uint8ArrayList) {
    super('message')
    this.data = data
  }
}

class StreamCloseEvent extends Event {
  readonly error: Error | undefined
  readonly local: boolean | undefined
  constructor (error?: Error, local?: boolean) {
    super('close')
    this.error = error
    this.local = local
  }
}

export class SimStream implements LinkStream {
  /** Unique within its connection, the same at both ends. */
  readonly id: number
  readonly protocol: string
  readonly direction: 'inbound' | 'outbound'
  /** The node at the other end. */
  readonly remote: string
  status: LinkStreamStatus = 'open'
  writeStatus: 'writable' | 'closing' | 'closed' = 'writable'
  readStatus: 'readable' | 'paused' | 'closed' = 'readable'
  maxReadBufferLength = DEFAULT_MAX_READ_BUFFER_LENGTH
  /** The connection end it rides. */
  readonly carrier: StreamCarrier
  readonly #events: Emitter
  #held: Uint8Array[] = []
  #heldBytes = 0
  #remoteWriteClosed = false
  #ended = false
  #needsDrain = false

  constructor (carrier: StreamCarrier, id: number, protocol: string, direction: 'inbound' | 'outbound', remote: string) {
    this.carrier = carrier
    this.#events = new Emitter(err => { carrier.report(err) })
    this.id = id
    this.protocol = protocol
    this.direction = direction
    this.remote = remote
  }

  /** Bytes held for a paused stream (or one nobody listens to yet). */
  get readBufferLength (): number {
    return this.#heldBytes
  }

  send (data: Uint8Array | Uint8ArrayList): boolean {
    if (this.writeStatus !== 'writable') throw namedError('StreamStateError', `Cannot write to a stream that is ${this.writeStatus}`)
    const bytes = data instanceof Uint8Array ? data : data.subarray()
    if (bytes.byteLength > 0 && !this.carrier.send(this, { kind: 'data', data: bytes })) this.#needsDrain = true
    return !this.#needsDrain
  }

  async close (options?: { signal?: AbortSignal }): Promise<void> {
    if (this.writeStatus !== 'writable') return
    this.writeStatus = 'closing'
    if (this.#needsDrain) await this.#drained(options?.signal)
    if (this.writeStatus !== 'closing') return // ended meanwhile
    this.carrier.send(this, { kind: 'fin' })
    this.writeStatus = 'closed'
    if (this.#remoteWriteClosed) this.#closed()
  }

  abort (err: Error): void {
    if (this.status !== 'open') return
    this.#terminate('aborted', err, true, true)
  }

  pause (): void {
    if (this.readStatus === 'closed') throw namedError('StreamStateError', 'Cannot pause a stream that is closing/closed')
    this.readStatus = 'paused'
  }

  resume (): void {
    if (this.readStatus === 'closed') throw namedError('StreamStateError', 'Cannot resume a stream that is closing/closed')
    if (this.readStatus === 'readable') return
    this.readStatus = 'readable'
    this.#dispatchHeld()
  }

  addEventListener<K extends keyof LinkStreamEvents>(type: K, listener: (evt: LinkStreamEvents[K]) => void, options?: boolean | AddEventListenerOptions): void {
    this.#events.add(type, listener, options)
    // libp2p: bytes held because nobody listened go to the first listener, once its adder is done
    if (type === 'message' && this.#heldBytes > 0) queueMicrotask(() => { this.#dispatchHeld() })
  }

  removeEventListener<K extends keyof LinkStreamEvents>(type: K, listener?: (evt: LinkStreamEvents[K]) => void): void {
    this.#events.remove(type, listener)
  }

  /** The connection delivers a chunk the remote sent. */
  onData (data: Uint8Array): void {
    if (this.readStatus === 'closed') return
    this.#held.push(data)
    this.#heldBytes += data.byteLength
    if (this.readStatus === 'paused' || this.#events.count('message') === 0) this.#checkOverflow()
    else this.#dispatchHeld()
  }

  /** The remote's FIN arrived: it writes nothing more. */
  onRemoteCloseWrite (): void {
    if (this.#remoteWriteClosed || this.status !== 'open') return
    this.#remoteWriteClosed = true
    this.#events.dispatch(new Event('remoteCloseWrite'))
    this.#maybeEnd()
    if (this.writeStatus === 'closed') this.#closed()
  }

  /** The connection has room again. */
  onDrain (): void {
    if (!this.#needsDrain || this.status !== 'open') return
    this.#needsDrain = false
    this.#events.dispatch(new Event('drain'))
  }

  /** The remote reset the stream (its RST arrived), or the connection was reset. */
  onReset (err: Error): void {
    if (this.status === 'open') this.#terminate('reset', err, false, false)
  }

  /** This node aborted the whole connection: no RST of the stream's own (the connection's stands for it). */
  onConnectionAbort (err: Error): void {
    if (this.status === 'open') this.#terminate('aborted', err, true, false)
  }

  #terminate (status: 'aborted' | 'reset', err: Error, local: boolean, sendReset: boolean): void {
    this.status = status
    this.#held = []
    this.#heldBytes = 0
    this.writeStatus = 'closed'
    this.readStatus = 'closed'
    this.#needsDrain = false
    this.#maybeEnd()
    if (sendReset) this.carrier.send(this, { kind: 'rst' })
    this.carrier.detach(this)
    this.#events.dispatch(new StreamCloseEvent(err, local))
  }

  /** Both sides closed their writing side gracefully (unless a listener of the last step aborted it meanwhile: it ended then). */
  #closed (): void {
    if (this.status !== 'open') return
    this.status = 'closed'
    if (this.#heldBytes === 0) this.readStatus = 'closed'
    this.#maybeEnd()
    this.carrier.detach(this)
    this.#events.dispatch(new StreamCloseEvent())
  }

  #dispatchHeld (): void {
    if (this.#heldBytes === 0 || this.readStatus !== 'readable' || this.#events.count('message') === 0) return
    const held = this.#held
    this.#held = []
    this.#heldBytes = 0
    this.#events.dispatch(new StreamMessageEvent(held.length === 1 ? held[0] : new Uint8ArrayList(...held)))
    if (this.#heldBytes === 0 && this.#remoteWriteClosed) {
      this.readStatus = 'closed'
      this.#maybeEnd()
    }
    this.#checkOverflow()
  }

  #checkOverflow (): void {
    if (this.#heldBytes <= this.maxReadBufferLength) return
    this.abort(namedError('StreamBufferError', `Read buffer length of ${this.#heldBytes} exceeded limit of ${this.maxReadBufferLength}, read status is ${this.readStatus}`))
  }

  #maybeEnd (): void {
    if (this.#ended || this.#heldBytes > 0 || (!this.#remoteWriteClosed && this.readStatus !== 'closed')) return
    this.#ended = true
    this.#events.dispatch(new Event('end'))
  }

  /** Resolves on 'drain'; rejects when the stream closes first, or `signal` aborts. */
  async #drained (signal: AbortSignal | undefined): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason)
        return
      }
      const done = (): void => {
        this.removeEventListener('drain', onDrain)
        this.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { done(); resolve() }
      const onClose = (evt: LinkStreamEvents['close']): void => { done(); reject(evt.error ?? namedError('StreamClosedError', 'the stream closed before it drained')) }
      const onAbort = (): void => { done(); reject(signal!.reason) }
      this.addEventListener('drain', onDrain)
      this.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
