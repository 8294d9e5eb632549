/**
 * Simulated streams keep the libp2p v3 semantics the core relies on: ordered chunks after the
 * link's delay, send() false then 'drain', pause/resume holding and handing over, a reset when a
 * paused stream holds too much, graceful half-close, abort and reset, protocol negotiation and
 * the inbound stream limit. Observed through Probe nodes on the transport seam (no core).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accepted, bytes, open, probes, watch } from './helpers.ts'

describe('simulated streams', () => {
  it('open takes a connection round trip and a stream round trip; both ends hear of the connection', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    assert.equal(sim.now, 40)
    assert.equal(stream.protocol, '/probe/1.0.0')
    assert.equal(stream.status, 'open')
    assert.deepEqual(sim.net('n0').connections, ['n1'])
    assert.deepEqual(sim.net('n1').connections, ['n0'])
    assert.equal(sim.net('n1').inbound[0].peer, 'n0')
  })

  it('delivers each chunk sent as a message, in order, after the latency', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const t0 = sim.now
    for (let i = 1; i <= 3; i++) stream.send(bytes(i, i))
    await sim.run({ for: 50 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.at - t0, r.data.byteLength, r.data[0]]), [[10, 1, 1], [10, 2, 2], [10, 3, 3]])
  })

  it('send returns false once the connection buffer is full, and keeps doing so until drain', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 }, bufferBytes: 1000 })
    const stream = await open(sim, 'n0', 'n1')
    const log = watch(stream, sim.clock.now)
    const t0 = sim.now
    assert.equal(stream.send(bytes(600)), true)
    assert.equal(stream.send(bytes(600)), false)
    assert.equal(stream.send(bytes(10)), false) // queued all the same
    await sim.run({ for: 50 })
    assert.deepEqual(log, [`${t0 + 10} drain`])
    assert.equal(sim.net('n1').received.length, 3)
    assert.equal(stream.send(bytes(10)), true)
  })

  it('pause holds what arrives; resume hands it over at once as one event, then goes on', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = accepted(sim, 'n1')
    const log = watch(remote, sim.clock.now)
    remote.pause()
    for (let i = 0; i < 3; i++) stream.send(bytes(100))
    await sim.run({ for: 50 })
    assert.deepEqual(log, [])
    assert.equal((remote as unknown as { readBufferLength: number }).readBufferLength, 300)
    remote.resume()
    assert.deepEqual(log, [`${sim.now} message:300list(3)`]) // synchronously
    stream.send(bytes(7))
    await sim.run({ for: 50 })
    assert.equal(log.length, 2)
    assert.match(log[1], / message:7$/)
  })

  it('a paused stream that holds more than maxReadBufferLength is reset: StreamBufferError here, a reset at the writer', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = accepted(sim, 'n1')
    const writer = watch(stream, sim.clock.now)
    const reader = watch(remote, sim.clock.now)
    remote.maxReadBufferLength = 100
    remote.pause()
    const t0 = sim.now
    stream.send(bytes(60))
    stream.send(bytes(60))
    await sim.run({ for: 50 })
    assert.deepEqual(reader, [`${t0 + 10} end`, `${t0 + 10} close:StreamBufferError:local=true`])
    assert.equal(remote.status, 'aborted')
    assert.deepEqual(writer, [`${t0 + 20} end`, `${t0 + 20} close:StreamResetError:local=false`])
    assert.equal(stream.status, 'reset')
    assert.throws(() => stream.send(bytes(1)), { name: 'StreamStateError' })
  })

  it('holds what arrives before anyone listens, and hands it to the first listener', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1') // the opener reads nothing yet
    accepted(sim, 'n1').send(bytes(5))
    accepted(sim, 'n1').send(bytes(6))
    await sim.run({ for: 50 })
    const log = watch(stream, sim.clock.now)
    assert.deepEqual(log, [])
    await sim.run({ for: 0 })
    assert.deepEqual(log, [`${sim.now} message:11list(2)`])
  })

  it('close half-closes: the remote reads everything, then remoteCloseWrite and end; close comes once both sides closed', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = accepted(sim, 'n1')
    const writer = watch(stream, sim.clock.now)
    const reader = watch(remote, sim.clock.now)
    const t0 = sim.now
    stream.send(bytes(3))
    let closed = -1
    void stream.close().then(() => { closed = sim.now })
    assert.equal(stream.writeStatus, 'closed') // no drain to wait for: the FIN is sent at once
    await sim.run({ for: 50 })
    assert.equal(closed, t0)
    assert.equal(stream.status, 'open')
    assert.deepEqual(reader, [`${t0 + 10} message:3`, `${t0 + 10} remoteCloseWrite`, `${t0 + 10} end`])
    remote.send(bytes(4)) // the other direction is still open
    const t1 = sim.now
    void remote.close()
    await sim.run({ for: 50 })
    assert.deepEqual(reader.slice(3), [`${t1} close`])
    assert.deepEqual(writer, [`${t1 + 10} message:4`, `${t1 + 10} remoteCloseWrite`, `${t1 + 10} end`, `${t1 + 10} close`])
    assert.equal(stream.status, 'closed')
    assert.equal(remote.status, 'closed')
    assert.throws(() => stream.send(bytes(1)), { name: 'StreamStateError' })
  })

  it('close waits for a pending drain (writeStatus closing), or rejects when its signal aborts', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 }, bufferBytes: 100 })
    const stream = await open(sim, 'n0', 'n1')
    const t0 = sim.now
    assert.equal(stream.send(bytes(200)), false)
    let closed = -1
    void stream.close().then(() => { closed = sim.now })
    assert.equal(stream.writeStatus, 'closing')
    await sim.run({ for: 50 })
    assert.equal(closed, t0 + 10)
    assert.equal(stream.writeStatus, 'closed')

    const other = await open(sim, 'n0', 'n1')
    sim.blackhole('n0', 'n1') // no drain for a while
    assert.equal(other.send(bytes(200)), false)
    const controller = new AbortController()
    sim.clock.setTimeout(() => { controller.abort(new Error('gave up')) }, 30)
    const result = other.close({ signal: controller.signal }).then(() => 'closed', (err: Error) => err.message)
    await sim.run({ for: 50 })
    assert.equal(await result, 'gave up')
  })

  it('abort ends this side at once (end, close with the error, local); the remote is reset after the delay, behind what was in flight', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = accepted(sim, 'n1')
    const writer = watch(stream, sim.clock.now)
    const reader = watch(remote, sim.clock.now)
    const t0 = sim.now
    stream.send(bytes(8))
    stream.abort(new Error('done with it'))
    assert.deepEqual(writer, [`${t0} end`, `${t0} close:Error:local=true`])
    assert.equal(stream.status, 'aborted')
    assert.equal(stream.writeStatus, 'closed')
    assert.throws(() => { stream.pause() }, { name: 'StreamStateError' })
    stream.abort(new Error('twice')) // ignored
    await sim.run({ for: 50 })
    assert.deepEqual(reader, [`${t0 + 10} message:8`, `${t0 + 10} end`, `${t0 + 10} close:StreamResetError:local=false`])
    assert.equal(remote.status, 'reset')
    assert.equal(writer.length, 2)
  })

  it('negotiates the first proposed protocol the remote handles; fails when it handles none', async () => {
    const sim = probes({ nodes: 2, seed: 1, init: node => node === 'n1' ? { protocols: ['/b', '/a'] } : {} })
    const stream = await open(sim, 'n0', 'n1', { protocols: ['/c', '/a', '/b'] })
    assert.equal(stream.protocol, '/a')
    assert.equal(accepted(sim, 'n1').protocol, '/a')
    await assert.rejects(open(sim, 'n0', 'n1', { protocols: ['/x', '/y'] }), {
      name: 'UnsupportedProtocolError',
      message: 'protocol selection failed: n1 handles none of /x, /y'
    })
  })

  it('resets an inbound stream beyond maxInboundStreams on a connection', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 5 }, init: { maxInboundStreams: 2 } })
    await open(sim, 'n0', 'n1')
    await open(sim, 'n0', 'n1')
    const third = await open(sim, 'n0', 'n1')
    const log = watch(third, sim.clock.now)
    await sim.run({ for: 20 })
    assert.deepEqual(log, [`${sim.now - 20} end`, `${sim.now - 20} close:StreamResetError:local=false`])
    assert.equal(sim.net('n1').inbound.length, 2)
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 1)
  })

  it('a listener that throws fails the run, naming the seed', async () => {
    const sim = probes({ nodes: 2, seed: 21 })
    const stream = await open(sim, 'n0', 'n1')
    accepted(sim, 'n1').addEventListener('message', () => { throw new Error('listener bug') })
    stream.send(bytes(1))
    await assert.rejects(sim.run({ for: 10 }), /^SimulationError: failure at t=0 ms \(seed 21\): an event failed: listener bug/)
  })
})
