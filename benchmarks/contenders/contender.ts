/**
 * What every contender offers the worker process that hosts it: one network node that can reach
 * the other nodes of a run, send benchmark payloads to some of them (as fast as it goes, or at a
 * fixed rate) and hand every payload it receives to the worker. How a contender writes, paces and
 * frames is its own business: that is what is being measured.
 */

export type ContenderName = 'consensus-net' | 'consensus-net-handler' | 'raw-per-message' | 'raw-packed' | 'raw-stream-per-request' | 'gossipsub' | 'gossipsub-nosign' | 'control'

export const CONTENDERS: Record<ContenderName, string> = {
  'consensus-net': 'this project (default settings), receiving through the \'message\' event',
  'consensus-net-handler': 'this project (default settings), receiving through net.onMessage / channel.onMessage (the lean path)',
  'raw-per-message': 'raw libp2p, one send() per message',
  'raw-packed': 'raw libp2p, pre-packed 64 KiB writes (ceiling)',
  'raw-stream-per-request': 'raw libp2p request/response, one stream per request (dialProtocol, write, close, read: as in Lodestar\'s reqresp)',
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
  /** Channels this node opens at start (this project; both sides of a channel must open it). */
  channels?: ChannelSpec[]
  /** The resolver scenario's key-value service (this project). */
  resolver?: ResolverSpec
  /**
   * Request/response contenders: answer every request with this many bytes, the request's
   * header copied in (on every channel of `channels` that has `serve`, for this project).
   */
  respond?: number
}

/** A channel of this project's `net.channel(name, options)`, as a benchmark node opens it. */
export interface ChannelSpec {
  name: string
  /** 0 (most urgent) to 7. */
  priority: number
  /** Inbound requests served at once per member (this project's default is 16). */
  maxConcurrentRequests?: number
  /** Answer requests on this channel (with EndpointInit.respond bytes). */
  serve?: boolean
  /** A reliable channel (`{ reliable: true }`): exactly-once, in order, across reconnects. */
  reliable?: boolean
  /** Answer requests on this channel with a stream of parts of this many bytes, for as long as the requester takes them. */
  parts?: number
}

/**
 * The key-value service of the resolver scenario, opened on every node: a resolver with default
 * options (`name`), the same with `hedge: false` (`name`-nohedge), and, for the naive baseline, a
 * plain channel (`name`-naive) whose handler produces every request it gets. Every node serves
 * every key: `produce` sleeps `produceMs` (EndpointInit options may change it per node later),
 * then answers `valueSize` bytes that start with the key.
 */
export interface ResolverSpec {
  name: string
  valueSize: number
  produceMs: number
}

export type FetchMode = 'resolver' | 'resolver-nohedge' | 'naive'

export interface FetchJob {
  mode: FetchMode
  /** In order; `to` is the member a naive fetch asks (the resolver chooses its own). */
  fetches: Array<{ key: string, to: string }>
  /** Fetches outstanding at once (closed loop). */
  concurrency: number
  /** Per fetch, ms. */
  timeoutMs: number
  /** Wall-clock ms after which no fetch is issued. */
  deadline: number
}

export interface FetchResult {
  issued: number
  /** With the right value (it starts with its key and has the right size). */
  succeeded: number
  failed: number
  errors: Record<string, number>
  startedAt: number
  endedAt: number
  /** Time of each succeeded fetch, ms, in completion order. */
  latencies: Float64Array
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
  /**
   * For senders that pace on their own queues: the depth in messages kept queued (default
   * PACE_QUEUED). With a large count and a deadline, a flood that keeps the queue this deep.
   */
  queued?: number
  /** Send on this channel (one of EndpointInit.channels); the default channel when absent. */
  channel?: string
}

export interface RequestJob {
  trial: number
  /** The node id requests go to. */
  to: string
  /** Requests issued in total. */
  count: number
  /** Request bytes, header included (the response size is the responder's EndpointInit.respond). */
  size: number
  /**
   * Requests per second offered (open loop, at most `concurrency` outstanding); 0: closed loop,
   * exactly `concurrency` outstanding, each one issued when another completes.
   */
  rate: number
  concurrency: number
  /** Per request, ms. */
  timeoutMs: number
  /** Wall-clock ms after which no request is issued. */
  deadline: number
  /** Request on this channel (one of EndpointInit.channels; this project). */
  channel?: string
}

export interface RequestResult {
  issued: number
  /** Answered by the response to this very request (its header carried back). */
  succeeded: number
  failed: number
  /** Failures by error code (or name). */
  errors: Record<string, number>
  /** Fixed rate: times a due request waited because `concurrency` requests were outstanding. */
  capped: number
  startedAt: number
  /** When the last request completed. */
  endedAt: number
  /** Round trip of each succeeded request, ms, in completion order. */
  latencies: Float64Array
}

export interface SendResult {
  sent: number
  startedAt: number
  /** When the last message left the contender's own queues (as far as it can tell). */
  endedAt: number
  /** Contender-specific counters (drops, stalls). */
  counters: Record<string, number>
  /** CPU ms spent preparing before `startedAt` (the pre-packed ceiling's packing): not counted in the trial's CPU. */
  setupCpuMs?: number
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
  /** Request/response contenders: run the job's requests and time each round trip. */
  request?(job: RequestJob, signal: AbortSignal): Promise<RequestResult>
  /** Key-value contenders: run the job's fetches and time each one. */
  fetch?(job: FetchJob, signal: AbortSignal): Promise<FetchResult>
  /** Key-value contenders: from now on `produce` (and the naive handler) sleeps this long. */
  setProduceDelay?(ms: number): void
  stats(): Record<string, unknown>
  stop(): Promise<void>
}

export type OnPayload = (payload: Uint8Array) => void

export type EndpointFactory = (init: EndpointInit, onPayload: OnPayload) => Promise<Endpoint>
