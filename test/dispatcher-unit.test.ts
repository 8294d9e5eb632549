/** The Dispatcher against a fake stream: what it writes, when, and how it waits. No network. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { Dispatcher } from '../src/dispatcher.ts'
import { encodeKindFrame, FrameDecoder, FRAME_BIND, FRAME_CHANNEL, FRAME_FLOW, FRAME_HELLO, FRAME_MESSAGE, FRAME_RELIABLE, FRAME_REQUEST } from '../src/framing.ts'
import { DEFAULT_CHANNEL, Envelope, type LaneSpec } from '../src/lanes.ts'
import { CONTROL_LANE } from '../src/router.ts'
import { seq, seqOf, waitUntil, withTimeout } from './helpers.ts'
import type { Stream } from '@libp2p/interface'

class FakeStream extends EventTarget {
  status = 'open'
  writeStatus = 'writable'
  protocol = '/consensus-net/1.0.0'
  writes: Array<Uint8Array | Uint8ArrayList> = []
  /** What `send()` answers: false asks the writer to wait for 'drain'. */
  accept = true
  onDrainCalls = 0

  send (data: Uint8Array | Uint8ArrayList): boolean {
    this.writes.push(data)
    return this.accept
  }

  onDrain (): Promise<void> {
    this.onDrainCalls++
    return Promise.resolve() // like the buggy cached promise: resolves at once
  }

  abort (): void { this.remoteClose() }

  /** The receiver reports `total` bytes of the stream consumed (FRAME_FLOW on the reverse direction). */
  flow (total: number): void {
    this.dispatchEvent(Object.assign(new Event('message'), { data: encodeKindFrame(FRAME_FLOW, total, -1) }))
  }

  /** Where each write ends in the stream. */
  ends (): number[] {
    let at = 0
    return this.writes.map(w => (at += w.byteLength))
  }

  remoteClose (): void {
    if (this.status !== 'open') return
    this.status = 'reset'
    this.writeStatus = 'closed'
    this.dispatchEvent(new Event('close'))
  }

  /** Every message written, decoded. */
  messages (): Uint8Array[] {
    const out: Uint8Array[] = []
    const d = new FrameDecoder(1 << 24, (_kind, buf, start, end) => out.push(buf.slice(start, end)))
    for (const w of this.writes) for (const chunk of (w instanceof Uint8Array ? [w] : w)) assert.ok(d.push(chunk))
    assert.ok(d.atBoundary)
    return out
  }
}

/** The pieces of write `i` of `s`, which must be a list: payloads written by reference. */
function piecesOf (s: FakeStream, i: number): Uint8Array[] {
  const write = s.writes[i]
  assert.ok(write instanceof Uint8ArrayList, `write ${i} is one buffer: everything in it was copied`)
  return [...write]
}

interface SetupInit {
  maxWriteBytes?: number
  reconnect?: { initialDelay: number, maxDelay: number, factor: number, jitter: number }
  /** Called with each new stream once dialled. */
  dialed?: (s: FakeStream) => void
  /** Dials to addresses for which this is true fail. */
  refuse?: (addr: string) => boolean
  /** Awaited by each dial before it connects: a dial in progress, with its signal. */
  gate?: (signal: AbortSignal) => Promise<void>
  /** The protocol the dialled streams speak (default 1.0.0). */
  protocol?: string
}

interface Dial { addr: string, force: boolean }

function setup (init: SetupInit = {}): { d: Dispatcher, streams: FakeStream[], up: () => Promise<FakeStream>, events: string[], dials: Dial[] } {
  const streams: FakeStream[] = []
  const dials: Dial[] = []
  const events: string[] = []
  let waiting: ((s: FakeStream) => void) | undefined
  const d = new Dispatcher({
    node: 'b',
    addrs: [multiaddr('/ip4/127.0.0.1/tcp/1')],
    defaultLane: { channel: DEFAULT_CHANNEL, name: '', nameBytes: new Uint8Array(0), priority: 4, reliable: false, sendBufferSize: 100_000, sendBufferBytes: 1 << 30 },
    controlLane: CONTROL_LANE,
    channelProtocol: '/consensus-net/1.1.0',
    maxWriteBytes: init.maxWriteBytes ?? 64 * 1024,
    maxBytesInFlight: 1 << 20,
    deadLinkTimeout: 0,
    session: 1,
    reconnect: init.reconnect ?? { initialDelay: 1, maxDelay: 5, factor: 2, jitter: 0 },
    dial: async (addr, options) => {
      dials.push({ addr: addr.toString(), force: options.force === true })
      await init.gate?.(options.signal)
      if (init.refuse?.(addr.toString()) === true) throw new Error('connection refused')
      const s = new FakeStream()
      if (init.protocol !== undefined) s.protocol = init.protocol
      streams.push(s)
      init.dialed?.(s)
      return s as unknown as Stream
    },
    onUp: () => {
      events.push('up')
      waiting?.(streams[streams.length - 1])
      waiting = undefined
    },
    onDown: () => { events.push('down') },
    log: Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => { throw new Error('unused') } }) as any
  })
  const up = async (): Promise<FakeStream> => withTimeout(new Promise<FakeStream>(resolve => { waiting = resolve }), 5_000, () => 'no stream')
  return { d, streams, up, events, dials }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

