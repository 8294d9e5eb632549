/**
 * The libp2p service: a `Net` on the node's own connections (any transports), with its metrics
 * registered in libp2p's and its addresses read from libp2p's. `consensusNet(init)` in
 * `services`, or `createConsensusNet` for a node of its own (index.ts).
 */
import { Net, REQUEST_OBSERVER } from '../net/net.ts'
import { resolveConfig, type ConsensusNetInit } from '../config.ts'
import { NotStartedError } from '../errors.ts'
import { systemClock } from '../clock.ts'
import { registerMetrics } from './metrics.ts'
import { Libp2pTransport, type Libp2pTransportComponents } from './transport.ts'
import type { Metrics, PeerId, Startable } from '@libp2p/interface'
import type { AddressManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface ConsensusNetComponents extends Libp2pTransportComponents {
  addressManager: AddressManager
  /** libp2p's metrics, when the node has them: the figures of `stats()` are registered there (metrics.ts). */
  metrics?: Metrics
}

export class ConsensusNet extends Net implements Startable {
  readonly [Symbol.toStringTag] = '@consensus-net/service'
  readonly peerId: PeerId
  readonly #components: ConsensusNetComponents
  readonly #protocol: string
  readonly #stopOwner?: () => Promise<void>

  /** @param stopOwner - stops the libp2p node this service was created with, for the standalone helper */
  constructor (components: ConsensusNetComponents, init: ConsensusNetInit = {}, stopOwner?: () => Promise<void>) {
    const config = resolveConfig(init)
    super({ transport: new Libp2pTransport(components, config.dialGrace), clock: systemClock, random: Math.random, log: components.logger.forComponent('consensus-net') }, init)
    this.peerId = components.peerId
    this.#components = components
    this.#protocol = config.protocol
    this.#stopOwner = stopOwner
  }

  override async start (): Promise<void> {
    if (this.isStarted()) return
    await super.start()
    if (this.isStarted() && this.#components.metrics != null) this[REQUEST_OBSERVER](registerMetrics(this.#components.metrics, this, this.#protocol))
  }

  /** Resets every stream, cancels every dial and backoff; afterwards every call throws `NotStartedError`. */
  override async stop (): Promise<void> {
    await super.stop()
    await this.#stopOwner?.()
  }

  /** Addresses others can put in a membership: each ends in /p2p/<this peer ID>. */
  getMultiaddrs (): Multiaddr[] {
    if (!this.isStarted()) throw new NotStartedError()
    return this.#components.addressManager.getAddresses()
  }
}
