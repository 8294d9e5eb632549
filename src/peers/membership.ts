/**
 * A membership is validated whole before anything changes, then compared with the one in force
 * as a plain diff (removed / added / moved) that the network applies in one synchronous step.
 * Identity is the peer the transport reads in each address (libp2p: the peer ID after /p2p/);
 * the address is only how to reach the peer. The core sees peers as opaque keys.
 */
import { InvalidMembershipError } from '../errors.ts'
import type { PeerAddress } from '../link/transport.ts'
import type { NodeId } from '../types.ts'

export type { NodeId }
/** A member's address: a string, or what the transport takes as one (libp2p: a Multiaddr). */
export type Addr = string | { toString: () => string }
export type Membership = Record<NodeId, Addr | Addr[]> | Map<NodeId, Addr | Addr[]>

export interface Member {
  readonly node: NodeId
  /** The peer key inbound streams are looked up by (libp2p: the peer ID's string form). */
  readonly peer: string
  /** The transport's addresses, in the membership's order. */
  readonly addrs: readonly unknown[]
  /** Their canonical forms: two address lists are the same if these are. */
  readonly keys: readonly string[]
}

export interface ParsedMembership {
  readonly members: ReadonlyMap<NodeId, Member>
  readonly nodeByPeer: ReadonlyMap<string, NodeId>
  /** This node's own node ID, if its peer is in the membership. */
  readonly self?: NodeId
}

export const EMPTY_MEMBERSHIP: ParsedMembership = { members: new Map(), nodeByPeer: new Map() }

/**
 * Validates all of `input`, each address read by `parse` (the transport's); throws
 * `InvalidMembershipError` naming the first bad entry.
 */
export function parseMembership (input: Membership, selfPeer: string, parse: (addr: unknown) => PeerAddress): ParsedMembership {
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
    const addrs: unknown[] = []
    const keys: string[] = []
    for (const a of list) {
      let parsed: PeerAddress
      try {
        parsed = parse(a)
      } catch (err: any) {
        throw new InvalidMembershipError(err?.message ?? String(err), node)
      }
      if (peer == null) peer = parsed.peer
      else if (parsed.peer !== peer) throw new InvalidMembershipError(`addresses name two peer IDs, ${peer} and ${parsed.peer}`, node)
      addrs.push(parsed.addr)
      keys.push(parsed.key)
    }
    const other = nodeByPeer.get(peer!)
    if (other != null) throw new InvalidMembershipError(`peer ID ${peer} is already node "${other}"`, node)
    nodeByPeer.set(peer!, node)
    members.set(node, { node, peer: peer!, addrs, keys })
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
    else if (!sameAddrs(old.keys, now.keys)) moved.push(node)
  }
  for (const [node, now] of next.members) {
    const old = prev.members.get(node)
    if (old == null || old.peer !== now.peer) added.push(node)
  }
  return { removed, added, moved }
}

function sameAddrs (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i])
}
