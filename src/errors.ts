/**
 * Errors thrown or rejected by the public API. Each has a stable `name` to match on, since
 * `instanceof` breaks when two copies of the package are loaded.
 */

/** `send()` to a node ID that is not in the current membership (or before any `connect()`). */
export class UnknownNodeError extends Error {
  static override readonly name = 'UnknownNodeError'
  override readonly name = 'UnknownNodeError'
  readonly node: string

  constructor (node: string) {
    super(`node "${node}" is not a member`)
    this.node = node
  }
}

/** `send()`/`broadcast()` of a message longer than `maxMessageSize`: nothing was queued. */
export class MessageTooLargeError extends Error {
  static override readonly name = 'MessageTooLargeError'
  override readonly name = 'MessageTooLargeError'
  readonly size: number
  readonly maxMessageSize: number

  constructor (size: number, maxMessageSize: number) {
    super(`message of ${size} bytes exceeds maxMessageSize of ${maxMessageSize} bytes`)
    this.size = size
    this.maxMessageSize = maxMessageSize
  }
}

/** `connect()` was given a membership that cannot be applied; the previous one stays in force. */
export class InvalidMembershipError extends Error {
  static override readonly name = 'InvalidMembershipError'
  override readonly name = 'InvalidMembershipError'
  /** The offending entry's node ID, when the problem belongs to one entry. */
  readonly node?: string

  constructor (message: string, node?: string) {
    super(node == null ? `invalid membership: ${message}` : `invalid membership entry "${node}": ${message}`)
    this.node = node
  }
}

/** Any call before the service started or after `stop()`. */
export class NotStartedError extends Error {
  static override readonly name = 'NotStartedError'
  override readonly name = 'NotStartedError'

  constructor () {
    super('the consensus network is not started')
  }
}

/** Why an inbound stream was reset: it broke the wire format (see docs/wire.md, "Violations"). */
export class InvalidFrameError extends Error {
  static override readonly name = 'InvalidFrameError'
  override readonly name = 'InvalidFrameError'
  readonly reason: InvalidFrameReason

  constructor (reason: InvalidFrameReason) {
    super(`invalid frame: ${reason}`)
    this.reason = reason
  }
}

export type InvalidFrameReason = 'too-large' | 'malformed-length' | 'empty-frame' | 'unknown-kind' | 'truncated' | 'malformed-body' | 'unbound-channel' | 'too-many-channels' | 'overflow'

/** Why a request failed: see `RequestError`. */
export type RequestErrorCode =
  | 'timeout' // no answer (or, for a stream, no next part) within the timeout
  | 'dropped' // the request left the send queue before it was written, or the answer left the responder's
  | 'connection-lost' // the stream it was written to died before the answer came
  | 'busy' // too many requests in flight: the remote's `maxConcurrentRequests` for us, or our own `maxPendingRequests`
  | 'no-handler' // the remote has not opened the channel, has no handler on it, or speaks only 1.0.0
  | 'remote-error' // the remote handler threw: `message` is its message, cut to 1 KiB
  | 'too-large' // the request or the answer is larger than allowed
  | 'unknown-member' // not a member, or it left the membership while the request was in flight

/** A request failed; `code` says why. An aborted request rejects with its signal's reason instead. */
export class RequestError extends Error {
  static override readonly name = 'RequestError'
  override readonly name = 'RequestError'
  readonly code: RequestErrorCode

  constructor (code: RequestErrorCode, message?: string) {
    super(message ?? code)
    this.code = code
  }
}

/** Why a fetch failed: see `ResolveError`. */
export type ResolveErrorCode =
  | 'not-found' // every member asked answered "missing" (then negative-cached), or the negative cache says so
  | 'timeout' // no valid value in time: members timed out, failed or were unreachable
  | 'invalid' // every value received failed `validate`
  | 'no-members' // no member to ask
  | 'busy' // too many keys being fetched, or callers waiting on one key

/** `resolver.fetch()` failed; `code` says why. An aborted fetch rejects with its signal's reason instead. */
export class ResolveError extends Error {
  static override readonly name = 'ResolveError'
  override readonly name = 'ResolveError'
  readonly code: ResolveErrorCode

  constructor (code: ResolveErrorCode, message?: string) {
    super(message ?? code)
    this.code = code
  }
}
