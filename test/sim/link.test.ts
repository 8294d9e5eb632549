/**
 * Link shaping in virtual time, measured exactly: latency per direction, jitter within its bounds
 * and never reordering a connection, bandwidth serialised per direction across connections, a
 * large write delivered frame by frame, the trace and the stats, shapes changed on the fly.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bytes, open, probes } from './helpers.ts'
import { MAX_FRAME_BYTES } from '../../src/testing/sim/connection.ts'
import type { TraceEvent } from '../../src/testing/index.ts'

describe('simulated links', () => {
  it('latency delays every delivery by exactly the set amount, one direction only', async () => {
    const sim = probes({ nodes: 2, seed: 1, init: node => ({ echo: node === 'n1' }) })
    const stream = await open(sim, 'n0', 'n1')
    sim.net('n0').read(stream, 'n1')
    sim.link('n0', 'n1').set({ latency: 150 }, 'n0')
    assert.deepEqual(sim.link('n0', 'n1').shape('n0'), { latency: 150, jitter: 0, bandwidth: Infinity })
    assert.deepEqual(sim.link('n0', 'n1').shape('n1'), { latency: 0, jitter: 0, bandwidth: Infinity })
    const t0 = sim.now
    stream.send(bytes(10))
    await sim.run({ for: 1_000 })
    assert.deepEqual(sim.net('n1').received.map(r => r.at - t0), [150])
    assert.deepEqual(sim.net('n0').received.map(r => r.at - t0), [150]) // the echo came back at once
  })

  it('jitter stays within [latency, latency + jitter) and never reorders a connection', async () => {
    const trace: TraceEvent[] = []
    const sim = probes({ nodes: 2, seed: 4, link: { latency: 50, jitter: 20 }, trace: event => { trace.push(event) } })
    const stream = await open(sim, 'n0', 'n1')
    trace.length = 0
    const t0 = sim.now
    for (let i = 0; i < 200; i++) stream.send(Uint8Array.of(i))
    await sim.run({ for: 1_000 })
    const got = sim.net('n1').received
    assert.deepEqual(got.map(r => r.data[0]), Array.from({ length: 200 }, (_, i) => i))
    for (let i = 0; i < got.length; i++) {
      assert.ok(got[i].at - t0 >= 50 && got[i].at - t0 < 70, `delivery ${i} after ${got[i].at - t0} ms`)
      if (i > 0) assert.ok(got[i].at >= got[i - 1].at)
    }
    assert.equal(trace.length, 200)
    assert.ok(new Set(trace.map(e => e.jitter)).size > 150, 'jitter drawn per chunk')
    // a chunk that drew less jitter than the one before waits for it: its delay says so
    assert.ok(trace.some(e => e.delay > 50 + e.jitter))
  })

  it('bandwidth serialises chunks on a direction, across its connections', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10, bandwidth: 1_000 } })
    const a = await open(sim, 'n0', 'n1')
    const b = await open(sim, 'n0', 'n1', { force: true })
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 2)
    const t0 = sim.now
    a.send(bytes(500, 1))
    b.send(bytes(500, 2))
    a.send(bytes(250, 3))
    await sim.run({ for: 5_000 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.at - t0]), [[1, 510], [2, 1_010], [3, 1_260]])
  })

  it('a write larger than a yamux frame arrives frame by frame, each when its own transmission ends', async () => {
    const trace: TraceEvent[] = []
    const frame = MAX_FRAME_BYTES
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10, bandwidth: frame }, trace: event => { trace.push(event) } }) // a frame a second
    const stream = await open(sim, 'n0', 'n1')
    trace.length = 0
    const t0 = sim.now
    stream.send(bytes(2.5 * frame, 1))
    stream.send(bytes(frame / 4, 2)) // smaller than a frame: one chunk, as before
    await sim.run({ for: 5_000 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.data.byteLength, r.at - t0]), [
      [1, frame, 1_010], [1, frame, 2_010], [1, frame / 2, 2_510], [2, frame / 4, 2_760]
    ])
    assert.deepEqual(trace.map(e => e.bytes), [frame, frame, frame / 2, frame / 4])

    const unbounded = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const fast = await open(unbounded, 'n0', 'n1')
    const t1 = unbounded.now
    fast.send(bytes(frame + 1, 3))
    await unbounded.run({ for: 100 })
    assert.deepEqual(unbounded.net('n1').received.map(r => [r.data.byteLength, r.at - t1]), [[frame, 10], [1, 10]])
  })

  it('stats count what is delivered, in flight and held, and the open connections', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 100 } })
    const stream = await open(sim, 'n0', 'n1')
    const link = sim.link('n0', 'n1')
    stream.send(bytes(300))
    assert.deepEqual(link.stats('n0'), { delivered: 0, inFlight: 300, held: 0, connections: 1 })
    await sim.run({ for: 100 })
    sim.blackhole('n0', 'n1')
    stream.send(bytes(40))
    assert.deepEqual(link.stats('n0'), { delivered: 300, inFlight: 0, held: 40, connections: 1 })
    sim.heal('n0', 'n1')
    await sim.run({ for: 100 })
    assert.deepEqual(link.stats('n0'), { delivered: 340, inFlight: 0, held: 0, connections: 1 })
  })

  it('a new shape applies to later chunks; earlier ones keep their time and are never overtaken', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 100 } })
    const stream = await open(sim, 'n0', 'n1')
    const t0 = sim.now
    stream.send(bytes(1, 1))
    sim.link('n0', 'n1').set({ latency: 10 })
    stream.send(bytes(1, 2))
    await sim.run({ for: 500 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.at - t0]), [[1, 100], [2, 100]])
  })

  it('rejects bad shapes and links, all or nothing', () => {
    const sim = probes({ nodes: 2, seed: 1 })
    assert.throws(() => { sim.link('n0', 'n0') }, RangeError)
    assert.throws(() => { sim.link('n0', 'n9') }, RangeError)
    assert.throws(() => { sim.link('n0', 'n1').set({ bandwidth: 0 }) }, RangeError)
    assert.throws(() => { sim.link('n0', 'n1').set({ latency: -1 }) }, RangeError)
    assert.throws(() => { sim.link('n0', 'n1').set({ latency: 1 }, 'n2') }, RangeError)
    assert.deepEqual(sim.link('n0', 'n1').shape('n1'), { latency: 0, jitter: 0, bandwidth: Infinity })
  })
})
