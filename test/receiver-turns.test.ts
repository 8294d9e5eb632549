/**
 * The Receiver processes a stream in slices: at most TURN_BUDGET per turn of the event loop, the
 * rest at the turn's end, in order, with the stream paused meanwhile and resumed once nothing
 * waits; FLOW reports what was processed, and a stream ended while bytes wait is judged once they
 * are processed. On a stream stand-in: the turn is the real event loop's.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import { FRAME_FLOW, MAX_KIND_REVERSE, readVarint } from '../src/wire/frames.ts'
import { encodeFrame, encodeKindFrame } from '../src/wire/encoder.ts'
import { FrameDecoder } from '../src/wire/decoder.ts'
import { Receiver, TURN_BUDGET } from '../src/link/receiver.ts'
import { ReceiveRate } from '../src/link/receive-rate.ts'
import { seq, seqOf } from './helpers.ts'
import type { Stream } from '@libp2p/interface'
import { systemClock } from '../src/clock.ts'

/** A stream stand-in that records pause/resume and what is written back; `resume()` hands over what arrived meanwhile, as libp2p does. */
class TurnStream extends EventTarget {
  status = 'open'
  writeStatus = 'writable'
  readStatus = 'readable'
  readonly events: string[] = []
  readonly sent: Uint8Array[] = []
  /** What `send()` answers: false asks the writer to wait for 'drain'. */
  sendResult = true
  #held: Uint8Array[] = []

  send (data: Uint8Array): boolean {
    this.sent.push(data)
    return this.sendResult
  }

  /** The remote reset the stream: 'close' with an error; like libp2p, what it held while paused stays held. */
  remoteReset (): void {
    this.status = 'reset'
    this.dispatchEvent(Object.assign(new Event('close'), { error: Object.assign(new Error('reset'), { name: 'StreamResetError' }) }))
  }

  async close (): Promise<void> {
    this.status = 'closed'
    this.events.push('close')
  }

  abort (err: Error): void {
    this.events.push(`abort:${err.message}`)
    this.status = 'reset'
    this.dispatchEvent(new Event('close'))
  }

  pause (): void {
    this.events.push('pause')
    this.readStatus = 'paused'
  }

  resume (): void {
    this.events.push('resume')
    this.readStatus = 'readable'
    const held = this.#held
    this.#held = []
    for (const data of held) this.deliver(data)
  }

  /** libp2p's 'message' event; held while paused. Listeners are called directly, so that what one throws reaches the caller. */
  deliver (data: Uint8Array | Uint8ArrayList): void {
    if (this.readStatus === 'paused') {
      this.#held.push(data instanceof Uint8Array ? data : data.subarray())
      return
    }
    const evt = Object.assign(new Event('message'), { data })
    for (const listener of this.#messageListeners) listener(evt)
  }

  #messageListeners: Array<(evt: Event) => void> = []

  override addEventListener (type: string, listener: any, options?: any): void {
    if (type === 'message') this.#messageListeners.push(listener)
    else super.addEventListener(type, listener, options)
  }

  override removeEventListener (type: string, listener: any, options?: any): void {
    if (type === 'message') this.#messageListeners = this.#messageListeners.filter(l => l !== listener)
    else super.removeEventListener(type, listener, options)
  }

  endGracefully (): void {
    this.dispatchEvent(new Event('remoteCloseWrite'))
    this.dispatchEvent(new Event('end'))
  }

  /** The total of the last FLOW written back. */
  get flow (): number {
    let total = -1
    const d = new FrameDecoder(0, (kind, buf, start, end) => { if (kind === FRAME_FLOW) total = readVarint(buf, start, end) }, MAX_KIND_REVERSE)
    for (const s of this.sent) d.push(s)
    return total
  }
}

const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A 1.1.0 Receiver on `stream` recording the sequence numbers of default-channel messages in `got` (then calling `hooks.message`). */
function receiver (stream: TurnStream, got: number[], invalid: string[] = [], hooks: { message?: (n: number) => void, onClose?: () => void } = {}): Receiver {
  return new Receiver(stream as unknown as Stream, {
    peer: 'p',
    maxMessageSize: 1 << 20,
    channels: true,
    session: 1,
    inbound: {
      message: data => {
        const n = seqOf(data)
        got.push(n)
        hooks.message?.(n)
      },
      channel: () => {},
      reliable: () => {},
      hello: () => {},
      request: () => {},
      reply: () => {},
      control: () => {}
    },
    onInvalid: (_r, err) => { invalid.push(err.reason) },
    onClose: () => { hooks.onClose?.() },
    clock: systemClock
  })
}

const frames = (from: number, n: number): Uint8Array => Buffer.concat(Array.from({ length: n }, (_, i) => encodeFrame(seq(from + i))))

describe('Receiver turns', () => {
  it('a chunk larger than a turn\'s budget is processed over several turns, in order, the stream paused until it is all processed', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    receiver(stream, got)
    const n = 2 * TURN_BUDGET + 100
    const bytes = frames(0, n)
    stream.deliver(bytes)
    assert.equal(got.length, TURN_BUDGET, 'one budget at once')
    assert.deepEqual(stream.events, ['pause'])
    // arriving while paused, held by libp2p: it comes after what waits
    stream.deliver(frames(n, 10))
    for (let i = 0; i < 5 && got.length < n + 10; i++) await turn()
    assert.deepEqual(got, Array.from({ length: n + 10 }, (_, i) => i))
    assert.deepEqual(stream.events, ['pause', 'resume'])
    await turn()
    assert.equal(stream.flow, bytes.byteLength + frames(n, 10).byteLength, 'FLOW reports what was processed')
  })

  it('FLOW counts only what was processed: bytes waiting their turn are not reported consumed; a backlog is reported every 16 KiB, and at once when worked off', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    receiver(stream, got)
    const frame = encodeFrame(seq(0, 100)).byteLength // 2,048 of them: over 16 KiB
    const bytes = Buffer.concat(Array.from({ length: 3 * TURN_BUDGET }, (_, i) => encodeFrame(seq(i, 100))))
    stream.deliver(bytes)
    await turn() // the turn's end: a second budget, then the report
    assert.equal(got.length, 2 * TURN_BUDGET)
    assert.equal(stream.flow, 2 * TURN_BUDGET * frame)
    const small = new TurnStream()
    receiver(small, [])
    small.deliver(frames(0, 2 * TURN_BUDGET + 10)) // 6-byte frames: 2 budgets are 12 KiB
    await turn()
    assert.equal(small.flow, -1, 'no report yet: under 16 KiB while a backlog remains')
    await turn()
    assert.equal(small.flow, (2 * TURN_BUDGET + 10) * encodeFrame(seq(0)).byteLength, 'worked off: reported')
  })

