/**
 * Lanes, and the Dispatcher's write order on a simulated 1.1.0 stream (test/sim-link.ts: the
 * simulation's streams and scheduler, in virtual time): priorities, FIFO per channel, starvation,
 * latest-wins keys, deadlines and the FRAME_FLOW window.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Uint8ArrayList } from 'uint8arraylist'
import { Dispatcher } from '../src/link/dispatcher.ts'
import { FRAME_BIND, FRAME_CHANNEL, FRAME_FLOW, FRAME_HELLO, FRAME_MESSAGE, FRAME_REQUEST, MAX_KIND_1_1, readVarint, varintEnd } from '../src/wire/frames.ts'
import { encodeKindFrame } from '../src/wire/encoder.ts'
import { bodyOf, FrameDecoder } from '../src/wire/decoder.ts'
import { DEFAULT_CHANNEL, Lanes, STARVATION_WRITES } from '../src/queue/lanes.ts'
import { Lane, type LaneSpec } from '../src/queue/lane.ts'
import { Envelope } from '../src/queue/envelope.ts'
import { CONTROL_LANE } from '../src/queue/lanes.ts'
import { seq, seqOf, text } from './helpers.ts'
import { SimLink, type Recorded, type SimLinkInit } from './sim-link.ts'

const V11 = '/consensus-net/1.1.0'
const V10 = '/consensus-net/1.0.0'

function spec (channel: number, name: string, priority: number, sendBufferSize = 100_000, sendBufferBytes = 1 << 30): LaneSpec {
  return { channel, name, nameBytes: text(name), priority, reliable: false, sendBufferSize, sendBufferBytes }
}

/** What a lane holds, in order, as sequence numbers (holes and expired ones skipped as a writer would). */
function drain (lane: Lane, now = Date.now()): number[] {
  const out: number[] = []
  for (let i = 0; i < 100_000 && lane.peek(now) !== undefined; i++) {
    const item = lane.shift()
    out.push(seqOf(item instanceof Envelope ? item.data : item))
  }
  return out
}

