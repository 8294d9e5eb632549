/**
 * Version 1.1.0 input that breaks the wire format, from a plain libp2p peer dialing
 * CHANNEL_PROTOCOL: each malformed new kind resets its stream and is counted once in
 * `invalidFrames`, while members carry on. Valid frames for things this node does not have
 * (channels, requests) are not violations. Then a seeded fuzz of the Receiver: random valid
 * 1.1.0 frame sequences cut into random chunks decode without loss, duplication or reordering,
 * and random corruptions never throw and either decode or reset the stream, once.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { CHANNEL_PROTOCOL } from '../src/constants.ts'
import { FRAME_BIND, FRAME_CANCEL, FRAME_CHANNEL, FRAME_CREDIT, FRAME_END, FRAME_ERROR, FRAME_FLOW, FRAME_MESSAGE, FRAME_PART, FRAME_REQUEST, FRAME_RESPONSE, MAX_KIND_1_1, readVarint, varintEnd } from '../src/wire/frames.ts'
import { encodeFrame, encodeKindFrame } from '../src/wire/encoder.ts'
import { bodyOf, FrameDecoder } from '../src/wire/decoder.ts'
import { Receiver, type ReceiverInit } from '../src/link/receiver.ts'
import type { Inbound } from '../src/link/frame-reader.ts'
import { Log } from './channel-helpers.ts'
import { membershipOf, mesh, plainNode, seq, seqOf, stopAll, text, waitUntil, withTimeout } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'
import type { Libp2p } from 'libp2p'
import type { Stream, StreamCloseEvent } from '@libp2p/interface'
import { mulberry32 } from '../src/testing/random.ts'
import { SimLink, type Recorded } from './sim-link.ts'

const MAX = 1024

const bind = (ch: number, name: string | Uint8Array): Uint8Array => encodeKindFrame(FRAME_BIND, ch, -1, typeof name === 'string' ? text(name) : name)

/** Each kind of bad 1.1.0 input, after one good frame (which must not be lost either). */
const BAD: Array<[string, Uint8Array[]]> = [
  ['a CHANNEL frame on an unbound channel number', [encodeKindFrame(FRAME_CHANNEL, 5, -1, text('x'))]],
  ['a REQUEST on an unbound channel number', [encodeKindFrame(FRAME_REQUEST, 5, 1, text('x'))]],
  ['a BIND of channel 0', [bind(0, 'votes')]],
  ['a BIND with an empty name', [bind(1, '')]],
  ['a BIND with a 65-byte name', [bind(1, 'n'.repeat(65))]],
  ['a BIND with a name that is not UTF-8', [bind(1, Uint8Array.of(0x76, 0xff, 0xfe))]],
  ['a BIND that rebinds a bound number (same name)', [bind(1, 'votes'), bind(1, 'votes')]],
  ['a BIND that rebinds a bound number (other name)', [bind(1, 'votes'), bind(1, 'blocks')]],
  ['a BIND with no body', [Uint8Array.of(1, FRAME_BIND)]],
  ['a channel number that is not a minimal varint', [bind(1, 'votes'), Uint8Array.of(4, FRAME_CHANNEL, 0x81, 0x00, 7)]],
  ['a channel number that never ends', [Uint8Array.of(3, FRAME_CHANNEL, 0x81, 0x81)]],
  ['a REQUEST with id 0', [bind(1, 'votes'), encodeKindFrame(FRAME_REQUEST, 1, 0, text('q'))]],
  ['a REQUEST with no id', [bind(1, 'votes'), encodeKindFrame(FRAME_REQUEST, 1, -1)]],
  ['a RESPONSE with id 0', [encodeKindFrame(FRAME_RESPONSE, 0, -1, text('r'))]],
  ['a PART with id 0', [encodeKindFrame(FRAME_PART, 0, -1, text('r'))]],
  ['an END with trailing bytes', [encodeKindFrame(FRAME_END, 1, -1, Uint8Array.of(0))]],
  ['an END with id 0', [encodeKindFrame(FRAME_END, 0, -1)]],
  ['an ERROR with code 0', [encodeKindFrame(FRAME_ERROR, 1, -1, Uint8Array.of(0))]],
  ['an ERROR with an unknown code (6)', [encodeKindFrame(FRAME_ERROR, 1, -1, Uint8Array.of(6, 0x68, 0x69))]],
  ['an ERROR with no code', [encodeKindFrame(FRAME_ERROR, 1, -1)]],
  ['an ERROR whose message exceeds 1 KiB', [encodeKindFrame(FRAME_ERROR, 1, -1, new Uint8Array(1 + 1025).fill(0x61).fill(3, 0, 1))]],
  ['a CANCEL with trailing bytes', [encodeKindFrame(FRAME_CANCEL, 1, 1)]],
  ['a CREDIT of 0 parts', [encodeKindFrame(FRAME_CREDIT, 1, 0)]],
  ['a CREDIT with no count', [encodeKindFrame(FRAME_CREDIT, 1, -1)]],
  ['a CREDIT with trailing bytes', [encodeKindFrame(FRAME_CREDIT, 1, 1, Uint8Array.of(0))]],
  ['a CHANNEL payload larger than maxMessageSize', [bind(1, 'votes'), encodeKindFrame(FRAME_CHANNEL, 1, -1, new Uint8Array(MAX + 1))]],
  ['a REQUEST payload larger than maxMessageSize', [bind(1, 'votes'), encodeKindFrame(FRAME_REQUEST, 1, 1, new Uint8Array(MAX + 1))]],
  ['a RESPONSE payload larger than maxMessageSize', [encodeKindFrame(FRAME_RESPONSE, 1, -1, new Uint8Array(MAX + 1))]],
  ['a PART payload larger than maxMessageSize', [encodeKindFrame(FRAME_PART, 1, -1, new Uint8Array(MAX + 1))]],
  ['a default-channel MESSAGE larger than maxMessageSize', [encodeFrame(new Uint8Array(MAX + 1))]],
  ['a FLOW frame on the writer\'s direction', [encodeKindFrame(FRAME_FLOW, 10, -1)]],
  ['an unknown kind (13)', [Uint8Array.of(2, 13, 0)]],
  ['a PING with a body', [Uint8Array.of(2, 11, 0)]],
  ['a RELIABLE frame before the writer\'s HELLO', [bind(1, 'votes'), encodeKindFrame(10, 1, 1, text('x'))]],
  ['a second HELLO', [encodeKindFrame(12, 7, -1), encodeKindFrame(12, 7, -1)]],
  ['a RELIABLE frame numbered 0', [encodeKindFrame(12, 7, -1), bind(1, 'votes'), encodeKindFrame(10, 1, 0, text('x'))]]
]

