/**
 * A network's options: the init a user gives (`ConsensusNetInit`), its defaults (constants.ts)
 * and its validation, once, into the `Config` every layer reads.
 */
import * as defaults from './constants.ts'
import { nonNegativeInt, positiveInt, timerMs } from './validate.ts'

export interface ReconnectOptions {
  /** Delay before the first retry, ms. */
  initialDelay: number
  /** Cap on any delay, ms. */
  maxDelay: number
  /** Growth per failed attempt. */
  factor: number
  /** Fraction of the delay added or removed at random: 0.2 spreads retries over ±20%. */
  jitter: number
}

export interface ConsensusNetInit {
  /** Protocol ID of version 1.0.0 (the default channel only). Default `/consensus-net/1.0.0`. */
  protocol?: string
  /** Protocol ID of version 1.1.0 (channels and requests), preferred when both sides have it; `''` turns it off. Default `/consensus-net/1.1.0`. */
  channelProtocol?: string
  /** Messages queued per member before the oldest is dropped. Default 16,384. */
  sendBufferSize?: number
  /** Bytes queued per member before the oldest is dropped. Default 32 MiB. */
  sendBufferBytes?: number
  /** Largest message sent or accepted. Default 4 MiB (less if a buffer bound is smaller); at most `sendBufferBytes` and `tentativeBufferBytes`. */
  maxMessageSize?: number
  /** Peers that are not members held at once. Default 64. */
  maxTentativeReceivers?: number
  /** Most recent messages held per tentative peer. Default 256. */
  tentativeBufferSize?: number
  /** Bytes held per tentative peer. Default 4 MiB. */
  tentativeBufferBytes?: number
  /** Reconnect backoff. Defaults: 50 ms initial, 5 s max, factor 2, jitter 0.2; delays at most 2^31-1 ms (a timer's longest). */
  reconnect?: Partial<ReconnectOptions>
  /** Queued messages are packed into writes of up to this many bytes. Default 256 KiB. */
  maxWriteBytes?: number
  /**
   * Per member, with a 1.1.0 peer: bytes written but not yet reported consumed by its receiver,
   * at most (one write may go past it). What waits beyond it stays in the lanes, where priorities
   * act. Default 1 MiB.
   */
  maxBytesInFlight?: number
  /**
   * With a 1.1.0 peer: a member's link that reports nothing consumed for this many ms while we
   * wait on it is declared dead ('peer:down') and redialled on a new connection; an idle link is
   * probed with a heartbeat every `deadLinkTimeout / 2`. 0 turns it off. Default 5 s; at most 2^31-1 ms.
   */
  deadLinkTimeout?: number
  /** Inbound streams of the protocol allowed per connection. Default 8. */
  maxInboundStreams?: number
  /**
   * ms a peer that is not a member is blocked for once its streams were reset for breaking the
   * wire format 3 times within a minute; 0 turns that off. Default 10 min.
   */
  blockDuration?: number
  /**
   * Bytes per second each member's stream is read at, at most (a burst of one second's worth);
   * beyond, its stream waits paused, so a member flooding valid frames costs this node no more
   * than that. Non-members together are read at `tentativeBufferBytes` per second. Default: none.
   */
  maxReceiveRate?: number
  /**
   * Of two members, the one with the higher peer ID waits this many ms for the other's connection
   * (while no connection opens on the node) before it dials itself; 0: it dials at once (two
   * members dialling each other at the same moment may then keep two connections). Default
   * 1,000; at most 2^31-1.
   */
  dialGrace?: number
}

/** `ConsensusNetInit` resolved: every default filled in, every value checked. */
export interface Config {
  readonly protocol: string
  readonly channelProtocol: string
  readonly sendBufferSize: number
  readonly sendBufferBytes: number
  readonly maxMessageSize: number
  readonly maxTentativeReceivers: number
  readonly tentativeBufferSize: number
  readonly tentativeBufferBytes: number
  readonly reconnect: ReconnectOptions
  readonly maxWriteBytes: number
  readonly maxBytesInFlight: number
  readonly deadLinkTimeout: number
  readonly maxInboundStreams: number
  readonly blockDuration: number
  readonly maxReceiveRate: number | undefined
  readonly dialGrace: number
}

