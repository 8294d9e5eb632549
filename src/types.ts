/** Types shared by every layer: what the public API hands out. No code. */
import type { InvalidFrameReason } from './errors.ts'

/** An engine's name for a member (any non-empty string); the membership maps it to addresses. */
export type NodeId = string

/** A signal that cancels the call. */
export interface AbortOptions {
  signal?: AbortSignal
}

export type BlockReason = 'manual' | 'violations'

export interface BlockedPeer {
  /** The peer ID. */
  peer: string
  /** Its node ID, if it is a member. */
  node?: NodeId
  /** When the block ends, on the network's clock (epoch ms on the system clock); absent: until `unblock`. */
  until?: number
  reason: BlockReason
}

export interface MessageDetail {
  from: NodeId
  /** The message; may be a view into a larger receive buffer: copy it to keep many for long. */
  data: Uint8Array
}

/** A receive callback: `net.onMessage(handler)`, `channel.onMessage(handler)`. */
export type MessageHandler = (from: NodeId, data: Uint8Array) => void

export interface PeerDetail {
  node: NodeId
}

export interface ConsensusNetEvents {
  message: CustomEvent<MessageDetail>
  /** A member's outgoing stream opened. */
  'peer:up': CustomEvent<PeerDetail>
  /** A member's outgoing stream closed. */
  'peer:down': CustomEvent<PeerDetail>
  /** A peer was blocked: by `block()`, or automatically for breaking the wire format. */
  'peer:blocked': CustomEvent<BlockedPeer>
}

/** Per member, over every channel (the default one included); per channel: `channel.stats()`. */
export interface MemberStats {
  /** An outgoing stream is open (always true for this node itself). */
  connected: boolean
  /** Messages (and requests and answers) waiting in the send queues. */
  queued: number
  /** Handed to the stream (for this node itself: delivered locally). */
  sent: number
  /** Dropped from a send queue (oldest first), refused by a closing stream, or on a channel a 1.0.0 member does not have. */
  dropped: number
  /**
   * Messages written to a stream that died before the member reported reading them (1.1.0 only;
   * not on reliable channels); may include some that did arrive.
   */
  lost: number
  /** Outgoing streams re-opened after one was lost. */
  reconnects: number
  /** Messages delivered from this member, held ones included once promoted. */
  received: number
}

export interface TentativeStats {
  /** Peers held. */
  receivers: number
  /** Messages held. */
  buffered: number
  /** Messages discarded: by a full buffer, an eviction, or a handler that removed the peer while its held messages were being emitted. */
  dropped: number
  /** Peers evicted because too many were held. */
  evicted: number
  /** Peers promoted to members. */
  promoted: number
}

export interface ConsensusNetStats {
  members: Record<NodeId, MemberStats>
  tentative: TentativeStats
  /** Inbound streams reset for breaking the wire format. */
  invalidFrames: number
  /** The same, by what was broken. */
  invalidFramesByReason: Partial<Record<InvalidFrameReason, number>>
  /** Peers blocked now. */
  blocked: number
  /** Connections and streams refused or closed because their peer is blocked. */
  refusedConnections: number
  /** Frames for a channel this node has not opened: messages dropped, requests answered `no-handler`. */
  unknownChannel: number
  /** Answers dropped: to a request that had timed out, been aborted or failed, or from a member other than the one asked. */
  lateReplies: number
}