describe('Lane', () => {
  it('is FIFO and drops the oldest when full, counting each drop', () => {
    const lane = new Lane(spec(1, 'votes', 0, 3))
    for (let i = 0; i < 5; i++) lane.push(seq(i))
    assert.equal(lane.dropped, 2)
    assert.deepEqual(drain(lane), [2, 3, 4])
  })

  it('a key replaces the queued message with that key where it stands, counted superseded; other keys and plain messages are untouched', () => {
    const lane = new Lane(spec(1, 'votes', 0))
    lane.pushKeyed(seq(10), 'vote/1/0', Infinity)
    lane.push(seq(20))
    lane.pushKeyed(seq(30), 'vote/2/0', Infinity)
    lane.pushKeyed(seq(11), 'vote/1/0', Infinity)
    lane.push(seq(40))
    lane.pushKeyed(seq(12), 'vote/1/0', Infinity)
    lane.pushKeyed(seq(31), 'vote/2/0', Infinity)
    assert.equal(lane.superseded, 3)
    assert.equal(lane.length, 4)
    assert.equal(lane.ring.bytes, 16)
    assert.deepEqual(drain(lane), [12, 20, 31, 40])
    assert.equal(lane.dropped, 0)
  })

  it('a key is free again once its message was taken for writing: the next one queues at the end', () => {
    const lane = new Lane(spec(1, 'votes', 0))
    lane.pushKeyed(seq(1), 'k', Infinity)
    lane.push(seq(2))
    assert.equal(lane.peek(Date.now()) !== undefined, true)
    lane.shift() // written
    lane.pushKeyed(seq(3), 'k', Infinity)
    assert.equal(lane.superseded, 0)
    assert.deepEqual(drain(lane), [2, 3])
  })

  it('a larger replacement that would break the byte bound is queued last instead, counted superseded only (the old one is not also counted dropped)', () => {
    const lane = new Lane(spec(1, 'blocks', 0, 100, 12))
    lane.pushKeyed(seq(1), 'k', Infinity) // 4 bytes
    lane.push(seq(2)) // 4 bytes
    lane.pushKeyed(seq(3, 10), 'k', Infinity) // 10 bytes: 4 + 10 > 12
    assert.equal(lane.superseded, 1)
    // room for the 10-byte replacement means dropping 2 (the oldest real message)
    assert.equal(lane.dropped, 1, 'the replaced message was counted as dropped too')
    assert.deepEqual(drain(lane), [3])
    assert.equal(lane.ring.bytes, 0)
  })

  it('length (a member\'s queued) counts messages, not the holes replaced or taken-back ones leave', () => {
    const lane = new Lane(spec(1, 'blocks', 0, 100, 20))
    lane.push(seq(1))
    lane.pushKeyed(seq(2), 'k', Infinity)
    lane.push(seq(3))
    lane.pushKeyed(seq(4, 14), 'k', Infinity) // 12 + 10 > 20: 1 dropped, 2 leaves a hole, 4 queued last
    assert.equal(lane.dropped, 1)
    assert.equal(lane.length, 2)
    const e = new Envelope(FRAME_REQUEST, new Uint8Array(2), 7, -1, undefined, Infinity, undefined)
    lane.push(e)
    assert.equal(lane.length, 3)
    lane.cancel(e) // a request that timed out while queued
    assert.equal(lane.length, 2)
    assert.deepEqual(drain(lane), [3, 4])
    assert.equal(lane.length, 0)
  })

  it('a message past its deadline is skipped and counted expired; a replacement carries its own deadline', () => {
    const lane = new Lane(spec(1, 'votes', 0))
    const now = 1_000_000
    lane.pushKeyed(seq(1), undefined, now + 10)
    lane.push(seq(2))
    lane.pushKeyed(seq(3), 'k', now + 10)
    lane.pushKeyed(seq(4), 'k', now + 1000) // the newest vote may wait longer
    lane.pushKeyed(seq(5), 'j', now + 1000)
    lane.pushKeyed(seq(6), 'j', now + 10) // ... or less
    assert.deepEqual(drain(lane, now + 10), [2, 4])
    assert.equal(lane.expired, 2)
    assert.equal(lane.superseded, 2)
    assert.equal(lane.length, 0)
  })

  it('a deadline exactly now has passed: "still queued at its deadline" is never written', () => {
    const lane = new Lane(spec(1, 'votes', 0))
    lane.pushKeyed(seq(1), undefined, 500)
    assert.deepEqual(drain(lane, 500), [])
    assert.equal(lane.expired, 1)
  })
})

describe('Lanes', () => {
  it('orders lanes by priority (0 first), equal priorities by creation', () => {
    const lanes = new Lanes()
    lanes.open(spec(1, 'bulk', 7))
    lanes.open(spec(2, 'votes', 0))
    lanes.open(spec(3, 'blocks', 4))
    lanes.open(spec(4, 'proposals', 0))
    lanes.open(spec(DEFAULT_CHANNEL, '', 4))
    lanes.open(CONTROL_LANE)
    assert.deepEqual(lanes.ordered.map(l => l.spec.name), ['', 'votes', 'proposals', 'blocks', '', 'bulk'])
    assert.equal(lanes.ordered[0], lanes.get(CONTROL_LANE.channel))
    assert.equal(lanes.open(spec(2, 'votes', 0)), lanes.get(2), 'same channel, same lane')
  })

  it('queued counts every lane but the control lane', () => {
    const lanes = new Lanes()
    lanes.open(CONTROL_LANE).push(seq(0))
    lanes.open(spec(1, 'a', 1)).push(seq(1))
    lanes.open(spec(2, 'b', 2)).push(seq(2))
    assert.equal(lanes.queued, 2)
    assert.equal(lanes.pending, true)
  })
})

