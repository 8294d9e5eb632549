/**
 * The transport seam: all the core needs of a network, and all it knows of one. Two
 * implementations: libp2p (src/libp2p/: streams of a protocol over Noise-authenticated
 * connections, any libp2p transport) and the simulation (src/testing/sim/).
 *
 * `LinkStream` is shaped so that a libp2p v3 `Stream` is one as it is: the libp2p side pays no
 * wrapper on the hot path. A simulated stream implements the same behaviour (see
 * ../../docs/testing.md): what the core relies on is written next to each member.
 */
import type { Uint8ArrayList } from 'uint8arraylist'

export interface LinkStreamEvents {
  /** Bytes arrived, in order: one chunk or a list of them. */
  message: Event & { readonly data: Uint8Array | Uint8ArrayList }
  /** After `send` returned false: the stream takes writes again. */
  drain: Event
  /** The stream is finished, either way; `error` set if it was aborted or reset (`local`: by this side). */
  close: Event & { readonly error?: Error, readonly local?: boolean }
  /** The remote closed its writing side gracefully: what it sent has all been (or will be) delivered. */
  remoteCloseWrite: Event
  /** Nothing more will be read (after the remote's close and the last delivery, or an abort). */
  end: Event
}

export type LinkStreamStatus = 'open' | 'closing' | 'closed' | 'aborted' | 'reset'

/** A duplex byte stream with backpressure, to or from one authenticated peer. */
export interface LinkStream {
  /** The protocol both sides agreed on (which wire version this stream speaks). */
  readonly protocol: string
  readonly status: LinkStreamStatus
  /** 'writable' while `send` may be called. */
  readonly writeStatus: 'writable' | 'closing' | 'closed'
  /**
   * Bytes held for a paused stream; a remote that sends more has the stream reset, with a close
   * event whose error is named 'StreamBufferError'.
   */
  maxReadBufferLength: number
  /** Queues bytes; false asks the writer to wait for 'drain' (the bytes are queued all the same). */
  send: (data: Uint8Array | Uint8ArrayList) => boolean
  /** Closes gracefully: what was sent is delivered, then the remote sees 'remoteCloseWrite'. */
  close: (options?: { signal?: AbortSignal }) => Promise<void>
  /** Resets at once, both ways: queued bytes are dropped, the remote sees the stream reset. */
  abort: (err: Error) => void
  /** Stops 'message' events (what arrives is held, up to `maxReadBufferLength`); `resume` dispatches what was held, synchronously, then goes on. */
  pause: () => void
  resume: () => void
  addEventListener: <K extends keyof LinkStreamEvents>(type: K, listener: (evt: LinkStreamEvents[K]) => void, options?: boolean | AddEventListenerOptions) => void
  removeEventListener: <K extends keyof LinkStreamEvents>(type: K, listener?: (evt: LinkStreamEvents[K]) => void, options?: boolean | EventListenerOptions) => void
}

/** A member's address, as the transport reads it. */
export interface PeerAddress {
  /** The authenticated identity the address names: the key streams from that peer carry. */
  readonly peer: string
  /** The address in a canonical string form: two addresses are the same if their keys are. */
  readonly key: string
  /** The transport's own form of it, handed back to `open`. */
  readonly addr: unknown
}

/** What a transport tells the core. */
export interface TransportEvents {
  /** A stream of one of the handled protocols arrived from `peer` (authenticated by the transport). */
  stream: (stream: LinkStream, peer: string) => void
  /** A connection with `peer` opened, in either direction. */
  connection: (peer: string) => void
  /** Asked before a connection is accepted or opened: true refuses it. */
  isBlocked: (peer: string) => boolean
  /** A connection was refused because its peer is blocked. */
  refused: () => void
}

export interface Transport {
  /** This node's identity (peer key). */
  readonly self: string
  /** Reads one address of a membership; throws an Error saying what is wrong with it. */
  parseAddress: (addr: unknown) => PeerAddress
  /** The peer key of `who` (a peer ID string, or the transport's own identity object), or undefined if it is none. */
  parsePeer: (who: unknown) => string | undefined
  /** Starts accepting streams of `protocols` (the first preferred) and reporting events. */
  start: (protocols: readonly string[], events: TransportEvents, options: { maxInboundStreams: number }) => Promise<void>
  stop: () => Promise<void>
  /**
   * Opens a stream to `peer` at `addr` (from `parseAddress`), proposing `protocols` in order;
   * `force`: a new connection even if one is open (the open one was judged dead). May reject
   * with `DialSupersededError`.
   */
  open: (peer: string, addr: unknown, protocols: readonly string[], options: { signal: AbortSignal, force: boolean }) => Promise<LinkStream>
  /** Aborts the connection `stream` rides (a dead link), with every stream on it. */
  abortConnection: (stream: LinkStream, err: Error) => void
  /** Aborts every connection with `peer`. */
  abortPeer: (peer: string, err: Error) => void
}

/**
 * `Transport.open` may reject with this: the peer's own connection to us opened first, and the
 * stream is better opened on it. The caller dials again at once.
 */
export class DialSupersededError extends Error {
  constructor () {
    super('the peer connected to us first')
    this.name = 'DialSupersededError'
  }
}

/** The log the core writes to (libp2p's `Logger` is one). */
export interface Log {
  (formatter: string, ...args: any[]): void
  error: (formatter: string, ...args: any[]) => void
}