describe('bad 1.1.0 frames from a plain libp2p peer', () => {
  const nets: ConsensusNet[] = []
  let raw: Libp2p
  before(async () => {
    // blockDuration 0: one peer breaks the format again and again here, and must not be blocked for it
    await mesh(nets, 2, { maxMessageSize: MAX, blockDuration: 0 })
    raw = await plainNode()
    for (const n of nets) n.channel('votes', { priority: 0 })
  })
  after(async () => { await stopAll([...nets, raw]) })

  for (const [i, [what, chunks]] of BAD.entries()) {
    it(`${what}: its stream is reset and counted once, members carry on`, async () => {
      const [a, b] = nets
      const log = new Log().listen(b.channel('votes'), 'votes').listen(b, 'default')
      const invalid = b.stats().invalidFrames
      const buffered = b.stats().tentative.buffered
      const stream = await raw.dialProtocol(multiaddr(b.getMultiaddrs()[0]), CHANNEL_PROTOCOL)
      assert.equal(stream.protocol, CHANNEL_PROTOCOL)
      const closed = new Promise<StreamCloseEvent>(resolve => { stream.addEventListener('close', resolve, { once: true }) })
      stream.send(encodeFrame(Uint8Array.of(i)))
      for (const c of chunks) stream.send(c)
      // members keep talking while the bad stream is dealt with
      for (let k = 0; k < 20; k++) {
        a.channel('votes').send('b', seq(k))
        a.send('b', seq(k))
      }
      const evt = await withTimeout(closed, 5_000, () => 'bad stream was not closed')
      assert.equal(stream.status, 'reset', `expected a reset, got ${stream.status} (${evt.error?.name})`)
      await log.waitFor('votes', 20)
      await log.waitFor('default', 20)
      assert.equal(b.stats().invalidFrames, invalid + 1)
      for (const tag of ['votes', 'default']) assert.deepEqual(log.of(tag).map(e => `${e.from}:${seqOf(e.data)}`), Array.from({ length: 20 }, (_, k) => `a:${k}`))
      // the good frame before the bad one was held (raw is not a member), not emitted
      assert.equal(b.stats().tentative.buffered, buffered + 1)
    })
  }

  it('valid frames for a channel or request this node does not have are not violations: counted, answered no-handler, the stream stays', async () => {
    const [, b] = nets
    const x = await plainNode()
    try {
      // x is a member, and reads b's stream to it (1.1.0): the answers to its requests come there
      const frames: string[] = []
      await x.handle(CHANNEL_PROTOCOL, (s: Stream) => {
        const d = new FrameDecoder(MAX, (kind, buf, start, end) => {
          const body = bodyOf(buf, start, end)
          const id = readVarint(body, 0)
          frames.push(kind === FRAME_ERROR ? `error:${id}:${body[varintEnd]}` : `${kind}`)
        }, MAX_KIND_1_1)
        s.addEventListener('message', evt => {
          for (const chunk of (evt.data instanceof Uint8ArrayList ? evt.data : [evt.data])) d.push(chunk)
        })
      })
      const membership = { ...membershipOf(nets), x: x.getMultiaddrs().map(String) }
      await b.connect(membership)
      await b.waitFor(3)
      const log = new Log().listen(b.channel('votes'), 'votes').listen(b, 'default')
      const invalid = b.stats().invalidFrames
      const unknown = b.stats().unknownChannel
      const late = b.stats().lateReplies
      const s = await x.dialProtocol(multiaddr(b.getMultiaddrs()[0]), CHANNEL_PROTOCOL)
      s.send(bind(200, 'votes')) // any number the writer likes, two-byte varint
      s.send(encodeKindFrame(FRAME_CHANNEL, 200, -1, seq(1)))
      s.send(bind(7, 'not-opened-by-b'))
      s.send(encodeKindFrame(FRAME_CHANNEL, 7, -1, seq(2)))
      s.send(encodeKindFrame(FRAME_REQUEST, 7, 42, text('?')))
      s.send(encodeKindFrame(FRAME_RESPONSE, 99, -1, text('an answer nobody asked for')))
      s.send(encodeKindFrame(FRAME_CANCEL, 5, -1)) // cancel of a request b is not serving
      s.send(encodeKindFrame(FRAME_CREDIT, 5, 3))
      s.send(encodeKindFrame(FRAME_CHANNEL, 200, -1, seq(3)))
      s.send(encodeFrame(seq(4)))
      await log.waitFor('votes', 2)
      await log.waitFor('default', 1)
      assert.deepEqual(log.entries.map(e => `${e.tag}:${e.from}:${seqOf(e.data)}`), ['votes:x:1', 'votes:x:3', 'default:x:4'])
      await waitUntil(() => frames.includes('error:42:2'), 20_000, 'an ERROR no-handler for request 42')
      assert.equal(b.stats().unknownChannel, unknown + 2)
      assert.equal(b.stats().lateReplies, late + 1)
      assert.equal(b.stats().invalidFrames, invalid)
      assert.equal(s.status, 'open')
      await b.connect(membershipOf(nets))
    } finally {
      await x.stop()
    }
  })
})

