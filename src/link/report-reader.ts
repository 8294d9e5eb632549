/**
 * The reverse direction of a 1.1.0 stream, as its writer reads it: FLOW, ACK and HELLO_BACK only
 * (docs/wire.md); the receiver writes them (flow-report.ts).
 */
import { FRAME_ACK, FRAME_FLOW, FRAME_HELLO_BACK, MAX_KIND_REVERSE, readVarint, varintEnd } from '../wire/frames.ts'
import { FrameDecoder } from '../wire/decoder.ts'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Reports {
  /** `total` bytes of the stream were consumed. */
  flow: (total: number) => void
  /** Reliable messages of `channel` up to `seq` were delivered. */
  ack: (channel: number, seq: number) => void
  /** The receiver's session. */
  helloBack: (session: number) => void
}

export class ReportReader {
  readonly #decoder: FrameDecoder

  constructor (reports: Reports) {
    const decoder: FrameDecoder = this.#decoder = new FrameDecoder(0, (kind, buf, start, end) => {
      const a = readVarint(buf, start, end)
      const b = kind === FRAME_ACK && a >= 0 ? readVarint(buf, varintEnd, end) : 0
      if (a < 0 || b < 0 || varintEnd !== end) decoder.fail('malformed-body')
      else if (kind === FRAME_FLOW) reports.flow(a)
      else if (kind === FRAME_ACK) reports.ack(a, b)
      else if (kind === FRAME_HELLO_BACK) reports.helloBack(a)
      else decoder.fail('unknown-kind')
    }, MAX_KIND_REVERSE)
  }

  /** Reads `data`; the violation, if it broke the format (nothing more is read then). */
  push (data: Uint8Array | Uint8ArrayList): Error | undefined {
    const decoder = this.#decoder
    if (data instanceof Uint8Array) decoder.push(data)
    else for (const chunk of data) if (decoder.push(chunk) < 0) break
    return decoder.error
  }
}
