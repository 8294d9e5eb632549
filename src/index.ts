/**
 * Membership-aware networking for BFT/consensus engines on js-libp2p v3.
 *
 * As a service on your own libp2p node (any transports):
 *   createLibp2p({ ..., services: { consensus: consensusNet(init) } })
 * Standalone (its own node: TCP + Noise + Yamux, listening on 127.0.0.1 by default):
 *   const net = await createConsensusNet({ privateKey, listen, ...init })
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { ConsensusNet, type ConsensusNetComponents, type ConsensusNetInit } from './consensus-net.ts'
import type { PrivateKey } from '@libp2p/interface'

export { ConsensusNet } from './consensus-net.ts'
export type { ConsensusNetComponents, ConsensusNetEvents, ConsensusNetInit, ConsensusNetStats, MemberStats, MessageDetail, PeerDetail, TentativeStats } from './consensus-net.ts'
export type { ReconnectOptions } from './backoff.ts'
export type { Addr, Membership, NodeId } from './membership.ts'
export { InvalidFrameError, InvalidMembershipError, MessageTooLargeError, NotStartedError, UnknownNodeError, type InvalidFrameReason } from './errors.ts'
export { PROTOCOL } from './constants.ts'

/** The service factory for `createLibp2p({ services: { consensus: consensusNet(init) } })`. */
export function consensusNet (init: ConsensusNetInit = {}): (components: ConsensusNetComponents) => ConsensusNet {
  return (components) => new ConsensusNet(components, init)
}

export interface CreateConsensusNetInit extends ConsensusNetInit {
  /** The node's identity; a new Ed25519 key when absent. */
  privateKey?: PrivateKey
  /** Listen addresses. Default `['/ip4/127.0.0.1/tcp/0']`. */
  listen?: string[]
}

/**
 * Starts a libp2p node (TCP + Noise + Yamux) with the service inside and returns the service;
 * its `stop()` stops the node too.
 */
export async function createConsensusNet (init: CreateConsensusNetInit = {}): Promise<ConsensusNet> {
  const { privateKey, listen, ...netInit } = init
  let node: Libp2p<{ consensus: ConsensusNet }> | undefined
  node = await createLibp2p<{ consensus: ConsensusNet }>({
    privateKey,
    addresses: { listen: listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
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