// --- the Receiver on a simulated stream (test/sim-link.ts), in virtual time: seeded fuzz ---

/** Seeded draws (mulberry32), so a failure can be replayed from its seed. */
function rng (seed: number): { int: (n: number) => number, chance: (p: number) => boolean } {
  const next = mulberry32(seed)
  return { int: n => Math.floor(next() * n), chance: p => next() < p }
}

/**
 * A new 1.1.0 stream of `link`, its reader's end read by a Receiver built from `init` (on the
 * reader's clock); returns the writer's end (`.other` is the Receiver's).
 */
async function receiving (link: SimLink, init: Omit<ReceiverInit, 'clock' | 'peer' | 'maxMessageSize' | 'channels' | 'session' | 'onClose'>): Promise<Recorded> {
  const writer = await link.open(CHANNEL_PROTOCOL)
  // eslint-disable-next-line no-new
  new Receiver(writer.other, { ...init, peer: 'p', maxMessageSize: FUZZ_MAX, channels: true, session: 1, onClose: () => {}, clock: link.readerClock })
  return writer
}

const FUZZ_MAX = 300
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** A random valid 1.1.0 frame sequence, and what a Receiver must hand out for it, in order. */
function validSequence (r: ReturnType<typeof rng>): { bytes: Uint8Array, expected: string[] } {
  const frames: Uint8Array[] = []
  const expected: string[] = []
  const bound = new Map<number, string>()
  const payload = (): Uint8Array => {
    const n = r.chance(0.05) ? FUZZ_MAX : r.chance(0.1) ? 0 : r.int(40)
    const b = new Uint8Array(n)
    for (let i = 0; i < n; i++) b[i] = r.int(256)
    return b
  }
  const id = (): number => r.chance(0.2) ? 1 + r.int(2 ** 31) : 1 + r.int(200)
  const count = 1 + r.int(60)
  for (let f = 0; f < count; f++) {
    const kind = r.int(10)
    if ((kind === FRAME_CHANNEL || kind === FRAME_REQUEST) && bound.size === 0) {
      f--
      continue
    }
    const channels = [...bound.keys()]
    const ch = channels[r.int(channels.length)]
    switch (kind) {
      case FRAME_MESSAGE: {
        const p = payload()
        frames.push(encodeFrame(p))
        expected.push(`m:${hex(p)}`)
        break
      }
      case FRAME_BIND: {
        let n: number
        do n = 1 + (r.chance(0.3) ? r.int(100_000) : r.int(100)); while (bound.has(n))
        const chars = 1 + r.int(20)
        let name = ''
        for (let i = 0; i < chars; i++) name += r.chance(0.2) ? 'é✓'[r.int(2)] : String.fromCharCode(0x61 + r.int(26))
        if (text(name).byteLength > 64) name = name.slice(0, 16)
        bound.set(n, name)
        frames.push(bind(n, name))
        break
      }
      case FRAME_CHANNEL: {
        const p = payload()
        frames.push(encodeKindFrame(FRAME_CHANNEL, ch, -1, p))
        expected.push(`c:${bound.get(ch)!}:${hex(p)}`)
        break
      }
      case FRAME_REQUEST: {
        const p = payload()
        const i = id()
        frames.push(encodeKindFrame(FRAME_REQUEST, ch, i, p))
        expected.push(`q:${bound.get(ch)!}:${i}:${hex(p)}`)
        break
      }
      case FRAME_RESPONSE:
      case FRAME_PART: {
        const p = payload()
        const i = id()
        frames.push(encodeKindFrame(kind, i, -1, p))
        expected.push(`r:${kind}:${i}:-1:${hex(p)}`)
        break
      }
      case FRAME_END: {
        const i = id()
        frames.push(encodeKindFrame(FRAME_END, i, -1))
        expected.push(`r:${kind}:${i}:-1:`)
        break
      }
      case FRAME_ERROR: {
        const i = id()
        const code = 1 + r.int(5)
        const msg = text('failed '.repeat(r.int(4)))
        frames.push(encodeKindFrame(FRAME_ERROR, i, -1, Uint8Array.of(code, ...msg)))
        expected.push(`r:${kind}:${i}:${code}:${hex(msg)}`)
        break
      }
      case FRAME_CANCEL: {
        const i = id()
        frames.push(encodeKindFrame(FRAME_CANCEL, i, -1))
        expected.push(`k:${kind}:${i}:-1`)
        break
      }
      case FRAME_CREDIT: {
        const i = id()
        const n = 1 + r.int(r.chance(0.5) ? 16 : 100_000)
        frames.push(encodeKindFrame(FRAME_CREDIT, i, n))
        expected.push(`k:${kind}:${i}:${n}`)
        break
      }
    }
  }
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0))
  let o = 0
  for (const f of frames) {
    bytes.set(f, o)
    o += f.byteLength
  }
  return { bytes, expected }
}

