/**
 * This node's messages to itself: the same lanes as a Dispatcher (bounds, keys, deadlines,
 * drops, counters), delivered on a later microtask through the same Inbound a member's stream
 * uses, the most urgent lane first. A pass delivers at most as many messages as were queued
 * when it started, so a listener that keeps sending to itself cannot hold it forever; what a
 * listener queues meanwhile on a more urgent lane may go ahead of an older message, which then
 * waits for the next pass.
 */
import { FRAME_CANCEL, FRAME_CHANNEL, FRAME_CREDIT, FRAME_MESSAGE, FRAME_REQUEST } from '../wire/frames.ts'
import { DEFAULT_CHANNEL, Lanes } from '../queue/lanes.ts'
import type { Lane, LaneSpec } from '../queue/lane.ts'
import { Envelope } from '../queue/envelope.ts'
import type { Inbound } from './frame-reader.ts'
import type { Clock } from '../clock.ts'

export class Loopback {
  readonly lanes = new Lanes()
  readonly default: Lane
  readonly connected = true
  readonly reconnects = 0
  readonly #inbound: Inbound
  #scheduled = false
  #closed = false

  readonly #clock: Clock

  constructor (defaultLane: LaneSpec, controlLane: LaneSpec, inbound: Inbound, clock: Clock) {
    this.#clock = clock
    this.default = this.lanes.open(defaultLane)
    this.lanes.open(controlLane)
    this.#inbound = inbound
  }

  send (data: Uint8Array): void {
    if (this.#closed) return
    this.default.push(data)
    this.schedule()
  }

  schedule (): void {
    if (this.#scheduled || this.#closed) return
    this.#scheduled = true
    queueMicrotask(this.#deliver)
  }

  close (): void {
    this.#closed = true
    this.lanes.clear('closed')
  }

  readonly #deliver = (): void => {
    this.#scheduled = false
    const now = this.#clock.now()
    let n = 0
    for (const lane of this.lanes.ordered) n += lane.length
    while (n-- > 0 && !this.#closed) {
      let lane: Lane | undefined
      let item
      for (lane of this.lanes.ordered) if ((item = lane.peek(now)) !== undefined) break
      if (item === undefined || lane === undefined) return
      item = lane.shift()
      if (lane.seq >= 0) lane.ack(lane.seq) // delivered in process: nothing to write again
      lane.sent++
      if (item instanceof Envelope) item.owner?.written?.(item)
      deliver(this.#inbound, lane, item)
    }
  }
}

function deliver (inbound: Inbound, lane: Lane, item: Uint8Array | Envelope): void {
  const kind = item instanceof Uint8Array ? FRAME_CHANNEL : item.kind
  const data = item instanceof Uint8Array ? item : item.data
  if (kind === FRAME_CHANNEL || kind === FRAME_MESSAGE) {
    if (lane.spec.channel === DEFAULT_CHANNEL) inbound.message(data)
    else inbound.channel(lane.spec.name, data)
  } else if (kind === FRAME_REQUEST) {
    inbound.request(lane.spec.name, (item as Envelope).id, data)
  } else if (kind === FRAME_CANCEL || kind === FRAME_CREDIT) {
    inbound.control(kind, (item as Envelope).id, (item as Envelope).n)
  } else {
    inbound.reply(kind, (item as Envelope).id, (item as Envelope).n, data)
  }
}
