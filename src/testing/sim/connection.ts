/**
 * A simulated connection between two nodes: a Pipe each way (link.ts) carrying the frames of many
 * streams in one FIFO order, as a muxed TCP connection does. A stream is opened by proposing
 * protocols: the proposal travels to the other end, which picks the first it handles (or refuses,
 * like libp2p's "protocol selection failed"), creates its end, answers, and hands the stream to its
 * node; the opener's end exists once the answer is back, one round trip later. A stream's bytes
 * travel as yamux carries them, in frames of at most MAX_FRAME_BYTES, each delivered when its own
 * transmission ends: a large write on a slow link arrives frame by frame. An end may abort the
 * whole connection: its streams end at once, what it has not put on the wire is discarded (as
 * TCP's abort does), and a RST follows what is on the wire, to reset the other end's streams
 * when it arrives. A stream's reset discards what the stream sent that has not started
 * transmission, at each end (at the other once the RST arrives). A cut resets both ends at once.
 */
import { namedError, SimStream, type StreamCarrier, type StreamFrame } from './stream.ts'
import { Pipe, type Direction, type PipeInit } from './link.ts'
import type { TraceEvent } from '../links.ts'
import type { Scheduler } from './scheduler.ts'

/**
 * The largest yamux data frame: @chainsafe/libp2p-yamux (8.0.1) puts at most its stream's send
 * window less the 12-byte frame header in a frame, and a window starts at 256 KiB (it grows only
 * where the receiver keeps up with a fast link). Its config's `maxMessageSize` (64 KiB) is
 * validated but never applied. The receiving muxer hands a frame to its stream only once all of
 * it has arrived.
 */
export const MAX_FRAME_BYTES = 256 * 1024 - 12

/** What travels on one direction of a connection. */
type Frame =
  | { readonly kind: 'open', readonly id: number, readonly protocols: readonly string[] }
  | { readonly kind: 'accept', readonly id: number, readonly protocol: string }
  | { readonly kind: 'refuse', readonly id: number }
  | { readonly kind: 'stream', readonly id: number, readonly frame: StreamFrame }
  | { readonly kind: 'reset' }

/** What a connection end needs of the node it belongs to (its transport). */
export interface Endpoint {
  readonly name: string
  /** The protocols it handles, the first preferred. */
  readonly protocols: readonly string[]
  readonly maxInboundStreams: number
  /** Hands an inbound stream to the node; a throw aborts the stream. */
  accept: (stream: SimStream, peer: string) => void
  /** A listener or handler threw where nobody can be told. */
  report: (err: unknown) => void
}

export interface ConnectionInit {
  readonly id: number
  readonly scheduler: Scheduler
  readonly bufferBytes: number
  readonly trace?: ((event: TraceEvent) => void) | undefined
  /** Both ends are closed: the network forgets the connection. */
  readonly onClosed: (connection: SimConnection) => void
}

export class SimConnection {
  /** Network-wide, in opening order. */
  readonly id: number
  readonly dialer: ConnectionEnd
  readonly listener: ConnectionEnd
  nextStreamId = 0
  readonly #init: ConnectionInit

  constructor (init: ConnectionInit, dialer: Endpoint, listener: Endpoint, out: Direction, back: Direction) {
    this.id = init.id
    this.#init = init
    this.dialer = new ConnectionEnd(this, dialer, listener.name, out, init)
    this.listener = new ConnectionEnd(this, listener, dialer.name, back, init)
    this.dialer.other = this.listener
    this.listener.other = this.dialer
  }

  /** The end that belongs to `node`, if any. */
  endOf (node: Endpoint): ConnectionEnd | undefined {
    return this.dialer.node === node ? this.dialer : this.listener.node === node ? this.listener : undefined
  }

  /** Both ends reset now; what is in flight is lost. */
  cut (err: Error): void {
    this.dialer.out.kill()
    this.listener.out.kill()
    this.dialer.reset(err)
    this.listener.reset(err)
  }

  /** Called by an end that closed. */
  ended (): void {
    if (this.dialer.closed && this.listener.closed) {
      this.dialer.out.kill()
      this.listener.out.kill()
      this.#init.onClosed(this)
    }
  }
}

interface Opening {
  readonly protocols: readonly string[]
  readonly resolve: (stream: SimStream) => void
  readonly reject: (err: unknown) => void
  readonly done: () => void
}

/** One node's end of a connection: its streams, and what it sends (`out`). */
export class ConnectionEnd implements StreamCarrier {
  readonly connection: SimConnection
  readonly node: Endpoint
  /** The node at the other end. */
  readonly peer: string
  readonly out: Pipe<Frame>
  other!: ConnectionEnd
  readonly streams = new Map<number, SimStream>()
  closed = false
  readonly #opening = new Map<number, Opening>()

  constructor (connection: SimConnection, node: Endpoint, peer: string, out: Direction, init: ConnectionInit) {
    this.connection = connection
    this.node = node
    this.peer = peer
    const pipe: PipeInit<Frame> = {
      scheduler: init.scheduler,
      bufferBytes: init.bufferBytes,
      trace: init.trace,
      deliver: frame => { this.other.receive(frame) },
      onDrain: () => { for (const stream of this.streams.values()) stream.onDrain() }
    }
    this.out = new Pipe(out, pipe)
  }