// --- the Dispatcher on a simulated 1.1.0 stream (test/sim-link.ts), in virtual time ---

/** Bytes written to `s`. */
function written (s: Recorded): number {
  let n = 0
  for (const w of s.writes) n += w.byteLength
  return n
}

/** The reader sends `data` on the reverse direction (FLOW reports), and it arrives. */
async function flow (link: SimLink, s: Recorded, data: Uint8Array): Promise<void> {
  s.other.send(data)
  await link.tick()
}

/**
 * Every write decoded, one array per write, each frame as `name:seq` (the default channel is
 * `default`, a binding `bind:name`). Each write must hold whole frames. Channel numbers are
 * resolved through the BIND frames seen on the same stream, so a frame on an unbound number fails.
 */
function decodeWrites (s: Recorded): string[][] {
  const names = new Map<number, string>()
  const out: string[][] = []
  for (const w of s.writes) {
    const frames: string[] = []
    let hello = false
    const d = new FrameDecoder(1 << 24, (kind, buf, start, end) => {
      const body = bodyOf(buf, start, end)
      if (kind === FRAME_HELLO) {
        hello = true // the writer's session: the first write of every 1.1.0 stream
        return
      }
      if (kind === FRAME_MESSAGE) {
        frames.push(`default:${seqOf(body)}`)
        return
      }
      const ch = readVarint(body, 0)
      const rest = body.subarray(varintEnd)
      if (kind === FRAME_BIND) {
        assert.equal(names.has(ch), false, `channel ${ch} bound twice on one stream`)
        names.set(ch, new TextDecoder().decode(rest))
        frames.push(`bind:${names.get(ch)!}`)
      } else {
        assert.equal(kind, FRAME_CHANNEL)
        assert.ok(names.has(ch), `channel ${ch} used before its BIND`)
        frames.push(`${names.get(ch)!}:${seqOf(rest)}`)
      }
    }, MAX_KIND_1_1)
    for (const chunk of (w instanceof Uint8Array ? [w] : w)) assert.ok(d.push(chunk), d.error?.message)
    assert.ok(d.atBoundary, 'a write ended inside a frame')
    if (!hello || frames.length > 0) out.push(frames)
  }
  return out
}

const flat = (writes: string[][]): string[] => writes.flat().filter(f => !f.startsWith('bind:'))
const onChannel = (frames: string[], name: string): number[] => frames.filter(f => f.startsWith(`${name}:`)).map(f => Number(f.slice(name.length + 1)))
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

interface SetupInit extends SimLinkInit {
  protocol?: string
  /** The protocol of each stream dialled in turn (the last one repeats); overrides `protocol`. */
  protocols?: string[]
  maxWriteBytes?: number
  maxBytesInFlight?: number
}

interface Setup {
  d: Dispatcher
  link: SimLink
  streams: Recorded[]
  /** Runs the simulation until the Dispatcher reports its next stream up; that stream. */
  up: () => Promise<Recorded>
}

function setup (init: SetupInit = {}): Setup {
  const link = new SimLink(init)
  const streams = link.streams
  let ups = 0
  const d = new Dispatcher({
    node: 'b',
    addrs: ['/ip4/127.0.0.1/tcp/1'],
    defaultLane: spec(DEFAULT_CHANNEL, '', 4),
    controlLane: CONTROL_LANE,
    channelProtocol: V11,
    maxWriteBytes: init.maxWriteBytes ?? 64 * 1024,
    maxBytesInFlight: init.maxBytesInFlight ?? 1 << 30,
    deadLinkTimeout: 0,
    session: 1,
    clock: link.clock,
    random: link.random,
    reconnect: { initialDelay: 1, maxDelay: 5, factor: 2, jitter: 0 },
    dial: link.dial(() => init.protocols?.[Math.min(streams.length, init.protocols.length - 1)] ?? init.protocol ?? V11),
    onUp: () => { ups++ },
    onDown: () => {},
    log: Object.assign(() => {}, { error: () => {} })
  })
  const up = async (): Promise<Recorded> => {
    const before = ups
    await link.run({ until: () => ups > before, timeout: 5_000 })
    return streams[streams.length - 1]
  }
  return { d, link, streams, up }
}

