/**
 * Membership-aware networking for BFT/consensus engines on js-libp2p v3.
 *
 * As a service on your own libp2p node (any transports):
 *   createLibp2p({ ..., services: { consensus: consensusNet(init) } })
 * Standalone (its own node: TCP + Noise + Yamux, listening on 127.0.0.1 by default):
 *   const net = await createConsensusNet({ privateKey, listen, libp2p, ...init })
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { ConsensusNet, type ConsensusNetComponents } from './libp2p/service.ts'
import type { ConsensusNetInit } from './config.ts'
import { consensusNetGater } from './libp2p/gater.ts'
import type { PrivateKey } from '@libp2p/interface'

export { ConsensusNet, type ConsensusNetComponents } from './libp2p/service.ts'
export { Net, type NetEnv } from './net/net.ts'
export type { ConsensusNetInit } from './config.ts'
export type { ConsensusNetEvents, ConsensusNetStats, MemberStats, MessageDetail, MessageHandler, PeerDetail, TentativeStats } from './types.ts'
export { systemClock, type Clock, type Random, type Timer } from './clock.ts'
export { DialSupersededError, type LinkStream, type LinkStreamEvents, type Log, type PeerAddress, type Transport, type TransportEvents } from './link/transport.ts'
export type { ReconnectOptions } from './config.ts'
export type { Addr, Membership, NodeId } from './peers/membership.ts'
export { Channel } from './channels/channel.ts'
export type { ChannelEvents, ChannelMemberStats, ChannelMessageDetail, ChannelOptions, ChannelStats, HandlerContext, RequestHandler, RequestOptions, RequestStats, ResolvedChannelOptions, SendOptions } from './channels/types.ts'
export { Resolver } from './resolver/resolver.ts'
export type { Key } from './resolver/key.ts'
export type { FetchOptions, ProduceContext, ResolverOptions } from './resolver/options.ts'
export type { ResolverPeerStats } from './resolver/ranking.ts'
export type { ResolverStats } from './resolver/stats.ts'
export type { CacheOptions } from './resolver/cache.ts'
export type { RateLimit } from './channels/quota.ts'
export type { BlockedPeer, BlockReason } from './peers/blocklist.ts'
export { consensusNetGater, type ConsensusNetGater } from './libp2p/gater.ts'
export { InvalidFrameError, InvalidMembershipError, MessageTooLargeError, NotStartedError, RequestError, ResolveError, UnknownNodeError, type InvalidFrameReason, type RequestErrorCode, type ResolveErrorCode } from './errors.ts'
export { CHANNEL_PROTOCOL, PROTOCOL } from './constants.ts'

/** The service factory for `createLibp2p({ services: { consensus: consensusNet(init) } })`. */
export function consensusNet (init: ConsensusNetInit = {}): (components: ConsensusNetComponents) => ConsensusNet {
  return (components) => new ConsensusNet(components, init)
}

/**
 * libp2p options for `createConsensusNet({ libp2p })`, passed to `createLibp2p` (e.g.
 * `connectionManager`, `connectionGater`, `metrics`, extra `services`). The identity is the
 * helper's `privateKey` and the node is always started, so neither can be given here.
 */
export type ConsensusNetLibp2pOptions = Omit<Libp2pOptions, 'privateKey' | 'start'>

export interface CreateConsensusNetInit extends ConsensusNetInit {
  /** The node's identity; a new Ed25519 key when absent. */
  privateKey?: PrivateKey
  /** Listen addresses (or `libp2p.addresses.listen`, not both). Default `['/ip4/127.0.0.1/tcp/0']`. */
  listen?: string[]
  /**
   * Passed to `createLibp2p`. The helper sets only what is absent: `transports` (TCP),
   * `connectionEncrypters` (Noise), `streamMuxers` (Yamux), `addresses.listen`, each replaced
   * whole when given here; `services` are added next to the helper's `consensus`.
   */
  libp2p?: ConsensusNetLibp2pOptions
}

const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/**
 * Starts a libp2p node (TCP + Noise + Yamux unless `libp2p` says otherwise) with the service
 * inside and returns the service; its `stop()` stops the node too.
 */
export async function createConsensusNet (init: CreateConsensusNetInit = {}): Promise<ConsensusNet> {
  const { privateKey, listen, libp2p: options = {}, ...netInit } = init
  // options the helper owns: refuse rather than silently pick one of two (also for untyped callers)
  if ('privateKey' in options) throw new RangeError('libp2p.privateKey: give privateKey to createConsensusNet itself')
  if ('start' in options) throw new RangeError('libp2p.start: createConsensusNet always starts the node')
  if (options.services != null && 'consensus' in options.services) throw new RangeError('libp2p.services.consensus is the helper\'s own service; name yours differently')
  if (listen != null && options.addresses?.listen != null) throw new RangeError('give listen or libp2p.addresses.listen, not both')
  // let, not const: the service's stop may run (a failed start) before the node is assigned
  let node: Libp2p<{ consensus: ConsensusNet }> | undefined
  // eslint-disable-next-line prefer-const
  node = await createLibp2p<{ consensus: ConsensusNet }>({
    ...options,
    privateKey,
    addresses: { ...options.addresses, listen: listen ?? options.addresses?.listen ?? DEFAULT_LISTEN },
    transports: options.transports ?? [tcp()],
    connectionEncrypters: options.connectionEncrypters ?? [noise()],
    streamMuxers: options.streamMuxers ?? [yamux()],
    // refuses blocked peers before their connections open, then asks the caller's gater
    connectionGater: consensusNetGater(options.connectionGater),
    services: {
      ...options.services,
      consensus: (components: ConsensusNetComponents) => new ConsensusNet(components, netInit, async () => {
        if (node == null) return
        // Abort rather than close: libp2p's graceful close can stall on a full write queue and
        // leave the socket open, so peers would only notice on their next (lost) write.
        for (const connection of node.getConnections()) connection.abort(new Error('consensus net stopped'))
        await node.stop()
      })
    }
  })
  return node.services.consensus
}
