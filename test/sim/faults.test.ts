/**
 * Every fault of the simulation does what the libp2p testing network's does: cut, blackhole (and
 * heal releasing in order), partition (refusing new connections until heal), crash and restart
 * with the same identity, and blocking at either end.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accepted, bytes, open, probes, watch } from './helpers.ts'

describe('simulated faults', () => {
  it('cut resets every connection of the pair at both ends at once, loses what was in flight, and allows new ones at once', async () => {
    const sim = probes({ nodes: 3, seed: 1, link: { latency: 100 } })
    const a = await open(sim, 'n0', 'n1')
    const b = await open(sim, 'n1', 'n0')
    const other = await open(sim, 'n0', 'n2')
    const logs = [watch(a, sim.clock.now), watch(accepted(sim, 'n1'), sim.clock.now), watch(b, sim.clock.now), watch(accepted(sim, 'n0'), sim.clock.now)]
    a.send(bytes(10))
    await sim.run({ for: 50 })
    const t = sim.now
    sim.cut('n0', 'n1')
    for (const log of logs) assert.deepEqual(log, [`${t} end`, `${t} close:StreamResetError:local=false`])
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 0)
    await sim.run({ for: 500 })
    assert.equal(sim.net('n1').received.length, 0, 'in flight: discarded')
    assert.equal(other.status, 'open')
    const again = await open(sim, 'n0', 'n1')
    assert.equal(again.status, 'open')
    assert.equal(sim.now, t + 500 + 400) // a handshake and a stream round trip, no wait
  })

  it('blackhole delivers nothing and closes nothing; heal releases what was held, in order', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = watch(accepted(sim, 'n1'), sim.clock.now)
    sim.blackhole('n0', 'n1')
    for (let i = 0; i < 5; i++) stream.send(Uint8Array.of(i))
    void stream.close()
    await sim.run({ for: 10_000 })
    assert.deepEqual(remote, [])
    assert.equal(sim.link('n0', 'n1').stats('n0').held, 5)
    const t = sim.now
    sim.heal('n0', 'n1')
    await sim.run({ for: 100 })
    assert.deepEqual(sim.net('n1').received.map(r => [r.data[0], r.at - t]), [[0, 10], [1, 10], [2, 10], [3, 10], [4, 10]])
    assert.deepEqual(remote.slice(5), [`${t + 10} remoteCloseWrite`, `${t + 10} end`])
  })

  it('blackhole one way holds only what that side sends', async () => {
    const sim = probes({ nodes: 2, seed: 1, init: { echo: false } })
    const stream = await open(sim, 'n0', 'n1')
    sim.net('n0').read(stream, 'n1')
    sim.blackhole('n0', 'n1', 'n1')
    stream.send(bytes(1))
    accepted(sim, 'n1').send(bytes(2))
    await sim.run({ for: 100 })
    assert.equal(sim.net('n1').received.length, 1)
    assert.equal(sim.net('n0').received.length, 0)
    sim.healAll()
    await sim.run({ for: 100 })
    assert.equal(sim.net('n0').received.length, 1)
  })

  it('a reset sent across a blackhole is held too: the peer sees it on heal', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = accepted(sim, 'n1')
    sim.blackhole('n0', 'n1')
    stream.abort(new Error('bye'))
    await sim.run({ for: 1_000 })
    assert.equal(remote.status, 'open')
    sim.heal('n0', 'n1')
    await sim.run({ for: 100 })
    assert.equal(remote.status, 'reset')
  })

  it('an open across a blackhole waits until heal, or until its signal aborts', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    sim.blackhole('n0', 'n1')
    const controller = new AbortController()
    sim.clock.setTimeout(() => { controller.abort(new Error('dial timeout')) }, 500)
    await assert.rejects(open(sim, 'n0', 'n1', { signal: controller.signal }), /dial timeout/)
    assert.equal(sim.now, 500)
    sim.clock.setTimeout(() => { sim.heal('n0', 'n1') }, 1_000)
    const stream = await open(sim, 'n0', 'n1')
    assert.equal(stream.status, 'open')
    assert.equal(sim.now, 500 + 1_000 + 40)
  })

  it('partition cuts between groups and refuses new connections until heal or healAll; inside a group all goes on', async () => {
    const sim = probes({ nodes: 4, seed: 1, link: { latency: 5 } })
    const across = await open(sim, 'n0', 'n2')
    const within = await open(sim, 'n0', 'n1')
    sim.partition(['n0', 'n1'], ['n2', 'n3'])
    assert.equal(across.status, 'reset')
    assert.equal(within.status, 'open')
    await assert.rejects(open(sim, 'n0', 'n2'), { name: 'ConnectionFailedError', message: 'connection refused: n0 and n2 are partitioned' })
    await assert.rejects(open(sim, 'n3', 'n1'), /partitioned/)
    sim.heal('n0', 'n2')
    assert.equal((await open(sim, 'n0', 'n2')).status, 'open')
    await assert.rejects(open(sim, 'n3', 'n1'), /partitioned/)
    sim.healAll()
    assert.equal((await open(sim, 'n3', 'n1')).status, 'open')
    assert.throws(() => { sim.partition(['n0'], ['n0', 'n1']) }, RangeError)
  })

  it("crash resets the node's connections from its side (seen after the delay), silences it; restart keeps its identity", async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const mine = watch(stream, sim.clock.now)
    const theirs = watch(accepted(sim, 'n1'), sim.clock.now)
    const before = sim.net('n1')
    let timerFired = false
    before.c.clock.setTimeout(() => { timerFired = true }, 50)
    const t = sim.now
    sim.crash('n1')
    assert.equal(sim.isUp('n1'), false)
    assert.throws(() => sim.net('n1'), /n1 is crashed/)
    await sim.run({ for: 100 })
    assert.deepEqual(mine, [`${t + 10} end`, `${t + 10} close:StreamResetError:local=false`])
    assert.deepEqual(theirs, [], 'a crashed node hears nothing')
    assert.equal(timerFired, false, "a crashed node's timers never fire")
    await assert.rejects(open(sim, 'n0', 'n1'), { name: 'ConnectionFailedError', message: 'connection refused: nothing listens on /sim/n1' })
    await assert.rejects(before.open('n0'), /n1 is crashed/)
    let settled = false
    const pending = sim.restart('n1')
    sim.blackhole('n0', 'n1')
    void pending.open('n0').finally(() => { settled = true }) // waiting for heal when it crashes
    sim.clock.setTimeout(() => { sim.crash('n1') }, 5)
    await sim.run({ for: 100 })
    sim.heal('n0', 'n1')
    assert.equal(settled, false, "a crashed node's pending open never settles")

    const after = sim.restart('n1')
    assert.notEqual(after, before)
    assert.equal(sim.net('n1'), after)
    assert.equal(after.c.transport.self, 'n1')
    assert.equal(sim.membership.n1, '/sim/n1')
    assert.notEqual(after.c.random(), before.c.random(), 'each incarnation draws its own numbers')
    assert.throws(() => sim.restart('n1'), /n1 is up/)
    const again = await open(sim, 'n0', 'n1')
    again.send(bytes(3))
    await sim.run({ for: 50 })
    assert.deepEqual(after.received.map(r => r.from), ['n0'])
  })

  it('a crash behind a blackhole reaches the peer only on heal; meanwhile its connection is a zombie', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    sim.blackhole('n0', 'n1')
    sim.crash('n1')
    await sim.run({ for: 1_000 })
    assert.equal(stream.status, 'open')
    const controller = new AbortController()
    sim.clock.setTimeout(() => { controller.abort(new Error('no answer')) }, 300)
    await assert.rejects(open(sim, 'n0', 'n1', { signal: controller.signal }), /no answer/)
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 1, 'the open rode the zombie')
    sim.healAll()
    await sim.run({ for: 100 })
    assert.equal(stream.status, 'reset')
  })

  it('asks isBlocked at both ends: a refusal calls refused() there and fails the open', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    sim.net('n1').blocked.add('n0')
    await assert.rejects(open(sim, 'n0', 'n1'), { name: 'ConnectionFailedError', message: 'connection refused: n1 blocks n0' })
    assert.equal(sim.now, 20, 'refused after the handshake')
    assert.equal(sim.net('n1').refusals, 1)
    sim.net('n1').blocked.clear()
    sim.net('n0').blocked.add('n1')
    await assert.rejects(open(sim, 'n0', 'n1'), { message: 'n0 blocks n1' })
    assert.equal(sim.now, 20, 'refused before dialing')
    assert.equal(sim.net('n0').refusals, 1)
    assert.deepEqual(sim.net('n0').connections, [])
  })
})
