/**
 * A simulated libp2p transport, modelled on @libp2p/memory: a node listens on `/memory/<name>`
 * and dials other nodes of the same TestNetwork by that address. What a connection writes goes
 * into a Pipe of the network's links (links.ts, link.ts), which decides when, and whether, the
 * bytes reach the other end. Above this file everything is real libp2p: the upgrader, Noise,
 * Yamux, the service.
 */
import { ConnectionFailedError, ListenError, serviceCapabilities, transportSymbol } from '@libp2p/interface'
import { AbstractMultiaddrConnection, type AbstractMultiaddrConnectionInit } from '@libp2p/utils'
import { CODE_MEMORY, CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import type { AbortOptions, ComponentLogger, Connection, CreateListenerOptions, DialTransportOptions, Listener, ListenerEvents, Logger, PeerId, Transport } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** One direction of one connection, as the writing end sees it. */
export interface PipeEnd {
  /** Accepts every byte; false: the simulated socket buffer is full, wait for the connection's 'drain'. */
  write: (data: Uint8Array | Uint8ArrayList) => boolean
  /** FIN: after the bytes written so far, the other end sees the connection close. */
  end: () => void
  /** RST: the other end sees the connection reset (bytes still in flight ahead of it arrive first). */
  reset: () => void
}

/** What the transport needs from the network it belongs to (implemented by Links, links.ts). */
export interface Fabric {
  /** Registers `listener` as the node `name`; throws if the name is taken. */
  listen: (name: string, listener: SimListener) => void
  unlisten: (name: string, listener: SimListener) => void
  /**
   * Opens a connection from node `from` to the node listening as `to`: resolves with the dialing
   * end once the other end has been handed to its listener; rejects when refused, or when
   * `signal` aborts while the link holds the dial (a blackhole).
   */
  dial: (from: string, to: string, signal: AbortSignal) => Promise<SimConnection>
}

export interface SimConnectionInit extends AbstractMultiaddrConnectionInit {
  /** The node at the other end, by name. */
  remote: string
}

/** A MultiaddrConnection whose bytes travel through a Pipe (`out`, set by the network right after construction). */
export class SimConnection extends AbstractMultiaddrConnection {
  readonly remote: string
  out!: PipeEnd

  constructor (init: SimConnectionInit) {
    super(init)
    this.remote = init.remote
  }

  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean } {
    const canSendMore = this.out.write(data)
    return { sentBytes: data.byteLength, canSendMore }
  }

  sendReset (): void {
    this.out.reset()
  }

  async sendClose (options?: AbortOptions): Promise<void> {
    this.out.end()
    options?.signal?.throwIfAborted()
  }

  sendPause (): void {
    // no read backpressure, as in @libp2p/memory: the receiving side always takes what arrives
  }

  sendResume (): void {}
}

/** The node name in `/memory/<name>[/p2p/<peer>]`, or undefined for any other address. */
export function memoryName (ma: Multiaddr): string | undefined {
  const components = ma.getComponents()
  if (components[0]?.code !== CODE_MEMORY || components[0].value == null) return undefined
  if (components.length === 1 || (components.length === 2 && components[1].code === CODE_P2P)) return components[0].value
  return undefined
}

export interface SimTransportComponents {
  peerId: PeerId
  logger: ComponentLogger
}

export class SimListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  readonly peerId: PeerId
  readonly log: Logger
  readonly #fabric: Fabric
  readonly #options: CreateListenerOptions
  readonly #shutdown = new AbortController()
  #name?: string

  constructor (fabric: Fabric, components: SimTransportComponents, options: CreateListenerOptions) {
    super()
    this.#fabric = fabric
    this.#options = options
    this.peerId = components.peerId
    this.log = components.logger.forComponent('consensus-net:testing')
  }

  async listen (ma: Multiaddr): Promise<void> {
    const name = memoryName(ma)
    if (name == null) throw new ListenError(`not a /memory/<name> address: ${ma}`)
    this.#fabric.listen(name, this)
    this.#name = name
    queueMicrotask(() => { this.safeDispatchEvent('listening') })
  }

  /** The network hands over the listening end of a new connection. */
  accept (connection: SimConnection): void {
    this.#options.upgrader.upgradeInbound(connection, { signal: this.#shutdown.signal })
      .catch(err => { connection.abort(err) })
  }

  getAddrs (): Multiaddr[] {
    return this.#name == null ? [] : [multiaddr(`/memory/${this.#name}`)]
  }

  updateAnnounceAddrs (): void {}

  async close (): Promise<void> {
    if (this.#name != null) this.#fabric.unlisten(this.#name, this)
    this.#shutdown.abort()
    queueMicrotask(() => { this.safeDispatchEvent('close') })
  }
}

/** The transport of the node `name` on `fabric`; it dials and listens on `/memory/...` addresses only. */
export class SimTransport implements Transport {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@consensus-net/testing-transport'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  readonly #fabric: Fabric
  readonly #name: string
  readonly #components: SimTransportComponents

  constructor (fabric: Fabric, name: string, components: SimTransportComponents) {
    this.#fabric = fabric
    this.#name = name
    this.#components = components
  }

  async dial (ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    options.signal.throwIfAborted()
    const to = memoryName(ma)
    if (to == null) throw new ConnectionFailedError(`not a /memory/<name> address: ${ma}`)
    const connection = await this.#fabric.dial(this.#name, to, options.signal)
    try {
      options.signal.throwIfAborted()
      return await options.upgrader.upgradeOutbound(connection, options)
    } catch (err) {
      connection.abort(err as Error)
      throw err
    }
  }

  createListener (options: CreateListenerOptions): Listener {
    return new SimListener(this.#fabric, this.#components, options)
  }

  listenFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(ma => memoryName(ma) != null)
  }

  dialFilter (multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.listenFilter(multiaddrs)
  }
}

/** The transport factory for `createLibp2p({ transports: [simulatedTransport(fabric, name)] })`. */
export function simulatedTransport (fabric: Fabric, name: string): (components: SimTransportComponents) => Transport {
  return (components) => new SimTransport(fabric, name, components)
}