describe('Dispatcher writes', () => {
  it('coalesces a burst into writes of at most maxWriteBytes, in order', async () => {
    const { d, up } = setup({ maxWriteBytes: 64 * 1024 })
    const s = await up()
    const n = 3000
    for (let i = 0; i < n; i++) d.send(seq(i, 256))
    await tick()
    const frameBytes = 256 + 3 // 2-byte length + kind
    assert.equal(s.writes.length, Math.ceil(n * frameBytes / (64 * 1024)), `writes: ${s.writes.length}`)
    for (const w of s.writes) assert.ok(w.byteLength <= 64 * 1024)
    assert.deepEqual(s.messages().map(seqOf), Array.from({ length: n }, (_, i) => i))
    assert.equal(d.default.sent, n)
    d.close()
  })

  it('writes a lone message on an idle link at once (next microtask), not after a timer', async () => {
    const { d, up } = setup()
    const s = await up()
    d.send(seq(1))
    await Promise.resolve()
    assert.equal(s.writes.length, 1)
    assert.deepEqual(s.messages().map(seqOf), [1])
    d.close()
  })

  it('waits for the drain event after send() returns false, never on onDrain(), then writes what queued meanwhile', async () => {
    const { d, up } = setup()
    const s = await up()
    s.accept = false
    d.send(seq(0))
    await tick()
    assert.equal(s.writes.length, 1)
    for (let i = 1; i <= 100; i++) d.send(seq(i))
    await tick()
    assert.equal(s.writes.length, 1, 'wrote before drain')
    assert.equal(d.lanes.queued, 100)
    s.accept = true
    s.dispatchEvent(new Event('drain'))
    assert.equal(s.writes.length, 2) // all 100 in one write
    assert.deepEqual(s.messages().map(seqOf), Array.from({ length: 101 }, (_, i) => i))
    assert.equal(s.onDrainCalls, 0)
    d.close()
  })

  it('sends a message larger than maxWriteBytes as header + payload, without copying it', async () => {
    const { d, up } = setup({ maxWriteBytes: 1024 })
    const s = await up()
    const big = new Uint8Array(4096).fill(7)
    d.send(seq(1))
    d.send(big)
    d.send(seq(2))
    await tick()
    assert.equal(s.writes.length, 3)
    assert.ok(piecesOf(s, 1).includes(big), 'payload was copied')
    assert.deepEqual(s.messages().map(m => m.byteLength), [4, 4096, 4])
    d.close()
  })

  it('writes payloads of 16 KiB or more by reference, between the copied frames around them, in one write', async () => {
    const { d, up } = setup({ maxWriteBytes: 64 * 1024 })
    const s = await up()
    const a = new Uint8Array(16 * 1024).fill(1)
    const b = new Uint8Array(20 * 1024).fill(2)
    const small = new Uint8Array(16 * 1024 - 1).fill(3)
    d.send(seq(1))
    d.send(a)
    d.send(b)
    d.send(seq(2))
    d.send(small)
    d.send(seq(3))
    await tick()
    assert.equal(s.writes.length, 1)
    const pieces = piecesOf(s, 0)
    assert.ok(pieces.includes(a) && pieces.includes(b), 'a large payload was copied')
    assert.ok(!pieces.includes(small), 'a payload under 16 KiB was not copied')
    const got = s.messages()
    assert.deepEqual(got.map(m => m.byteLength), [4, a.byteLength, b.byteLength, 4, small.byteLength, 4])
    assert.deepEqual([seqOf(got[0]), got[1][0], got[2][0], seqOf(got[3]), got[4][0], seqOf(got[5])], [1, 1, 2, 2, 3, 3])
    d.close()
  })
})