/** Fills in the defaults and checks every value: `RangeError` (or `TypeError`) naming the first bad one. */
export function resolveConfig (init: ConsensusNetInit): Config {
  const sendBufferSize = positiveInt('sendBufferSize', init.sendBufferSize ?? defaults.SEND_BUFFER_SIZE)
  const sendBufferBytes = positiveInt('sendBufferBytes', init.sendBufferBytes ?? defaults.SEND_BUFFER_BYTES)
  const tentativeBufferBytes = positiveInt('tentativeBufferBytes', init.tentativeBufferBytes ?? defaults.TENTATIVE_BUFFER_BYTES)
  const maxMessageSize = nonNegativeInt('maxMessageSize', init.maxMessageSize ?? Math.min(defaults.MAX_MESSAGE_SIZE, sendBufferBytes, tentativeBufferBytes))
  if (maxMessageSize > sendBufferBytes) throw new RangeError(`maxMessageSize (${maxMessageSize}) must not exceed sendBufferBytes (${sendBufferBytes})`)
  const maxWriteBytes = positiveInt('maxWriteBytes', init.maxWriteBytes ?? defaults.MAX_WRITE_BYTES)
  const maxBytesInFlight = positiveInt('maxBytesInFlight', init.maxBytesInFlight ?? defaults.MAX_BYTES_IN_FLIGHT)
  const deadLinkTimeout = timerMs('deadLinkTimeout', nonNegativeInt('deadLinkTimeout', init.deadLinkTimeout ?? defaults.DEAD_LINK_TIMEOUT), 0)
  const maxInboundStreams = positiveInt('maxInboundStreams', init.maxInboundStreams ?? defaults.MAX_INBOUND_STREAMS)
  const reconnect = {
    initialDelay: timerMs('reconnect.initialDelay', init.reconnect?.initialDelay ?? defaults.RECONNECT_INITIAL_DELAY),
    maxDelay: timerMs('reconnect.maxDelay', init.reconnect?.maxDelay ?? defaults.RECONNECT_MAX_DELAY),
    factor: init.reconnect?.factor ?? defaults.RECONNECT_FACTOR,
    jitter: init.reconnect?.jitter ?? defaults.RECONNECT_JITTER
  }
  const r = reconnect
  if (!(r.initialDelay >= 1 && r.maxDelay >= r.initialDelay && r.factor >= 1 && r.jitter >= 0 && r.jitter <= 1)) {
    throw new RangeError(`reconnect needs initialDelay >= 1 ms, maxDelay >= initialDelay, factor >= 1 and 0 <= jitter <= 1, got ${JSON.stringify(r)}`)
  }
  if (maxMessageSize > tentativeBufferBytes) throw new RangeError(`maxMessageSize (${maxMessageSize}) must not exceed tentativeBufferBytes (${tentativeBufferBytes})`)
  const maxTentativeReceivers = nonNegativeInt('maxTentativeReceivers', init.maxTentativeReceivers ?? defaults.MAX_TENTATIVE_RECEIVERS)
  const tentativeBufferSize = positiveInt('tentativeBufferSize', init.tentativeBufferSize ?? defaults.TENTATIVE_BUFFER_SIZE)
  const maxReceiveRate = init.maxReceiveRate === undefined ? undefined : positiveInt('maxReceiveRate', init.maxReceiveRate)
  const dialGrace = timerMs('dialGrace', init.dialGrace ?? defaults.DIAL_GRACE, 0)
  const blockDuration = timerMs('blockDuration', init.blockDuration ?? defaults.BLOCK_DURATION, 0)
  return {
    protocol: init.protocol ?? defaults.PROTOCOL,
    channelProtocol: init.channelProtocol ?? defaults.CHANNEL_PROTOCOL,
    sendBufferSize,
    sendBufferBytes,
    maxMessageSize,
    maxTentativeReceivers,
    tentativeBufferSize,
    tentativeBufferBytes,
    reconnect,
    maxWriteBytes,
    maxBytesInFlight,
    deadLinkTimeout,
    maxInboundStreams,
    blockDuration,
    maxReceiveRate,
    dialGrace
  }
}

/** The protocols a network proposes (1.1.0 first) and handles. */
export function protocolsOf (config: Config): string[] {
  return config.channelProtocol === '' ? [config.protocol] : [config.channelProtocol, config.protocol]
}