/** Queues `data` on `spec`'s lane the way a Channel does. */
function queue (d: Dispatcher, s: LaneSpec, data: Uint8Array, key?: string, deadline?: number): Lane {
  const lane = d.lanes.open(s)
  if (key === undefined && deadline === undefined) lane.push(data)
  else lane.pushKeyed(data, key, deadline ?? Infinity)
  d.schedule()
  return lane
}

const VOTES = spec(1, 'votes', 0)
const BLOCKS = spec(2, 'blocks', 6)
const BULK = spec(3, 'bulk', 7)

describe('Dispatcher lanes on a 1.1.0 stream', () => {
  it('one write: the most urgent lane first, FIFO within each, each channel bound once before its first frame', async () => {
    const { d, link, up } = setup()
    const s = await up()
    for (let i = 0; i < 3; i++) queue(d, BULK, seq(i))
    for (let i = 0; i < 3; i++) d.send(seq(i))
    for (let i = 0; i < 3; i++) queue(d, VOTES, seq(i))
    for (let i = 3; i < 5; i++) queue(d, BULK, seq(i))
    await link.tick()
    assert.equal(decodeWrites(s).length, 1)
    assert.deepEqual(decodeWrites(s)[0], [
      'bind:votes', 'votes:0', 'votes:1', 'votes:2',
      'default:0', 'default:1', 'default:2',
      'bind:bulk', 'bulk:0', 'bulk:1', 'bulk:2', 'bulk:3', 'bulk:4'
    ])
    assert.equal(d.lanes.get(VOTES.channel)!.sent, 3)
    assert.equal(d.lanes.get(BULK.channel)!.sent, 5)
    d.close()
  })

  it('across writes: urgent messages queued later overtake a queued backlog at the next write, never reordering a channel', async () => {
    // every write fills the link's buffer: the writer waits for its drain
    const { d, link, up } = setup({ maxWriteBytes: 4 * 1024, bufferBytes: 1 })
    const s = await up()
    link.hold() // the first write waits for drain: everything after it queues
    for (let i = 0; i < 100; i++) queue(d, BULK, seq(i, 1024))
    await link.tick()
    assert.equal(decodeWrites(s).length, 1)
    for (let i = 0; i < 5; i++) queue(d, VOTES, seq(i, 256))
    for (let i = 0; i < 5; i++) queue(d, BLOCKS, seq(i, 256))
    await link.release()
    const writes = decodeWrites(s)
    // the write after the drain carries every vote first, then the blocks, then bulk
    assert.deepEqual(writes[1].slice(0, 12), ['bind:votes', ...range(0, 5).map(i => `votes:${i}`), 'bind:blocks', ...range(0, 5).map(i => `blocks:${i}`)])
    const frames = flat(writes)
    assert.deepEqual(onChannel(frames, 'bulk'), range(0, 100))
    assert.deepEqual(onChannel(frames, 'votes'), range(0, 5))
    assert.deepEqual(onChannel(frames, 'blocks'), range(0, 5))
    assert.equal(d.lanes.queued, 0)
    d.close()
  })

  it(`never starves a lane: one passed over by ${STARVATION_WRITES} writes while it had messages goes first in the next`, async () => {
    // two 256-byte messages per write; each write fills the link's buffer, and is delivered 1 ms later
    const { d, link, up } = setup({ maxWriteBytes: 2 * 259 + 10, bufferBytes: 1, latency: 1 })
    const s = await up()
    queue(d, VOTES, seq(999, 256)) // the first write, then the writer waits for drain
    await link.tick()
    for (let i = 0; i < 200; i++) queue(d, VOTES, seq(i, 256))
    for (let i = 0; i < 10; i++) queue(d, BULK, seq(i, 256))
    // saturate: a drain after each write, re-filling the urgent lane so it never runs dry
    let next = 200
    for (let k = 0; k < 200 && d.lanes.get(BULK.channel)!.length > 0; k++) {
      await link.run({ for: 1 }) // the last write arrives: its drain lets the next one go
      for (let j = 0; j < 2; j++) queue(d, VOTES, seq(next++, 256))
    }
    assert.equal(d.lanes.get(BULK.channel)!.length, 0, 'bulk never drained')
    const writes = decodeWrites(s).slice(1)
    const bulkWrites = writes.map((w, i) => w.some(f => f.startsWith('bulk:')) ? i : -1).filter(i => i >= 0)
    // the first bulk write is the 9th; then one in every STARVATION_WRITES + 1
    assert.equal(bulkWrites[0], STARVATION_WRITES)
    for (let i = 1; i < bulkWrites.length; i++) assert.equal(bulkWrites[i] - bulkWrites[i - 1], STARVATION_WRITES + 1, `bulk writes at ${bulkWrites.join(',')}`)
    // each starved write is filled from the starved lane (2 messages), so 10 messages take 5 turns
    assert.equal(bulkWrites.length, 5)
    const frames = flat(writes)
    assert.deepEqual(onChannel(frames, 'bulk'), range(0, 10))
    const votes = onChannel(frames, 'votes')
    assert.deepEqual(votes, range(0, votes.length), 'votes reordered')
    d.close()
  })

  it('binds channels again on a new stream after a reconnect, and writes what queued meanwhile in order', async () => {
    const { d, link, up } = setup()
    const s1 = await up()
    queue(d, VOTES, seq(0))
    await link.tick()
    const second = up()
    link.cut()
    queue(d, VOTES, seq(1))
    queue(d, BULK, seq(0))
    const s2 = await second
    await link.tick()
    assert.deepEqual(decodeWrites(s1), [['bind:votes', 'votes:0']])
    assert.deepEqual(decodeWrites(s2).flat(), ['bind:votes', 'votes:1', 'bind:bulk', 'bulk:0'])
    d.close()
  })

  it('latest-wins while the writer waits: only the newest per key is written, in the place of the first', async () => {
    const { d, link, up } = setup({ bufferBytes: 1 })
    const s = await up()
    link.hold()
    queue(d, VOTES, seq(100))
    await link.tick()
    queue(d, VOTES, seq(1), 'vote/5/0')
    queue(d, VOTES, seq(2))
    queue(d, VOTES, seq(3), 'vote/5/1')
    queue(d, VOTES, seq(4), 'vote/5/0')
    queue(d, VOTES, seq(5), 'vote/5/1')
    queue(d, BULK, seq(6), 'vote/5/0') // the same key on another channel is another message
    await link.release()
    assert.deepEqual(flat(decodeWrites(s)), ['votes:100', 'votes:4', 'votes:2', 'votes:5', 'bulk:6'])
    assert.equal(d.lanes.get(VOTES.channel)!.superseded, 2)
    assert.equal(d.lanes.get(BULK.channel)!.superseded, 0)
    assert.equal(d.lanes.get(VOTES.channel)!.sent, 4)
    d.close()
  })

  it('a message whose deadline passes while queued is never written, and is counted expired', async () => {
    const { d, link, up } = setup({ bufferBytes: 1 })
    const s = await up()
    link.hold()
    queue(d, VOTES, seq(0))
    await link.tick()
    const t = link.clock.now()
    queue(d, VOTES, seq(1), undefined, t + 50)
    queue(d, VOTES, seq(2))
    queue(d, VOTES, seq(3), 'k', t + 60_000)
    await link.run({ for: 1_000 }) // the first deadline passes while the writer waits for drain
    await link.release()
    assert.deepEqual(flat(decodeWrites(s)), ['votes:0', 'votes:2', 'votes:3'])
    const lane = d.lanes.get(VOTES.channel)!
    assert.equal(lane.expired, 1)
    assert.equal(lane.sent, 3)
    assert.equal(lane.dropped, 0)
    d.close()
  })
})

