/**
 * What every contender offers the worker process that hosts it: one network node that can reach
 * the other nodes of a run, send benchmark payloads to some of them (as fast as it goes, or at a
 * fixed rate) and hand every payload it receives to the worker. How a contender writes, paces and
 * frames is its own business: that is what is being measured.
 */

export type ContenderName = 'consensus-net' | 'raw-per-message' | 'raw-packed' | 'gossipsub' | 'gossipsub-nosign' | 'control'

export const CONTENDERS: Record<ContenderName, string> = {
  'consensus-net': 'this project (default settings)',
  'raw-per-message': 'raw libp2p, one send() per message',
  'raw-packed': 'raw libp2p, pre-packed 64 KiB writes (ceiling)',
  gossipsub: '@libp2p/gossipsub (StrictSign, default)',
  'gossipsub-nosign': '@libp2p/gossipsub (StrictNoSign)',
  control: 'no network: the same payload allocation loop, payloads discarded (memory control)'
}

export interface EndpointInit {
  /** This node's name in the run ('n0', 'n1', ...). */
  nodeId: string
  /** This node's index, carried in every payload it sends. */
  index: number
  /** Contender-specific options (this project: its init options). */
  options?: Record<string, unknown>
  /** Lift libp2p's per-host inbound connection rate limit (all peers are 127.0.0.1). */
  loopback?: boolean
}

export interface SendJob {
  trial: number
  /** Node ids to send to; more than one means a broadcast to all of them. */
  to: string[]
  count: number
  /** Payload bytes, header included. */
  size: number
  /** Messages per second offered; 0 means as fast as the contender goes. */
  rate: number
  /** Wall-clock ms after which sending stops even if `count` was not reached. */
  deadline: number
  /**
   * For senders that pace on their own queues (this project): wait while every destination's
   * queue is deep ('slowest', the default), while all but the deepest are ('all-but-slowest': a
   * quorum, as a consensus engine waits for 2f+1), or never ('none': drops are expected).
   */
  pace?: 'slowest' | 'all-but-slowest' | 'none'
}

export interface SendResult {
  sent: number
  startedAt: number
  /** When the last message left the contender's own queues (as far as it can tell). */
  endedAt: number
  /** Contender-specific counters (drops, stalls). */
  counters: Record<string, number>
}

export interface Endpoint {
  readonly nodeId: string
  /** Multiaddrs (with /p2p/) the others dial. */
  addrs(): string[]
  /**
   * Reach every peer (node id -> multiaddr; may include this node); resolves once sending can
   * start: to all of them, or (where the contender can tell) to `waitFor` nodes, itself included.
   */
  connect(peers: Record<string, string>, signal: AbortSignal, waitFor?: number): Promise<void>
  send(job: SendJob, signal: AbortSignal): Promise<SendResult>
  stats(): Record<string, unknown>
  stop(): Promise<void>
}

export type OnPayload = (payload: Uint8Array) => void

export type EndpointFactory = (init: EndpointInit, onPayload: OnPayload) => Promise<Endpoint>
