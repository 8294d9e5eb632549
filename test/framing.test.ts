import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { readVarint, varintEnd, FRAME_CHANNEL, FRAME_MESSAGE, MAX_KIND_1_1 } from '../src/wire/frames.ts'
import { encodeFrame, encodeKindFrame, headerLength, writeHeader } from '../src/wire/encoder.ts'
import { FrameDecoder, bodyOf } from '../src/wire/decoder.ts'

function decodeAll (chunks: Uint8Array[], max = 1 << 20): { messages: number[][], ok: boolean, reason?: string, ended: boolean } {
  const messages: number[][] = []
  const d = new FrameDecoder(max, (_kind, buf, start, end) => messages.push([...buf.subarray(start, end)]))
  let ok = true
  for (const c of chunks) ok = d.push(c) === c.byteLength && ok
  const ended = ok && d.end()
  return { messages, ok, reason: d.error?.reason, ended }
}

/** Every way of cutting `bytes` into two chunks, and into single bytes. */
function splits (bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[bytes], [...bytes].map(b => Uint8Array.of(b))]
  for (let i = 0; i <= bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)])
  return out
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

describe('framing', () => {
  it('encodes uvarint(1 + length), kind 0, payload', () => {
    assert.deepEqual([...encodeFrame(new Uint8Array(0))], [1, 0])
    assert.deepEqual([...encodeFrame(Uint8Array.of(7, 8))], [3, 0, 7, 8])
    const big = encodeFrame(new Uint8Array(300))
    assert.deepEqual([...big.subarray(0, 3)], [0xad, 0x02, 0]) // 301 = 0b10_0101101
    assert.equal(big.length, 303)
  })

  it('headerLength matches what writeHeader writes, across varint widths', () => {
    for (const n of [0, 1, 126, 127, 128, 16382, 16383, 16384, 2_097_150, 2_097_151, 2 ** 28, 2 ** 35]) {
      const buf = new Uint8Array(16)
      assert.equal(writeHeader(buf, 0, n), headerLength(n), `length ${n}`)
    }
  })

  it('decodes frames in order however the bytes are split, empty messages included', () => {
    const payloads = [Uint8Array.of(1, 2, 3), new Uint8Array(0), new Uint8Array(200).fill(9), Uint8Array.of(4)]
    const stream = concat(...payloads.map(encodeFrame))
    for (const chunks of splits(stream)) {
      const r = decodeAll(chunks)
      assert.ok(r.ok && r.ended)
      assert.deepEqual(r.messages, payloads.map(p => [...p]))
    }
  })

  it('accepts a message of exactly maxMessageSize and rejects one byte more before buffering it', () => {
    assert.deepEqual(decodeAll([encodeFrame(new Uint8Array(10))], 10).messages.length, 1)
    const r = decodeAll([encodeFrame(new Uint8Array(11)).subarray(0, 2)], 10)
    assert.equal(r.ok, false)
    assert.equal(r.reason, 'too-large')
  })

  const bad: Array<[string, Uint8Array, string]> = [
    ['non-minimal varint', Uint8Array.of(0x81, 0x00, 0, 1), 'malformed-length'],
    ['varint that never ends', new Uint8Array(12).fill(0x80), 'malformed-length'],
    ['zero length (no kind byte)', Uint8Array.of(0), 'empty-frame'],
    ['unknown kind', Uint8Array.of(2, 7, 1), 'unknown-kind'],
    ['huge length', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), 'too-large']
  ]
  for (const [what, bytes, reason] of bad) {
    it(`rejects a ${what} (${reason}) however it is split, after delivering the good frames before it`, () => {
      const stream = concat(encodeFrame(Uint8Array.of(42)), bytes)
      for (const chunks of splits(stream)) {
        const r = decodeAll(chunks)
        assert.equal(r.ok, false)
        assert.equal(r.reason, reason)
        assert.deepEqual(r.messages, [[42]])
      }
    })
  }

  it('reports a stream that ends inside a frame as truncated', () => {
    const frame = encodeFrame(new Uint8Array(50))
    for (const cut of [1, 2, 30, 51]) {
      const r = decodeAll([frame.subarray(0, cut)])
      assert.equal(r.ok, true)
      assert.equal(r.ended, false)
      assert.equal(r.reason, 'truncated')
    }
    assert.equal(decodeAll([Uint8Array.of(0x80)]).reason, 'truncated') // inside the varint
  })

  it('ignores input after the first violation', () => {
    const messages: Uint8Array[] = []
    const d = new FrameDecoder(100, (_kind, buf, start, end) => messages.push(buf.subarray(start, end)))
    assert.equal(d.push(Uint8Array.of(0)), -1)
    assert.equal(d.push(encodeFrame(Uint8Array.of(1))), -1)
    assert.equal(messages.length, 0)
  })

  it('hands out each frame as its kind and where its body lies, however the bytes are split', () => {
    const bytes = concat(
      encodeKindFrame(FRAME_CHANNEL, 1, -1, Uint8Array.of(7, 8)),
      encodeFrame(Uint8Array.of(9)),
      encodeKindFrame(FRAME_CHANNEL, 300, -1, new Uint8Array(0)),
      encodeFrame(new Uint8Array(0))
    )
    for (const chunks of splits(bytes)) {
      const got: string[] = []
      const d = new FrameDecoder(10, (kind, buf, start, end) => got.push(`${kind}:${[...bodyOf(buf, start, end)]}`), MAX_KIND_1_1)
      for (const c of chunks) assert.equal(d.push(c), c.byteLength)
      assert.deepEqual(got, [`${FRAME_CHANNEL}:1,7,8`, `${FRAME_MESSAGE}:9`, `${FRAME_CHANNEL}:172,2`, `${FRAME_MESSAGE}:`])
    }
  })

  it('stops between two frames once its budget is spent, and goes on from where it stopped', () => {
    const frames = Array.from({ length: 10 }, (_, i) => encodeFrame(Uint8Array.of(i)))
    const big = encodeFrame(new Uint8Array(3 * 1024)) // costs 1 + 3
    const bytes = concat(...frames.slice(0, 5), big, ...frames.slice(5))
    const got: number[] = []
    const d = new FrameDecoder(1 << 20, (_kind, buf, start, end) => got.push(end - start === 1 ? buf[start] : -(end - start)))
    d.budget = 3
    let at = d.push(bytes)
    assert.equal(at, 3 * frames[0].byteLength) // three frames, then it stopped
    assert.deepEqual(got, [0, 1, 2])
    assert.equal(d.push(bytes, at), at, 'a spent budget takes nothing')
    d.budget = 3
    at = d.push(bytes, at)
    assert.deepEqual(got, [0, 1, 2, 3, 4, -3072], 'the large frame costs more than one, and is never split')
    d.budget = Infinity
    assert.equal(d.push(bytes, at), bytes.byteLength)
    assert.deepEqual(got, [0, 1, 2, 3, 4, -3072, 5, 6, 7, 8, 9])
    assert.equal(d.end(), true)
  })

  it('counts a frame assembled across chunks against the budget when it completes', () => {
    const got: number[] = []
    const d = new FrameDecoder(1 << 20, (_kind, _buf, start, end) => got.push(end - start))
    const frame = encodeFrame(new Uint8Array(2048))
    d.budget = 3
    assert.equal(d.push(frame.subarray(0, 100)), 100)
    assert.equal(d.budget, 3, 'nothing handed out yet')
    const rest = concat(frame.subarray(100), encodeFrame(Uint8Array.of(1)))
    assert.equal(d.push(rest), frame.byteLength - 100, 'the large frame (1 + 2) spends it')
    assert.deepEqual(got, [2048])
  })

  it('readVarint stops at `end`: a number cut off there is malformed, not read on into what follows', () => {
    const buf = Uint8Array.of(0x81, 0x02, 0x05)
    assert.equal(readVarint(buf, 0), 257)
    assert.equal(readVarint(buf, 0, 1), -1)
    assert.equal(readVarint(buf, 2, 3), 5)
    assert.equal(varintEnd, 3)
  })
})
