/**
 * Defaults, chosen for a validator set of tens to a few hundred members exchanging messages of
 * up to a few MiB (votes, proposals with blocks). Every bound is per member or per tentative
 * peer, so the worst-case memory is a product docs/guarantees.md spells out ("Worst-case memory").
 */

/** Version 1.0.0: the default channel only. */
export const PROTOCOL = '/consensus-net/1.0.0'
/** Version 1.1.0: channels, requests and their answers (docs/wire.md). */
export const CHANNEL_PROTOCOL = '/consensus-net/1.1.0'

/** Messages queued per member before the oldest is dropped. */
export const SEND_BUFFER_SIZE = 16_384
/** Bytes queued per member before the oldest message is dropped. */
export const SEND_BUFFER_BYTES = 32 * 1024 * 1024
/** Largest message accepted by `send()` and by a receiver. */
export const MAX_MESSAGE_SIZE = 4 * 1024 * 1024
/** Peers that are not members whose recent traffic is held at once. */
export const MAX_TENTATIVE_RECEIVERS = 64
/** Messages held per tentative peer (the most recent ones). */
export const TENTATIVE_BUFFER_SIZE = 256
/** Bytes held per tentative peer (the most recent messages). */
export const TENTATIVE_BUFFER_BYTES = 4 * 1024 * 1024

/** Reconnect backoff: delay = min(maxDelay, initialDelay * factor^attempt) * (1 ± jitter). */
export const RECONNECT_INITIAL_DELAY = 50
export const RECONNECT_MAX_DELAY = 5_000
export const RECONNECT_FACTOR = 2
export const RECONNECT_JITTER = 0.2
/** A stream that stayed open this long was a success: the next failure starts from initialDelay again. */
export const STABLE_STREAM_MS = 1_000
/**
 * Of two members, the one with the higher peer ID waits this long for the other's connection
 * (quiet: no connection opened on the node meanwhile) before it dials itself (libp2p/dial-order.ts).
 */
export const DIAL_GRACE = 1_000
/** A dial, protocol negotiation included, that takes longer fails (and is retried with backoff). */
export const DIAL_TIMEOUT = 10_000

/**
 * Queued messages are packed into writes of up to this many bytes. The notes in shared/ measured
 * ~20x the throughput of one write per message at 64 KiB, and more at 256 KiB.
 */
export const MAX_WRITE_BYTES = 256 * 1024

/**
 * Per member, on a 1.1.0 stream: bytes written but not yet reported consumed by the receiver.
 * libp2p's backpressure lets 4-6 MiB pile up in yamux and socket buffers on loopback (measured),
 * all of it ahead of any urgent message; 1 MiB keeps that wait to a few ms at ~100-200 MB/s.
 */
export const MAX_BYTES_IN_FLIGHT = 1024 * 1024

/** A 1.1.0 link that reports nothing consumed for this long while we wait on it is dead (docs/guarantees.md, "Dead links"). */
export const DEAD_LINK_TIMEOUT = 5_000

/**
 * What libp2p holds of a paused inbound stream (link/receiver.ts pauses a stream while its bytes wait
 * their turn) before it resets it: libp2p's own default, kept for peers that are not members. A
 * member's stream may hold a whole yamux window (16 MiB) and a write: whatever its writer's own
 * window (FLOW) or none (1.0.0), the muxer's holds it, so an honest member is never reset.
 */
export const READ_BUFFER_BYTES = 4 * 1024 * 1024
export const YAMUX_MAX_WINDOW = 16 * 1024 * 1024

/** Inbound streams of our protocol one connection may open (one is used; the rest is slack for reconnect races). */
export const MAX_INBOUND_STREAMS = 8

/** How long an automatic block lasts, by default (`blockDuration`). */
export const BLOCK_DURATION = 10 * 60_000