describe('Dispatcher FRAME_FLOW window', () => {
  it('stops writing at maxBytesInFlight until the receiver reports bytes consumed, then writes on, in order', async () => {
    const window = 4096
    const { d, link, up } = setup({ maxWriteBytes: 1024, maxBytesInFlight: window })
    const s = await up()
    const n = 100
    for (let i = 0; i < n; i++) queue(d, BLOCKS, seq(i, 256))
    await link.tick()
    const first = written(s)
    assert.ok(first >= window && first < window + 1024, `wrote ${first} bytes with a window of ${window}`)
    assert.ok(d.lanes.queued > 0)
    // nothing more is written without a report, however long we wait
    await link.run({ for: 1_000 })
    d.schedule()
    await link.tick()
    assert.equal(written(s), first)

    // a report of part of it opens room for exactly one more write (3 frames of 260 bytes)
    const writes = s.writes.length
    await flow(link, s, encodeKindFrame(FRAME_FLOW, 1000, -1))
    assert.equal(s.writes.length, writes + 1)
    assert.ok(written(s) - 1000 >= window)
    // reporting everything, repeatedly, drains the lane
    for (let k = 0; k < 100 && d.lanes.queued > 0; k++) {
      const before = written(s)
      await flow(link, s, encodeKindFrame(FRAME_FLOW, written(s), -1))
      assert.ok(written(s) - before <= window + 1024)
    }
    assert.equal(d.lanes.queued, 0)
    assert.deepEqual(onChannel(flat(decodeWrites(s)), 'blocks'), range(0, n))
    assert.equal(s.status, 'open')
    d.close()
  })

  it('a report split across chunks (an Uint8ArrayList) and a stale, smaller total are both fine', async () => {
    const { d, link, up } = setup({ maxWriteBytes: 1024, maxBytesInFlight: 2048 })
    const s = await up()
    for (let i = 0; i < 40; i++) queue(d, BLOCKS, seq(i, 256))
    await link.tick()
    const total = written(s)
    const report = encodeKindFrame(FRAME_FLOW, total, -1)
    await flow(link, s, report.subarray(0, 1))
    assert.equal(written(s), total)
    // the rest in two chunks, held while the stream is paused and handed over as one Uint8ArrayList
    const lists: boolean[] = []
    s.addEventListener('message', evt => { lists.push(evt.data instanceof Uint8ArrayList) })
    s.pause()
    s.other.send(report.subarray(1, 3))
    s.other.send(report.subarray(3))
    await link.tick()
    assert.equal(written(s), total)
    s.resume()
    assert.deepEqual(lists, [true])
    assert.ok(written(s) > total)
    await flow(link, s, encodeKindFrame(FRAME_FLOW, 10, -1)) // older than what was reported: ignored
    assert.equal(s.status, 'open')
    d.close()
  })

  it('past a full window only priority-0 lanes write, by at most 64 KiB and one write: an urgent message does not wait for a report', async () => {
    const window = 4096
    const { d, link, up } = setup({ maxWriteBytes: 1024, maxBytesInFlight: window })
    const s = await up()
    for (let i = 0; i < 100; i++) queue(d, BLOCKS, seq(i, 256))
    await link.tick()
    const full = written(s)
    assert.ok(full >= window)
    queue(d, VOTES, seq(0, 256)) // urgent: written at once, past the window
    await link.tick()
    assert.ok(written(s) > full, 'the priority-0 message waited for a report')
    assert.deepEqual(onChannel(flat(decodeWrites(s)), 'votes'), [0])
    const blocksBefore = onChannel(flat(decodeWrites(s)), 'blocks').length
    for (let i = 1; i < 1000; i++) queue(d, VOTES, seq(i, 256)) // a flood of urgent ones: bounded too
    await link.tick()
    assert.ok(written(s) <= full + 64 * 1024 + 1024 + 512, `wrote ${written(s) - full} bytes past a full window`)
    assert.equal(onChannel(flat(decodeWrites(s)), 'blocks').length, blocksBefore, 'a bulk lane wrote past the window')
    d.close()
  })

  it('a receiver reporting more bytes consumed than were written resets the stream', async () => {
    const { d, link, up } = setup({ maxBytesInFlight: 4096 })
    const s = await up()
    queue(d, VOTES, seq(0))
    await link.tick()
    await flow(link, s, encodeKindFrame(FRAME_FLOW, written(s) + 1, -1))
    assert.equal(s.status, 'aborted')
    assert.ok(s.closed?.error !== undefined && s.closed.local === true)
    assert.equal(s.other.status, 'reset')
    d.close()
  })

  it('anything but a well-formed FLOW frame on the reverse direction resets the stream', async () => {
    const bad = [
      encodeKindFrame(FRAME_CHANNEL, 1, -1, seq(0)), // another kind
      encodeKindFrame(FRAME_FLOW, 1, 2), // trailing bytes
      Uint8Array.of(2, FRAME_FLOW, 0x80), // truncated varint
      Uint8Array.of(0) // empty frame
    ]
    for (const bytes of bad) {
      const { d, link, up } = setup()
      const s = await up()
      queue(d, VOTES, seq(0))
      await link.tick()
      await flow(link, s, bytes)
      assert.equal(s.status, 'aborted', `not aborted by ${bytes.join(',')}`)
      assert.equal(s.other.status, 'reset', `not reset by ${bytes.join(',')}`)
      d.close()
    }
  })

  it('on a 1.0.0 stream: no window, the default channel is written, other channels are dropped and counted', async () => {
    const { d, link, up } = setup({ protocol: V10, maxBytesInFlight: 1024 })
    const s = await up()
    for (let i = 0; i < 20; i++) d.send(seq(i, 256))
    const votes = queue(d, VOTES, seq(0))
    queue(d, VOTES, seq(1), 'k')
    await link.tick()
    assert.equal(written(s), 20 * 259, 'the 1.1.0 window applied to a 1.0.0 stream')
    assert.deepEqual(flat(decodeWrites(s)), range(0, 20).map(i => `default:${i}`))
    assert.equal(votes.dropped, 2)
    assert.equal(votes.sent, 0)
    assert.equal(d.lanes.queued, 0)
    d.close()
  })

  it('a 1.1.0 stream writes nothing until it has something to say, then HELLO leads its first write only; one closed before writing leaves no HELLO to a 1.0.0 successor', async () => {
    const { d, link, up } = setup({ protocols: [V11, V11, V10] })
    const kinds = (w: Uint8Array | Uint8ArrayList): number[] => {
      const out: number[] = []
      const dec = new FrameDecoder(1 << 20, kind => { out.push(kind) }, MAX_KIND_1_1)
      for (const chunk of (w instanceof Uint8Array ? [w] : w)) assert.ok(dec.push(chunk))
      return out
    }
    const s1 = await up()
    await link.tick()
    assert.equal(s1.writes.length, 0, 'an idle stream wrote')
    d.send(seq(0))
    d.send(seq(1))
    await link.tick()
    d.send(seq(2))
    await link.tick()
    assert.deepEqual(s1.writes.map(kinds), [[FRAME_HELLO, FRAME_MESSAGE, FRAME_MESSAGE], [FRAME_MESSAGE]])
    const next = up()
    link.cut()
    const s2 = await next
    const last = up()
    link.cut() // before its first write
    const s3 = await last
    assert.equal(s3.protocol, V10)
    d.send(seq(3))
    await link.tick()
    assert.equal(s2.writes.length, 0)
    assert.deepEqual(s3.writes.map(kinds), [[FRAME_MESSAGE]])
    d.close()
  })
})
