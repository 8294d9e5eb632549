/**
 * A membership is validated whole before anything changes, then compared with the one in force
 * as a plain diff (removed / added / moved) that the network applies in one synchronous step.
 * Identity is the peer ID inside each address; the address is only how to reach the peer.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, isMultiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvalidMembershipError } from './errors.ts'
import type { PeerId } from '@libp2p/interface'

export type NodeId = string
export type Addr = string | Multiaddr
export type Membership = Record<NodeId, Addr | Addr[]> | Map<NodeId, Addr | Addr[]>

export interface Member {
  readonly node: NodeId
  readonly peerId: PeerId
  /** `peerId.toString()`, the key inbound streams are looked up by. */
  readonly peer: string
  readonly addrs: readonly Multiaddr[]
}

export interface ParsedMembership {
  readonly members: ReadonlyMap<NodeId, Member>
  readonly nodeByPeer: ReadonlyMap<string, NodeId>
  /** This node's own node ID, if its peer ID is in the membership. */
  readonly self?: NodeId
}

export const EMPTY_MEMBERSHIP: ParsedMembership = { members: new Map(), nodeByPeer: new Map() }

/** Validates all of `input`; throws `InvalidMembershipError` naming the first bad entry. */
export function parseMembership (input: Membership, selfPeer: string): ParsedMembership {
  // an array would pass as an object of node IDs '0', '1', ...: surely not what was meant
  if (input == null || typeof input !== 'object' || Array.isArray(input)) throw new InvalidMembershipError('expected a Map or an object of node ID -> address(es)')
  const entries = input instanceof Map ? [...input.entries()] : Object.entries(input)
  const members = new Map<NodeId, Member>()
  const nodeByPeer = new Map<string, NodeId>()
  let self: NodeId | undefined

  for (const [node, value] of entries) {
    if (typeof node !== 'string' || node === '') throw new InvalidMembershipError('node IDs must be non-empty strings', String(node))
    const list = Array.isArray(value) ? value : [value]
    if (list.length === 0) throw new InvalidMembershipError('no address', node)
    let peer: string | undefined
    let peerId: PeerId | undefined
    const addrs: Multiaddr[] = []
    for (const a of list) {
      const ma = toMultiaddr(a, node)
      const id = parsePeerId(peerOf(ma, node), node)
      const p = id.toString()
      if (peer == null) {
        peer = p
        peerId = id
      } else if (p !== peer) {
        throw new InvalidMembershipError(`addresses name two peer IDs, ${peer} and ${p}`, node)
      }
      addrs.push(ma)
    }
    const other = nodeByPeer.get(peer!)
    if (other != null) throw new InvalidMembershipError(`peer ID ${peer} is already node "${other}"`, node)
    nodeByPeer.set(peer!, node)
    members.set(node, { node, peerId: peerId!, peer: peer!, addrs })
    if (peer === selfPeer) self = node
  }
  return { members, nodeByPeer, self }
}

export interface MembershipDiff {
  /** Node IDs that left, or whose peer ID changed (the old identity left). */
  readonly removed: NodeId[]
  /** Node IDs that joined, or whose peer ID changed (the new identity joined). */
  readonly added: NodeId[]
  /** Node IDs with the same peer ID at other addresses. */
  readonly moved: NodeId[]
}

export function diffMembership (prev: ParsedMembership, next: ParsedMembership): MembershipDiff {
  const removed: NodeId[] = []
  const added: NodeId[] = []
  const moved: NodeId[] = []
  for (const [node, old] of prev.members) {
    const now = next.members.get(node)
    if (now == null || now.peer !== old.peer) removed.push(node)
    else if (!sameAddrs(old.addrs, now.addrs)) moved.push(node)
  }
  for (const [node, now] of next.members) {
    const old = prev.members.get(node)
    if (old == null || old.peer !== now.peer) added.push(node)
  }
  return { removed, added, moved }
}

function sameAddrs (a: readonly Multiaddr[], b: readonly Multiaddr[]): boolean {
  return a.length === b.length && a.every((ma, i) => ma.equals(b[i]))
}

function toMultiaddr (a: unknown, node: NodeId): Multiaddr {
  if (isMultiaddr(a)) return a
  if (typeof a !== 'string') throw new InvalidMembershipError(`address ${String(a)} is neither a string nor a Multiaddr`, node)
  try {
    return multiaddr(a)
  } catch (err: any) {
    throw new InvalidMembershipError(`address "${a}" does not parse: ${err.message}`, node)
  }
}

function peerOf (ma: Multiaddr, node: NodeId): string {
  let peer: string | undefined
  for (const c of ma.getComponents()) if (c.name === 'p2p') peer = c.value
  if (peer == null) throw new InvalidMembershipError(`address "${ma.toString()}" has no /p2p/<peerId>`, node)
  return peer
}

function parsePeerId (peer: string, node: NodeId): PeerId {
  try {
    return peerIdFromString(peer)
  } catch (err: any) {
    throw new InvalidMembershipError(`"${peer}" is not a valid peer ID: ${err.message}`, node)
  }
}
