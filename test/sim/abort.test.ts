/**
 * An abort discards as TCP's does: a connection aborted (or its node crashed) loses what it had
 * not put on the wire, a reset stream what it had not started transmitting (at both ends), and
 * the bandwidth they held goes at once to what comes behind, on any connection of the link. What is on the wire
 * still arrives, ahead of the reset; behind a blackhole only the reset is held.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accepted, bytes, open, probes, watch } from './helpers.ts'

describe('simulated aborts', () => {
  it('an aborted connection discards what is not on the wire, and its link is free at once for a new connection', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 100, bandwidth: 1_000 } }) // a second per 1,000 B
    const stream = await open(sim, 'n0', 'n1')
    const remote = watch(accepted(sim, 'n1'), sim.clock.now)
    const t0 = sim.now
    for (let i = 1; i <= 3; i++) stream.send(bytes(1_000, i)) // transmitted until t0 + 1,000, 2,000, 3,000
    await sim.run({ for: 1_050 }) // the first is on the wire, the second half transmitted, the third waits
    const t1 = sim.now
    sim.net('n0').c.transport.abortConnection(stream, new Error('dead link'))
    assert.deepEqual(sim.link('n0', 'n1').stats('n0'), { delivered: 0, inFlight: 1_000, held: 0, connections: 1 })
    const again = await open(sim, 'n0', 'n1')
    assert.equal(sim.now, t1 + 400, 'a handshake and a stream round trip')
    const t2 = sim.now
    again.send(bytes(1_000, 9))
    await sim.run({ for: 3_000 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.at]), [[1, t0 + 1_100], [9, t2 + 1_100]])
    assert.deepEqual(remote, [`${t0 + 1_100} message:1000`, `${t1 + 100} end`, `${t1 + 100} close:StreamResetError:local=false`])
    assert.deepEqual(sim.link('n0', 'n1').stats('n0'), { delivered: 2_000, inFlight: 0, held: 0, connections: 1 })
  })

  it("a reset stream loses what it had not started transmitting, FIN included; the connection's other streams move up", async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10, bandwidth: 1_000 } })
    const a = await open(sim, 'n0', 'n1')
    const b = await open(sim, 'n0', 'n1')
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 1)
    const remote = watch(sim.net('n1').inbound[0].stream, sim.clock.now)
    const t0 = sim.now
    a.send(bytes(1_000, 1))
    a.send(bytes(1_000, 2))
    void a.close()
    b.send(bytes(1_000, 3))
    await sim.run({ for: 500 })
    a.abort(new Error('enough')) // the first is being transmitted: it goes on; the second and the FIN do not
    await sim.run({ for: 3_000 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.at - t0]), [[1, 1_010], [3, 2_010]])
    // the RST rides the connection behind what it already carries
    assert.deepEqual(remote, [`${t0 + 1_010} message:1000`, `${t0 + 2_010} end`, `${t0 + 2_010} close:StreamResetError:local=false`])
    assert.equal(b.status, 'open')
  })

  it('a stream reset by its peer sends nothing more: what it had not started transmitting is discarded when the RST arrives', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10, bandwidth: 1_000 } })
    const stream = await open(sim, 'n0', 'n1')
    sim.net('n0').read(stream, 'n1')
    const mine = await open(sim, 'n1', 'n0') // on the same connection
    const remote = accepted(sim, 'n1')
    const t0 = sim.now
    for (let i = 1; i <= 3; i++) remote.send(bytes(1_000, i)) // n1 -> n0, transmitted until t0 + 1,000, 2,000, 3,000
    stream.abort(new Error('enough')) // the RST reaches n1 at t0 + 10: the first goes on, the others do not
    await sim.run({ for: 20 })
    assert.equal(remote.status, 'reset')
    mine.send(bytes(1_000, 4))
    await sim.run({ for: 3_000 })
    assert.deepEqual(sim.net('n0').received.map(r => [r.data[0], r.at - t0]), [[4, 2_010]], 'the first reached a stream that was gone')
    assert.equal(sim.link('n0', 'n1').stats('n1').delivered, 2_000)
  })

  it('a cut and a crash give back the bandwidth of what they discard', async () => {
    const sim = probes({ nodes: 3, seed: 1, link: { latency: 10, bandwidth: 1_000 } })
    const stream = await open(sim, 'n0', 'n1')
    stream.send(bytes(5_000))
    await sim.run({ for: 100 })
    sim.cut('n0', 'n1')
    const again = await open(sim, 'n0', 'n1')
    const t = sim.now
    again.send(bytes(1_000, 7))
    await sim.run({ for: 2_000 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.at - t]), [[7, 1_010]])

    // n2's data to n1 queued on the connection of an incarnation that crashed
    const toCrash = await open(sim, 'n2', 'n1')
    toCrash.send(bytes(5_000))
    await sim.run({ for: 100 })
    sim.crash('n2')
    const back = sim.restart('n2')
    const fresh = await open(sim, 'n2', 'n1')
    const t1 = sim.now
    fresh.send(bytes(1_000, 8))
    await sim.run({ for: 2_000 })
    assert.deepEqual(sim.net('n1').received.filter(r => r.from === 'n2').map(r => [r.data[0], r.at - t1]), [[8, 1_010]])
    assert.equal(back.c.transport.self, 'n2')
  })

  it('behind a blackhole an abort discards what is held: heal delivers the reset alone', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = watch(accepted(sim, 'n1'), sim.clock.now)
    sim.blackhole('n0', 'n1')
    stream.send(bytes(10))
    sim.net('n0').c.transport.abortConnection(stream, new Error('no answer'))
    assert.equal(sim.link('n0', 'n1').stats('n0').held, 0)
    await sim.run({ for: 1_000 })
    assert.deepEqual(remote, [])
    const t = sim.now
    sim.heal('n0', 'n1')
    await sim.run({ for: 100 })
    assert.deepEqual(remote, [`${t + 10} end`, `${t + 10} close:StreamResetError:local=false`])
    assert.equal(sim.net('n1').received.length, 0)
  })
})