describe('Dispatcher write buffers', () => {
  const spec = (channel: number, reliable: boolean): LaneSpec => ({ channel, name: `c${channel}`, nameBytes: new TextEncoder().encode(`c${channel}`), priority: 4, reliable, sendBufferSize: 1000, sendBufferBytes: 1 << 20 })
  const concat = (frames: Uint8Array[]): Uint8Array => new Uint8Array(frames.flatMap(f => [...f]))

  it('frames every kind of frame of a write straight into one buffer of its own, handed over as it is and never written to again', async () => {
    const { d, up } = setup({ protocol: '/consensus-net/1.1.0' })
    const s = await up()
    const plain = d.lanes.open(spec(1, false))
    const reliable = d.lanes.open(spec(2, true))
    for (let i = 0; i < 3; i++) d.send(seq(i, 100))
    plain.push(seq(10))
    plain.pushKeyed(seq(11), 'k', Infinity)
    plain.push(new Envelope(FRAME_REQUEST, seq(12), 7, -1, undefined, Infinity, { discarded: () => {} }))
    reliable.push(seq(20, 300))
    d.schedule()
    await tick()
    assert.equal(s.writes.length, 1)
    const first = s.writes[0]
    assert.ok(first instanceof Uint8Array, 'one buffer, not a list')
    assert.deepEqual(first, concat([
      encodeKindFrame(FRAME_HELLO, 1, -1),
      ...[0, 1, 2].map(i => encodeKindFrame(FRAME_MESSAGE, -1, -1, seq(i, 100))),
      encodeKindFrame(FRAME_BIND, 1, -1, plain.spec.nameBytes),
      encodeKindFrame(FRAME_CHANNEL, 1, -1, seq(10)),
      encodeKindFrame(FRAME_CHANNEL, 1, -1, seq(11)),
      encodeKindFrame(FRAME_REQUEST, 1, 7, seq(12)),
      encodeKindFrame(FRAME_BIND, 2, -1, reliable.spec.nameBytes),
      encodeKindFrame(FRAME_RELIABLE, 2, 1, seq(20, 300))
    ]))
    const kept = first.slice()
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) d.send(seq(i, 100))
      plain.push(seq(round))
      d.schedule()
      await tick()
    }
    assert.equal(s.writes.length, 4)
    assert.deepEqual(first, kept, 'a later write changed one handed over')
    assert.equal(new Set(s.writes.map(w => (w as Uint8Array).buffer)).size, 4, 'two writes share a buffer')
    d.close()
  })

  it('goes on in a second buffer when a frame does not fit in the first (a list of both, every byte in order)', async () => {
    const { d, up } = setup()
    const s = await up()
    // an envelope grown behind its lane's back: the lane's byte count understates what is queued
    const e = new Envelope(FRAME_MESSAGE, seq(1), -1, -1, undefined, Infinity, undefined)
    d.send(seq(0))
    d.default.push(e)
    d.send(seq(2))
    e.data = seq(1, 3000)
    d.schedule()
    await tick()
    assert.equal(s.writes.length, 1)
    assert.ok(s.writes[0] instanceof Uint8ArrayList)
    assert.deepEqual(s.messages().map(m => [m.byteLength, seqOf(m)]), [[4, 0], [3000, 1], [4, 2]])
    d.close()
  })

  it('gives a write a buffer about its size: a lone message a small one, a burst one of about maxWriteBytes', async () => {
    const { d, up } = setup({ maxWriteBytes: 64 * 1024 })
    const s = await up()
    d.send(seq(1))
    await tick()
    for (let i = 0; i < 1000; i++) d.send(seq(i, 200))
    await tick()
    assert.equal(s.writes.length, 1 + Math.ceil(1000 * 203 / (64 * 1024)))
    const allocated = s.writes.map(w => (w as Uint8Array).buffer.byteLength)
    assert.ok(allocated[0] <= 32, `a lone 4-byte message got ${allocated[0]} bytes`)
    for (const [i, w] of s.writes.entries()) assert.ok(allocated[i] <= w.byteLength * 1.1 + 64, `write ${i} of ${w.byteLength} bytes got ${allocated[i]}`)
    d.close()
  })
})