describe('the Receiver checks a CHANNEL frame as it checks every kind', () => {
  it('a malformed number first, then whether the channel is bound, then the payload\'s size', async () => {
    const link = new SimLink({ read: false })
    const cases: Array<[string, Uint8Array[], string]> = [
      ['unbound and too large', [encodeKindFrame(FRAME_CHANNEL, 5, -1, new Uint8Array(FUZZ_MAX + 1))], 'unbound-channel'],
      ['bound and too large', [bind(5, 'votes'), encodeKindFrame(FRAME_CHANNEL, 5, -1, new Uint8Array(FUZZ_MAX + 1))], 'too-large'],
      ['not minimal, unbound', [Uint8Array.of(4, FRAME_CHANNEL, 0x85, 0x00, 7)], 'malformed-body'],
      // a number cut off by its frame's end, the next frame right behind: read on, 0x81 0x02
      // would be channel 257, bound here, and the message delivered
      ['a number cut off by its frame', [bind(257, 'votes'), Uint8Array.of(2, FRAME_CHANNEL, 0x81, 2, FRAME_MESSAGE, 5)], 'malformed-body']
    ]
    for (const [what, frames, reason] of cases) {
      for (const split of [false, true]) {
        const reasons: string[] = []
        let delivered = 0
        const count = (): void => { delivered++ }
        const writer = await receiving(link, {
          inbound: { message: count, channel: count, reliable: count, hello: () => {}, request: count, reply: count, control: count },
          onInvalid: (_r, err) => { reasons.push(err.reason) }
        })
        const bytes = Buffer.concat(frames)
        // whole, or byte by byte (the frame assembled across chunks)
        if (split) for (const b of bytes) writer.send(Uint8Array.of(b))
        else writer.send(bytes)
        await link.tick()
        assert.deepEqual(reasons, [reason], `${what}${split ? ', byte by byte' : ''}`)
        assert.equal(delivered, 0)
        assert.equal(writer.other.status, 'aborted', 'the Receiver aborted its end')
        assert.equal(writer.status, 'reset', 'the writer sees its stream reset')
      }
    }
  })
})