  /** Proposes `protocols` to the other end; resolves with the stream once it accepted one. */
  async openStream (protocols: readonly string[], signal: AbortSignal): Promise<SimStream> {
    signal.throwIfAborted()
    if (this.closed) throw namedError('ConnectionClosedError', `the connection to ${this.peer} is closed`)
    const id = this.connection.nextStreamId++
    return await new Promise<SimStream>((resolve, reject) => {
      const onAbort = (): void => {
        this.#opening.delete(id) // an answer that comes later is reset (receive)
        reject(signal.reason)
      }
      const done = (): void => { signal.removeEventListener('abort', onAbort) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#opening.set(id, { protocols, resolve, reject, done })
      this.out.write({ kind: 'open', id, protocols }, 0)
    })
  }

  send (stream: SimStream, frame: StreamFrame): boolean {
    const id = stream.id
    if (frame.kind !== 'data') {
      if (frame.kind === 'rst') this.out.discard(f => f.kind === 'stream' && f.id === id)
      return this.out.write({ kind: 'stream', id, frame }, 0)
    }
    const data = frame.data
    if (data.byteLength <= MAX_FRAME_BYTES) return this.out.write({ kind: 'stream', id, frame }, data.byteLength)
    let ok = true
    for (let offset = 0; offset < data.byteLength; offset += MAX_FRAME_BYTES) {
      const piece = data.subarray(offset, offset + MAX_FRAME_BYTES)
      ok = this.out.write({ kind: 'stream', id, frame: { kind: 'data', data: piece } }, piece.byteLength)
    }
    return ok
  }

  detach (stream: SimStream): void {
    this.streams.delete(stream.id)
  }

  report (err: unknown): void {
    this.node.report(err)
  }

  /** This node aborts the connection: its streams end now (silently for a crashed node); what is not on the wire is lost, a RST follows the rest. */
  abort (err: Error, silent = false): void {
    if (this.closed) return
    this.other.out.kill() // what travels to us is lost
    this.out.abort({ kind: 'reset' })
    this.#close(err, stream => { if (!silent) stream.onConnectionAbort(err) })
  }

  /** The connection was reset under this end (the peer's RST, or a cut). */
  reset (err: Error): void {
    if (!this.closed) this.#close(err, stream => { stream.onReset(err) })
  }

  receive (frame: Frame): void {
    if (this.closed) return
    switch (frame.kind) {
      case 'stream': {
        const stream = this.streams.get(frame.id)
        if (stream === undefined) return // finished here: what the remote sent meanwhile has no reader
        const inner = frame.frame
        if (inner.kind === 'data') stream.onData(inner.data)
        else if (inner.kind === 'fin') stream.onRemoteCloseWrite()
        else {
          this.out.discard(f => f.kind === 'stream' && f.id === frame.id) // libp2p sends nothing more of a reset stream
          stream.onReset(namedError('StreamResetError', `the stream was reset by ${this.peer}`))
        }
        return
      }
      case 'open': this.#onOpen(frame.id, frame.protocols); return
      case 'accept': this.#onAccept(frame.id, frame.protocol); return
      case 'refuse': {
        const opening = this.#settle(frame.id)
        opening?.reject(namedError('UnsupportedProtocolError', `protocol selection failed: ${this.peer} handles none of ${opening.protocols.join(', ')}`))
        return
      }
      case 'reset':
        this.reset(namedError('StreamResetError', `connection reset by ${this.peer}`))
    }
  }

  #onOpen (id: number, protocols: readonly string[]): void {
    const node = this.node
    const protocol = protocols.find(p => node.protocols.includes(p))
    if (protocol === undefined) {
      this.out.write({ kind: 'refuse', id }, 0)
      return
    }
    const stream = new SimStream(this, id, protocol, 'inbound', this.peer)
    let inbound = 0
    for (const s of this.streams.values()) if (s.direction === 'inbound' && s.protocol === protocol) inbound++
    this.streams.set(id, stream)
    this.out.write({ kind: 'accept', id, protocol }, 0)
    if (inbound >= node.maxInboundStreams) {
      // libp2p negotiates, then resets the one too many
      stream.abort(namedError('TooManyInboundProtocolStreamsError', `Too many inbound protocol streams for protocol "${protocol}" - limit ${node.maxInboundStreams}`))
      return
    }
    try {
      node.accept(stream, this.peer)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #onAccept (id: number, protocol: string): void {
    const opening = this.#settle(id)
    if (opening === undefined) { // the opener gave up meanwhile
      this.out.write({ kind: 'stream', id, frame: { kind: 'rst' } }, 0)
      return
    }
    const stream = new SimStream(this, id, protocol, 'outbound', this.peer)
    this.streams.set(id, stream)
    opening.resolve(stream)
  }

  #settle (id: number): Opening | undefined {
    const opening = this.#opening.get(id)
    if (opening === undefined) return undefined
    this.#opening.delete(id)
    opening.done()
    return opening
  }

  #close (err: Error, end: (stream: SimStream) => void): void {
    this.closed = true
    const openings = [...this.#opening.values()]
    this.#opening.clear()
    for (const opening of openings) {
      opening.done()
      opening.reject(err)
    }
    const streams = [...this.streams.values()]
    this.streams.clear()
    for (const stream of streams) end(stream)
    this.connection.ended()
  }
}