  it('a list of chunks is taken in order across turns', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    receiver(stream, got)
    const list = new Uint8ArrayList(frames(0, TURN_BUDGET - 1), frames(TURN_BUDGET - 1, 10), frames(TURN_BUDGET + 9, 5))
    stream.deliver(list)
    for (let i = 0; i < 3 && got.length < TURN_BUDGET + 14; i++) await turn()
    assert.deepEqual(got, Array.from({ length: TURN_BUDGET + 14 }, (_, i) => i))
  })

  it('a writer that ends the stream while bytes wait their turn is judged once they are processed: whole frames are no violation', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    const invalid: string[] = []
    receiver(stream, got, invalid)
    stream.deliver(frames(0, TURN_BUDGET + 50))
    stream.endGracefully()
    assert.deepEqual(invalid, [])
    for (let i = 0; i < 3 && !stream.events.includes('close'); i++) await turn()
    assert.equal(got.length, TURN_BUDGET + 50)
    assert.deepEqual(invalid, [])
    assert.ok(stream.events.includes('close'), 'closed gracefully')
  })

  it('...and a frame cut off at the end is a violation, found once the rest is processed', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    const invalid: string[] = []
    receiver(stream, got, invalid)
    const cut = encodeKindFrame(0, -1, -1, seq(9)).subarray(0, 3)
    stream.deliver(Buffer.concat([frames(0, TURN_BUDGET + 50), cut]))
    stream.endGracefully()
    for (let i = 0; i < 3 && invalid.length === 0; i++) await turn()
    assert.equal(got.length, TURN_BUDGET + 50)
    assert.deepEqual(invalid, ['truncated'])
  })

  it('closing the receiver drops what waits: nothing is delivered afterwards', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    const r = receiver(stream, got)
    stream.deliver(frames(0, 2 * TURN_BUDGET))
    r.close('member removed')
    await turn()
    await turn()
    assert.equal(got.length, TURN_BUDGET)
  })

  it('with a receive rate, it reads a burst, then waits paused until the debt is paid, and reports what it read', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    const r = receiver(stream, got)
    r.limit(TURN_BUDGET, new ReceiveRate(200_000, 20_000), 1 << 30) // 200 KB/s, 20 KB at once
    // 10 frames of 600 bytes a chunk: about 6 KB, well within a turn's budget
    const big = (from: number): Uint8Array => Buffer.concat(Array.from({ length: 10 }, (_, i) => encodeFrame(seq(from + i, 600))))
    const chunk = big(0)
    const started = performance.now()
    for (let i = 0; i < 10; i++) stream.deliver(big(i * 10))
    // chunks are charged whole, after they are read: the fourth goes into debt (a fifth, if the
    // rate refilled a chunk's worth while these calls ran: 30 ms on a stalled machine)
    assert.ok(got.length === 40 || got.length === 50, `${got.length} read at once`)
    assert.deepEqual(stream.events, ['pause'])
    for (let i = 0; i < 200 && got.length < 100; i++) await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(got.length, 100)
    assert.deepEqual(got.slice(0, 5), [0, 1, 2, 3, 4])
    const ms = performance.now() - started
    // 60 KB at 200 KB/s after a 20 KB burst: at least the 40 KB of debt, 200 ms less a chunk's worth
    assert.ok(ms >= (40_000 - chunk.byteLength) / 200, `took ${ms.toFixed(0)} ms`)
    // the last chunk left a debt too: once it is paid the stream resumes
    for (let i = 0; i < 200 && stream.events.at(-1) !== 'resume'; i++) await new Promise(resolve => setTimeout(resolve, 5))
    assert.equal(stream.events.at(-1), 'resume')
    assert.equal(stream.flow, 10 * chunk.byteLength)
  })

  it('a receive rate: the wait is the debt at the rate, a burst at most, and the debt at most a burst', () => {
    const rate = new ReceiveRate(1000, 1000)
    assert.equal(rate.take(600, 0), 0)
    assert.equal(rate.take(600, 0), 200, 'in debt by 200 bytes: 200 ms at 1,000 B/s')
    assert.equal(rate.take(0, 200), 0, 'paid')
    assert.equal(rate.take(0, 5000), 0)
    assert.equal(rate.take(1500, 5000), 500, 'the burst is at most 1,000')
    assert.equal(rate.take(1_000_000, 5000), 1000, 'however much is charged, the debt is at most a burst')
  })

  it('a stream that closes while bytes wait delivers nothing more: not what waited, not what libp2p still held (it would follow a gap)', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    let closed = 0
    const r = receiver(stream, got, [], { onClose: () => { closed++ } })
    stream.deliver(frames(0, 2 * TURN_BUDGET))
    stream.deliver(frames(2 * TURN_BUDGET, 100)) // held by the paused stream
    stream.remoteReset()
    assert.equal(closed, 1)
    for (let i = 0; i < 3; i++) await turn()
    assert.equal(got.length, TURN_BUDGET)
    assert.deepEqual(stream.events, ['pause'], 'never resumed')
    assert.equal(r.inbound.message.name, 'noop', 'detached')
  })

  it('a peer that grants no window for our reports gets one at a time: the next waits for \'drain\'', async () => {
    const stream = new TurnStream()
    const r = receiver(stream, [])
    stream.sendResult = false
    for (let i = 0; i < 5; i++) {
      stream.deliver(frames(i, 1))
      await turn()
    }
    assert.equal(stream.sent.length, 1, 'one report outstanding')
    stream.sendResult = true
    stream.dispatchEvent(new Event('drain'))
    assert.equal(stream.sent.length, 2)
    assert.equal(stream.flow, 5 * encodeFrame(seq(0)).byteLength, 'the latest total')
    assert.ok(r !== undefined)
  })

  it('a stream that starts while the rate it shares is in debt waits too; a new rate (promotion) ends the wait', async () => {
    const shared = new ReceiveRate(1000, 1000)
    const first = new TurnStream()
    const a: number[] = []
    receiver(first, a).limit(TURN_BUDGET, shared, 1 << 30)
    first.deliver(Buffer.concat(Array.from({ length: 10 }, (_, i) => encodeFrame(seq(i, 600))))) // 6 KB: deep in debt
    const second = new TurnStream()
    const b: number[] = []
    const rb = receiver(second, b)
    rb.limit(TURN_BUDGET, shared, 1 << 30)
    second.deliver(frames(0, 5))
    assert.deepEqual(b, [], 'the shared debt holds the new stream too')
    assert.deepEqual(second.events, ['pause'])
    rb.limit(TURN_BUDGET, undefined, 1 << 30) // promoted: a member, read at no rate
    for (let i = 0; i < 3 && b.length < 5; i++) await turn()
    assert.deepEqual(b, [0, 1, 2, 3, 4])
    assert.equal(second.events.at(-1), 'resume')
  })

  it('a lean handler that throws: what it was handed counts as consumed, the rest goes on next turn, nothing twice', async () => {
    const stream = new TurnStream()
    const got: number[] = []
    receiver(stream, got, [], { message: n => { if (n === 3) throw new Error(`handler fails at ${n}`) } })
    // (a throw while working off what waited, at the turn's end, takes the same path: it would
    // surface as an uncaught exception, which the test runner takes for the test's own)
    assert.throws(() => { stream.deliver(frames(0, 2 * TURN_BUDGET)) }, /handler fails at 3/)
    for (let i = 0; i < 6 && got.length < 2 * TURN_BUDGET; i++) await turn()
    assert.deepEqual(got, Array.from({ length: 2 * TURN_BUDGET }, (_, i) => i))
  })
})