interface Run {
  got: string[]
  invalid: number
  /** Frames handed out after the stream was reported invalid. */
  afterInvalid: number
  largest: number
  /** The Receiver's end (`.other` is the writer's). */
  stream: Recorded
}

/**
 * Feeds `bytes` to a Receiver on a new stream of `link` in random chunks (some handed over as
 * Uint8ArrayLists), then ends the stream gracefully, and runs until both ends are finished.
 */
async function feed (link: SimLink, bytes: Uint8Array, r: ReturnType<typeof rng>): Promise<Run> {
  const run: Run = { got: [], invalid: 0, afterInvalid: 0, largest: 0, stream: undefined as unknown as Recorded }
  const record = (entry: string, size: number): void => {
    if (run.invalid > 0) run.afterInvalid++
    run.got.push(entry)
    run.largest = Math.max(run.largest, size)
  }
  const inbound: Inbound = {
    message: data => { record(`m:${hex(data)}`, data.byteLength) },
    channel: (name, data) => { record(`c:${name}:${hex(data)}`, data.byteLength) },
    reliable: (name, seq, data) => { record(`l:${name}:${seq}:${hex(data)}`, data.byteLength) },
    hello: session => { record(`h:${session}`, 0) },
    request: (name, id, data) => { record(`q:${name}:${id}:${hex(data)}`, data.byteLength) },
    reply: (kind, id, n, data) => { record(`r:${kind}:${id}:${n}:${hex(data)}`, data.byteLength) },
    control: (kind, id, n) => { record(`k:${kind}:${id}:${n}`, 0) }
  }
  const writer = await receiving(link, { inbound, onInvalid: () => { run.invalid++ } })
  const stream = run.stream = writer.other
  let at = 0
  // chunks sent without a pause between them arrive each in an event of its own, in order
  for (let k = 0; at < bytes.byteLength && k < 100_000 && writer.writeStatus === 'writable'; k++) {
    const size = r.chance(0.1) ? bytes.byteLength : 1 + r.int(r.chance(0.5) ? 8 : 300)
    const chunk = bytes.subarray(at, Math.min(bytes.byteLength, at + size))
    at += chunk.byteLength
    if (chunk.byteLength > 1 && r.chance(0.3)) {
      // two pieces held while the Receiver's end is paused, handed over on resume as one Uint8ArrayList
      const cut = 1 + r.int(chunk.byteLength - 1)
      await link.tick()
      if (stream.status !== 'open') break // reset by the Receiver: nothing more is read
      stream.pause()
      writer.send(chunk.subarray(0, cut))
      writer.send(chunk.subarray(cut))
      await link.tick()
      if (stream.status === 'open') stream.resume()
    } else {
      writer.send(chunk)
    }
  }
  if (writer.writeStatus === 'writable') await writer.close()
  await link.run({ until: () => stream.status !== 'open' && writer.status !== 'open', timeout: 10_000 })
  return run
}

