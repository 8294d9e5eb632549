/**
 * A peer that was held tentatively became a member: what it sent meanwhile is delivered, in
 * order, before anything its live stream brings (which can only arrive on a later I/O event).
 * Reliable messages are acknowledged on the stream that is still open, if any, and only those of
 * its writer's session: an acknowledgement for another session's numbers would make the writer
 * forget messages it has not delivered.
 */
import type { Held } from './tentative-receivers.ts'
import type { Receiver } from '../link/receiver.ts'
import type { Inbound } from '../link/frame-reader.ts'

/** `S`: the member's state, as the table keeps it. */
export interface Promotion<S> {
  readonly state: S
  readonly held: Held
  /** The peer's live stream, if it is still open. */
  readonly receiver: Receiver | undefined
  /** Some held reliable messages were lost (tentative-receivers.ts `Promoted.lostReliable`). */
  readonly lostReliable: boolean
}

export interface ReplayHost<S> {
  /** Where `state`'s frames go, arriving on `source` (undefined: acknowledged nowhere). */
  inbound: (state: S, source: Receiver | undefined) => Inbound
  /** `state` is still the member's, and the network started: a handler may have changed either. */
  current: (state: S) => boolean
  /** `n` held messages were not delivered. */
  dropped: (n: number) => void
}

export function replayHeld<S> (host: ReplayHost<S>, { state, held, receiver, lostReliable }: Promotion<S>): void {
  const inbound = host.inbound(state, receiver)
  const silent = host.inbound(state, undefined)
  // some were lost while held: delivering the rest would acknowledge the lost ones too, so the
  // writer is made to reconnect and send everything unacknowledged again
  if (lostReliable) receiver?.close('held reliable messages were lost: the writer sends them again')
  let session = -1
  for (let m = held.shift(); m != null; m = held.shift()) {
    if (!host.current(state)) {
      host.dropped(held.length + 1) // a handler removed the member or stopped
      break
    }
    if (m instanceof Uint8Array) {
      inbound.message(m)
    } else if (m.seq < 0) {
      inbound.channel(m.channel, m.data)
    } else if (lostReliable) {
      host.dropped(1)
    } else {
      if (m.session !== session) inbound.hello(session = m.session)
      if (receiver !== undefined && receiver.session === m.session) inbound.reliable(m.channel, m.seq, m.data)
      else silent.reliable(m.channel, m.seq, m.data)
    }
  }
  // the live stream's session, which the held entry heard and the router has not: its reliable
  // messages from now on are numbered in it
  if (receiver !== undefined && receiver.session !== -1 && host.current(state)) inbound.hello(receiver.session)
}
