/**
 * The transport seam on libp2p: streams of our protocols over the node's connections, whatever
 * its transports; a stream's peer is the connection's authenticated peer ID (Noise, on the
 * default stack). Dials follow the node's dial order (dial-order.ts); blocked peers are refused
 * by the gater, if the node has ours (gater.ts), and their connections closed as they open.
 * libp2p's `Stream` is a `LinkStream` as it is: nothing is wrapped.
 */
import { isPeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { isMultiaddr, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { DialOrder } from './dial-order.ts'
import { GATER_HOOK, type ConsensusNetGater } from './gater.ts'
import type { LinkStream, PeerAddress, Transport, TransportEvents } from '../link/transport.ts'
import type { ComponentLogger, Connection, ConnectionGater, Libp2pEvents, PeerId, Stream, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

/** What the transport needs of a libp2p node: the components a service is given. */
export interface Libp2pTransportComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
  /** libp2p's events ('connection:open'): without them this node dials every member at once (dial-order.ts). */
  events?: TypedEventTarget<Libp2pEvents>
  /** The node's connection gater: a `consensusNetGater` refuses blocked peers before their connection opens (gater.ts). */
  connectionGater?: ConnectionGater
}

export class Libp2pTransport implements Transport {
  readonly self: string
  readonly #components: Libp2pTransportComponents
  readonly #dialOrder: DialOrder
  /** The connection each stream we opened rides, for a dead link's abort. */
  readonly #connections = new WeakMap<LinkStream, Connection>()
  #protocols: readonly string[] = []
  #events: TransportEvents | undefined

  constructor (components: Libp2pTransportComponents, dialGrace: number) {
    this.#components = components
    this.self = components.peerId.toString()
    this.#dialOrder = new DialOrder(components.peerId, components.events, components.connectionManager, dialGrace)
  }

  parseAddress (addr: unknown): PeerAddress {
    return parseLibp2pAddress(addr)
  }

  parsePeer (who: unknown): string | undefined {
    if (isPeerId(who)) return who.toString()
    if (typeof who !== 'string') return undefined
    try {
      return peerIdFromString(who).toString()
    } catch {
      return undefined
    }
  }

  async start (protocols: readonly string[], events: TransportEvents, options: { maxInboundStreams: number }): Promise<void> {
    this.#protocols = protocols
    this.#events = events
    for (const protocol of protocols) await this.#components.registrar.handle(protocol, this.#onStream, options)
    this.#dialOrder.start()
    this.#gater()?.[GATER_HOOK]({ isBlocked: events.isBlocked, refused: events.refused })
    this.#components.events?.addEventListener('connection:open', this.#onConnection)
  }

  async stop (): Promise<void> {
    this.#dialOrder.stop()
    this.#gater()?.[GATER_HOOK](undefined)
    this.#components.events?.removeEventListener('connection:open', this.#onConnection)
    this.#events = undefined
    const log = this.#components.logger.forComponent('consensus-net')
    for (const protocol of this.#protocols) {
      await this.#components.registrar.unhandle(protocol).catch(err => { log.error('unhandle failed - %e', err) })
    }
  }

  async open (peer: string, addr: unknown, protocols: readonly string[], { signal, force }: { signal: AbortSignal, force: boolean }): Promise<LinkStream> {
    const peerId = peerIdFromString(peer)
    return await this.#dialOrder.dial(peerId, signal, force, async (signal, onProgress) => {
      // what connectionManager.openStream does, keeping the connection
      const connection = await this.#components.connectionManager.openConnection(addr as Multiaddr, { signal, force, onProgress })
      const stream = await connection.newStream([...protocols], { signal, onProgress })
      this.#connections.set(stream, connection)
      return stream
    })
  }

  abortConnection (stream: LinkStream, err: Error): void {
    this.#connections.get(stream)?.abort(err)
  }

  abortPeer (peer: string, err: Error): void {
    for (const connection of this.#components.connectionManager.getConnections()) {
      if (connection.remotePeer.toString() === peer) connection.abort(err)
    }
  }

  readonly #onStream = (stream: Stream, connection: Connection): void => {
    const events = this.#events
    if (events === undefined) stream.abort(new Error('not started'))
    else events.stream(stream, connection.remotePeer.toString())
  }

  /** A connection opened (either direction): a blocked peer's is closed (no gater of ours refused it). */
  readonly #onConnection = (evt: CustomEvent<Connection>): void => {
    const events = this.#events
    const connection = evt.detail
    const peer = connection.remotePeer.toString()
    if (events === undefined) return
    if (events.isBlocked(peer)) {
      events.refused()
      connection.abort(new Error('blocked'))
      return
    }
    events.connection(peer)
  }

  #gater (): ConsensusNetGater | undefined {
    const gater = this.#components.connectionGater as Partial<ConsensusNetGater> | undefined
    return typeof gater?.[GATER_HOOK] === 'function' ? gater as ConsensusNetGater : undefined
  }
}

/** A member's address on libp2p: a multiaddr (string or object) ending in /p2p/<peer ID>. */
export function parseLibp2pAddress (addr: unknown): PeerAddress {
  const ma = toMultiaddr(addr)
  return { peer: parsePeerId(peerOf(ma)).toString(), key: ma.toString(), addr: ma }
}

function toMultiaddr (a: unknown): Multiaddr {
  if (isMultiaddr(a)) return a
  if (typeof a !== 'string') throw new Error(`address ${String(a)} is neither a string nor a Multiaddr`)
  try {
    return multiaddr(a)
  } catch (err: any) {
    throw new Error(`address "${a}" does not parse: ${err.message}`)
  }
}

function peerOf (ma: Multiaddr): string {
  let peer: string | undefined
  for (const c of ma.getComponents()) if (c.name === 'p2p') peer = c.value
  if (peer == null) throw new Error(`address "${ma.toString()}" has no /p2p/<peerId>`)
  return peer
}

function parsePeerId (peer: string): PeerId {
  try {
    return peerIdFromString(peer)
  } catch (err: any) {
    throw new Error(`"${peer}" is not a valid peer ID: ${err.message}`)
  }
}
