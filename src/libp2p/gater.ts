/**
 * A libp2p connection gater that refuses the peers the consensus service has blocked: it denies
 * dialling them and their connections as soon as their identity is known (after the encryption
 * handshake, the first point that authenticates it), and otherwise asks the gater it wraps.
 * `createConsensusNet` installs one; on your own node, give `connectionGater: consensusNetGater(yours)`
 * to `createLibp2p`, and the service finds it when it starts. Without it a blocked peer's
 * connection is closed as soon as it opens, one handshake later.
 */
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'

/** How the service finds the gater among the node's components, and tells it who is blocked. */
export const GATER_HOOK = Symbol.for('@consensus-net/gater')

export interface GaterHost {
  /** True if `peer` (a peer ID string) is blocked. */
  isBlocked: (peer: string) => boolean
  /** A connection was refused because its peer is blocked. */
  refused: () => void
}

export type ConsensusNetGater = ConnectionGater & { [GATER_HOOK]: (host: GaterHost | undefined) => void }

/** The methods of a gater passed through untouched (bound to the gater given). */
const PASSED = ['denyDialMultiaddr', 'denyInboundConnection', 'denyOutboundConnection', 'denyInboundUpgradedConnection', 'denyOutboundUpgradedConnection', 'denyInboundRelayReservation', 'denyOutboundRelayedConnection', 'denyInboundRelayedConnection', 'filterMultiaddrForPeer'] as const

/** A gater that refuses blocked peers, then asks `gater` (which may be a class instance: its methods are called on it). */
export function consensusNetGater (gater: ConnectionGater = {}): ConsensusNetGater {
  let host: GaterHost | undefined
  const blocked = (peerId: PeerId): boolean => {
    if (host?.isBlocked(peerId.toString()) !== true) return false
    host.refused()
    return true
  }
  const out: ConsensusNetGater = {
    denyDialPeer: async (peerId: PeerId) => blocked(peerId) || (await gater.denyDialPeer?.(peerId)) === true,
    denyInboundEncryptedConnection: async (peerId: PeerId, conn: MultiaddrConnection) => blocked(peerId) || (await gater.denyInboundEncryptedConnection?.(peerId, conn)) === true,
    denyOutboundEncryptedConnection: async (peerId: PeerId, conn: MultiaddrConnection) => blocked(peerId) || (await gater.denyOutboundEncryptedConnection?.(peerId, conn)) === true,
    [GATER_HOOK]: (h: GaterHost | undefined) => { host = h }
  }
  for (const name of PASSED) {
    const method = gater[name]
    if (typeof method === 'function') Object.assign(out, { [name]: method.bind(gater) })
  }
  return out
}