describe('Dispatcher connection loop', () => {
  it('notices the close event, reconnects with backoff, counts it, and writes what queued while down', async () => {
    const { d, streams, up, events } = setup()
    const s1 = await up()
    d.send(seq(0))
    await tick()
    const second = up()
    s1.remoteClose()
    assert.equal(d.connected, false)
    d.send(seq(1))
    d.send(seq(2))
    const s2 = await second
    await tick()
    assert.deepEqual(s2.messages().map(seqOf), [1, 2])
    assert.equal(d.reconnects, 1)
    assert.deepEqual(events, ['up', 'down', 'up'])
    assert.equal(streams.length, 2)
    d.close()
    assert.equal(s2.status, 'reset')
    assert.deepEqual(events, ['up', 'down', 'up', 'down'])
  })

  it('dials a member that moved on new connections until a stream opens, whichever of its addresses fails', async () => {
    const A1 = '/ip4/127.0.0.1/tcp/11'
    const A2 = '/ip4/127.0.0.1/tcp/12'
    const { d, up, dials } = setup({ refuse: addr => addr === A1 })
    const s1 = await up()
    s1.remoteClose() // the member is gone from its old address
    const back = up()
    d.setAddrs([multiaddr(A1), multiaddr(A2)])
    await back
    const sinceMove = dials.slice(1)
    assert.deepEqual(sinceMove, [{ addr: A1, force: true }, { addr: A2, force: true }])
    // once it reached the member, later redials may reuse what libp2p holds
    const again = up()
    ;(await back).remoteClose()
    await again
    assert.equal(dials[dials.length - 1].force, false)
    d.close()
  })

  it('close() discards the queue and stops dialling', async () => {
    const { d, streams, up } = setup()
    const s = await up()
    s.accept = false
    d.send(seq(0))
    await tick()
    d.send(seq(1)) // queued behind the drain
    assert.equal(d.lanes.queued, 1)
    d.close()
    assert.equal(d.lanes.queued, 0)
    d.send(seq(2)) // after close: a no-op
    assert.equal(d.lanes.queued, 0)
    // an absence has no event: give the loop many backoff periods (1-5 ms) in which to redial, wrongly
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(streams.length, 1)
    assert.equal(streams[0].writes.length, 1)
  })

  it('backs off ever longer from a peer that accepts and resets soon after', async () => {
    const { d, streams, events } = setup({ reconnect: { initialDelay: 10, maxDelay: 10_000, factor: 2, jitter: 0 }, dialed: s => { setTimeout(() => { s.remoteClose() }, 1) } })
    // delays 10, 20, 40, 80, 160 ms: about 5 dials in 300 ms; without growth, about 30
    // (an absence of dials has no event to await: this window is the measurement)
    await new Promise(resolve => setTimeout(resolve, 300))
    d.close()
    assert.ok(streams.length >= 2 && streams.length <= 7, `dials: ${streams.length}`)
    assert.equal(events.filter(e => e === 'up').length, streams.length)
    assert.equal(d.reconnects, streams.length - 1)
  })

  it('a connection with the member opening ends a backoff wait at once and forgets the failures', async () => {
    // delays 10 ms, 300 ms, then 9 s: after three failed streams the loop sleeps 9 s
    const { d, streams } = setup({ reconnect: { initialDelay: 10, maxDelay: 60_000, factor: 30, jitter: 0 }, dialed: s => { queueMicrotask(() => { s.remoteClose() }) } })
    await waitUntil(() => streams.length === 3, 5_000, 'three dials')
    await tick()
    d.connectionOpened()
    // at once, and from the first delay again (10 ms, 300 ms): without the reset the fourth
    // failure would wait a minute
    await waitUntil(() => streams.length >= 5, 5_000, 'two more dials')
    d.close()
  })

  it('a connection opening leaves a dial in progress alone', async () => {
    let release: () => void = () => {}
    const signals: AbortSignal[] = []
    const { d, up } = setup({ gate: async signal => { signals.push(signal); await new Promise<void>(resolve => { release = resolve }) } })
    const opened = up()
    await waitUntil(() => signals.length === 1, 5_000, 'the dial to start')
    d.connectionOpened()
    assert.equal(signals[0].aborted, false)
    release()
    await opened
    assert.equal(signals.length, 1)
    d.close()
  })

  it('does not count a stream that closed before it could be used as a reconnect', async () => {
    const { d, streams, events } = setup({ reconnect: { initialDelay: 10, maxDelay: 10_000, factor: 2, jitter: 0 }, dialed: s => { queueMicrotask(() => { s.remoteClose() }) } })
    await new Promise(resolve => setTimeout(resolve, 100))
    d.close()
    assert.ok(streams.length >= 2 && streams.length <= 5, `dials: ${streams.length}`)
    assert.deepEqual(events, [])
    assert.equal(d.reconnects, 0)
  })
})

