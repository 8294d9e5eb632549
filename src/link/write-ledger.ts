/**
 * What each write carried, until the receiver reports it consumed (FLOW): when a 1.1.0 stream
 * dies, the messages of every write not yet covered count as `lost` on their lanes (a write
 * partly consumed counts whole). Reliable lanes keep their own account (acknowledgements).
 */
import { isMessage } from '../queue/envelope.ts'
import type { Lane } from '../queue/lane.ts'
import type { Lanes } from '../queue/lanes.ts'
import type { WritePacker } from './packer.ts'

export class WriteLedger {
  /**
   * `lost`, on a 1.1.0 stream: the writes that carried messages of lanes that are not reliable and
   * that the receiver has not reported consumed, oldest first from `#writeHead`: where each ends
   * in the stream and how many lanes it carried messages of; per such lane, from `#markHead`, the
   * lane and its `onStream` after that write (which becomes its `confirmed` once FLOW covers the
   * write). Per write, not per message; as many writes as are in flight.
   */
  readonly #writeEnd: number[] = []
  readonly #writeLanes: number[] = []
  #writeHead = 0
  readonly #markLane: Lane[] = []
  readonly #markCount: number[] = []
  #markHead = 0

  /**
   * Counts the write `packer` just made (or that was refused) and tells envelope owners; with
   * `track` (a 1.1.0 stream) remembers what it carried until FLOW covers `end`, where it ends.
   */
  settle (packer: WritePacker, written: boolean, track: boolean, end: number): void {
    const marks = this.#markLane.length
    for (const lane of packer.touched) {
      if (written) {
        lane.sent += lane.writing
        if (track && !lane.spec.reliable) this.#carried(lane, lane.writing, marks)
      } else if (!lane.spec.reliable) {
        lane.dropped += lane.writing // a reliable message stays unacknowledged: written again on the next stream
      }
      lane.writing = 0
    }
    const envelopes = packer.envelopes
    for (let i = 0; i < envelopes.length; i++) {
      const e = envelopes[i]
      const lane = packer.envelopeLanes[i]
      if (written) {
        lane.sent++
        if (track && !lane.spec.reliable && isMessage(e)) this.#carried(lane, 1, marks)
        e.owner?.written?.(e)
      } else {
        lane.dropped++
        e.owner?.discarded(e, 'lost')
      }
    }
    packer.touched.length = 0
    envelopes.length = 0
    packer.envelopeLanes.length = 0
    const lanes = this.#markLane
    if (lanes.length > marks) {
      for (let i = marks; i < lanes.length; i++) this.#markCount.push(lanes[i].onStream)
      this.#writeEnd.push(end)
      this.#writeLanes.push(lanes.length - marks)
    }
  }

  /** The write being settled carried `n` messages of `lane` (entries of this write start at `from`). */
  #carried (lane: Lane, n: number, from: number): void {
    lane.onStream += n
    const lanes = this.#markLane
    for (let i = from; i < lanes.length; i++) if (lanes[i] === lane) return
    lanes.push(lane)
  }

  /** The receiver reported `consumed` bytes: the writes that end within them are confirmed. */
  confirm (consumed: number): void {
    const ends = this.#writeEnd
    let w = this.#writeHead
    if (w === ends.length || ends[w] > consumed) return
    const counts = this.#writeLanes
    const lanes = this.#markLane
    const marks = this.#markCount
    let m = this.#markHead
    do {
      for (let k = counts[w]; k > 0; k--, m++) lanes[m].confirmed = marks[m]
      w++
    } while (w < ends.length && ends[w] <= consumed)
    if (w === ends.length) {
      this.forget()
      return
    }
    this.#writeHead = w
    this.#markHead = m
    // a receiver that always lags keeps some writes unconfirmed: drop the confirmed ones now and then
    if (w >= 1024 && w * 2 >= ends.length) {
      ends.splice(0, w)
      counts.splice(0, w)
      lanes.splice(0, m)
      marks.splice(0, m)
      this.#writeHead = 0
      this.#markHead = 0
    }
  }

  /** The stream died: the messages of every write its receiver did not report consumed are lost (a write partly consumed counts whole). */
  countLost (lanes: Lanes): void {
    for (const lane of lanes.ordered) {
      lane.lost += lane.onStream - lane.confirmed
      lane.onStream = 0
      lane.confirmed = 0
    }
    this.forget()
  }

  forget (): void {
    this.#writeEnd.length = 0
    this.#writeLanes.length = 0
    this.#markLane.length = 0
    this.#markCount.length = 0
    this.#writeHead = 0
    this.#markHead = 0
  }
}
