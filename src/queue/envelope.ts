/**
 * What a lane queues. A plain message is queued as its bytes. Anything more (a key, a deadline, a
 * request or an answer to one, a control frame) is queued as an Envelope, whose owner hears
 * whether it was written or why not.
 */
import { FRAME_CHANNEL, FRAME_MESSAGE } from '../wire/frames.ts'

/** Why an envelope left its lane unwritten. */
export type Discard =
  | 'dropped' // the lane overflowed (drop-oldest)
  | 'expired' // its deadline passed while queued
  | 'lost' // it was in a write the stream refused: the stream is dying
  | 'closed' // the member left, or the network stopped
  | 'unsupported' // the member speaks only 1.0.0, which has no channels or requests

export interface EnvelopeOwner {
  /** Handed to the stream. */
  written?: (e: Envelope) => void
  /** Left the lane unwritten; not called for a cancelled envelope. */
  discarded: (e: Envelope, why: Discard) => void
}

export class Envelope {
  /** A FRAME_* kind of wire/frames.ts; plain messages with a key or deadline use FRAME_CHANNEL (FRAME_MESSAGE on the default channel). */
  readonly kind: number
  data: Uint8Array
  /** Request id, or -1. */
  readonly id: number
  /** Error code or credit, or -1. */
  readonly n: number
  readonly key: string | undefined
  /** Epoch ms after which it is not written; Infinity for none. */
  deadline: number
  readonly owner: EnvelopeOwner | undefined
  /** Taken back by its owner: skipped when its turn comes, and not counted. */
  cancelled = false

  constructor (kind: number, data: Uint8Array, id: number, n: number, key: string | undefined, deadline: number, owner: EnvelopeOwner | undefined) {
    this.kind = kind
    this.data = data
    this.id = id
    this.n = n
    this.key = key
    this.deadline = deadline
    this.owner = owner
  }

  get byteLength (): number {
    return this.data.byteLength
  }
}

export type Item = Uint8Array | Envelope

/** A message (not a request, an answer or a control frame): what a reliable lane numbers and keeps, and what `lost` counts. */
export function isMessage (item: Item): boolean {
  return item instanceof Uint8Array || item.kind === FRAME_CHANNEL || item.kind === FRAME_MESSAGE
}