describe('Receiver fuzz (seeded)', () => {
  it('random valid 1.1.0 frame sequences cut into random chunks decode without loss, duplication or reordering', async () => {
    const link = new SimLink({ read: false })
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed)
      const { bytes, expected } = validSequence(r)
      const run = await feed(link, bytes, r)
      assert.equal(run.invalid, 0, `seed ${seed}: a valid sequence was reported invalid`)
      assert.equal(run.stream.aborts, 0, `seed ${seed}: a valid stream was reset`)
      assert.deepEqual(run.got, expected, `seed ${seed}`)
      assert.equal(run.stream.status, 'closed', `seed ${seed}: the stream did not end gracefully`)
    }
  })

  it('random corruptions never throw, and either decode or reset the stream, reported once, handing out nothing after', async () => {
    const link = new SimLink({ read: false })
    let resets = 0
    let decoded = 0
    for (let seed = 1; seed <= 1000; seed++) {
      const r = rng(seed * 7919)
      const { bytes } = validSequence(r)
      const b = Array.from(bytes)
      for (let m = 1 + r.int(3); m > 0; m--) {
        const at = r.int(b.length + 1)
        switch (r.int(4)) {
          case 0: if (b.length > 0) b[Math.min(at, b.length - 1)] = r.int(256); break
          case 1: b.splice(at, 0, r.int(256)); break
          case 2: b.splice(at, 1); break
          case 3: b.length = Math.min(b.length, at); break
        }
      }
      let run: Run
      try {
        run = await feed(link, Uint8Array.from(b), r) // a Receiver that throws fails the run
      } catch (err: any) {
        assert.fail(`seed ${seed}: threw ${err?.stack ?? err}`)
      }
      assert.ok(run.invalid <= 1, `seed ${seed}: reported invalid ${run.invalid} times`)
      assert.equal(run.afterInvalid, 0, `seed ${seed}: frames handed out after the violation`)
      if (run.invalid === 1) {
        resets++
        assert.equal(run.stream.status, 'aborted', `seed ${seed}: reported invalid but not aborted`)
        assert.equal(run.stream.other.status, 'reset', `seed ${seed}: reported invalid but the writer was not reset`)
      } else {
        decoded++
        assert.equal(run.stream.aborts, 0, `seed ${seed}: reset without being reported invalid`)
      }
      assert.ok(run.largest <= FUZZ_MAX, `seed ${seed}: handed out a ${run.largest}-byte payload (maxMessageSize ${FUZZ_MAX})`)
    }
    // the corruptions exercised both outcomes
    assert.ok(resets > 100 && decoded > 50, `resets ${resets}, decoded ${decoded}`)
  })
})