describe('Dispatcher: messages lost with a dying stream', () => {
  const spec = (channel: number, reliable: boolean): LaneSpec => ({ channel, name: `c${channel}`, nameBytes: new TextEncoder().encode(`c${channel}`), priority: 4, reliable, sendBufferSize: 1000, sendBufferBytes: 1 << 20 })

  it('counts as lost, per lane, exactly the messages of the writes the receiver did not report consumed (a write partly consumed counts whole); none on a reliable lane, none for a request', async () => {
    const { d, up } = setup({ protocol: '/consensus-net/1.1.0' })
    const s = await up()
    const plain = d.lanes.open(spec(1, false))
    const reliable = d.lanes.open(spec(2, true))
    const requestOwner = { discarded: () => {} }
    // write 1: 3 on the default channel, 2 on channel 1
    for (let i = 0; i < 3; i++) d.send(seq(i))
    for (let i = 0; i < 2; i++) plain.push(seq(i))
    d.schedule()
    await tick()
    // write 2: 4 on the default channel, 1 keyed and a request on channel 1, 5 reliable
    for (let i = 0; i < 4; i++) d.send(seq(i))
    plain.pushKeyed(seq(9), 'k', Infinity)
    plain.push(new Envelope(FRAME_REQUEST, seq(10), 1, -1, undefined, Infinity, requestOwner))
    for (let i = 0; i < 5; i++) reliable.push(seq(i))
    d.schedule()
    await tick()
    // write 3: 2 on the default channel
    for (let i = 0; i < 2; i++) d.send(seq(i))
    await tick()
    assert.equal(s.writes.length, 3)
    const [end1, end2] = s.ends()

    s.flow(end1 - 1) // write 1 not yet whole: nothing confirmed
    s.flow(end1) // write 1 confirmed
    s.flow(end2 - 1) // write 2 partly read: it counts whole
    assert.deepEqual([d.default.lost, plain.lost, reliable.lost], [0, 0, 0], 'counted before the stream died')
    const next = up()
    s.remoteClose()
    assert.deepEqual({ default: d.default.lost, plain: plain.lost, reliable: reliable.lost }, { default: 4 + 2, plain: 1, reliable: 0 })
    assert.deepEqual({ default: d.default.sent, plain: plain.sent, reliable: reliable.sent }, { default: 9, plain: 4, reliable: 5 })

    // the next stream starts from nothing: what its receiver reports covers its own writes only
    const s2 = await next
    await tick()
    d.send(seq(1))
    plain.push(seq(2))
    d.schedule()
    await tick()
    d.send(seq(3))
    await tick()
    const ends = s2.ends()
    s2.flow(ends[ends.length - 1])
    s2.remoteClose()
    assert.deepEqual([d.default.lost, plain.lost, reliable.lost], [6, 1, 0], 'confirmed writes counted lost')
    d.close()
  })

  it('keeps counting right while the receiver always lags one write behind, over thousands of writes', async () => {
    const { d, up } = setup({ protocol: '/consensus-net/1.1.0' })
    const s = await up()
    // each write carries 1, 2 and 3 messages of three lanes, always in this order (priorities 0, 4, 6)
    const urgent = d.lanes.open({ ...spec(1, false), priority: 0 })
    const bulk = d.lanes.open({ ...spec(2, false), priority: 6 })
    const writes = 3000
    for (let i = 0; i < writes; i++) {
      urgent.push(seq(i))
      for (let k = 0; k < 2; k++) d.send(seq(i))
      for (let k = 0; k < 3; k++) bulk.push(seq(i))
      d.schedule()
      await tick()
      const ends = s.ends()
      if (ends.length >= 2) s.flow(ends[ends.length - 2]) // every write but the last one confirmed
    }
    assert.equal(s.writes.length, writes)
    s.remoteClose()
    assert.deepEqual([urgent.lost, d.default.lost, bulk.lost], [1, 2, 3])
    assert.deepEqual([urgent.sent, d.default.sent, bulk.sent], [writes, 2 * writes, 3 * writes])
    d.close()
  })

  it('counts nothing on a 1.0.0 stream: its receiver reports nothing', async () => {
    const { d, up } = setup()
    const s = await up()
    for (let i = 0; i < 10; i++) d.send(seq(i))
    await tick()
    assert.equal(s.writes.length, 1)
    s.remoteClose()
    assert.equal(d.default.sent, 10)
    assert.equal(d.default.lost, 0)
    d.close()
  })
})
