/**
 * The simulated Transport as the core sees it: addresses and peers, connection reuse, `force`,
 * shared handshakes, aborting a connection or a peer, stop.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseSimAddress } from '../../src/testing/sim/index.ts'
import { accepted, open, probes, watch } from './helpers.ts'

describe('simulated transport', () => {
  it('reads /sim/<node> addresses and node names, and says what is wrong with anything else', () => {
    assert.deepEqual(parseSimAddress('/sim/n0'), { peer: 'n0', key: '/sim/n0', addr: 'n0' })
    assert.deepEqual(parseSimAddress('/sim/not-in-this-sim'), { peer: 'not-in-this-sim', key: '/sim/not-in-this-sim', addr: 'not-in-this-sim' })
    assert.throws(() => parseSimAddress('/memory/n0'), /a simulation address is \/sim\/<node>, got "\/memory\/n0"/)
    assert.throws(() => parseSimAddress('/sim/'), /does not name a node/)
    assert.throws(() => parseSimAddress('/sim/a/b'), /does not name a node/)
    assert.throws(() => parseSimAddress(42), TypeError)
    const sim = probes({ nodes: ['alice', 'bob'], seed: 1 })
    const transport = sim.net('alice').c.transport
    assert.equal(transport.self, 'alice')
    assert.equal(transport.parsePeer('bob'), 'bob')
    assert.equal(transport.parsePeer(''), undefined)
    assert.equal(transport.parsePeer('/sim/bob'), undefined)
    assert.equal(transport.parsePeer({ toString: () => 'bob' }), undefined)
    assert.deepEqual(sim.membership, { alice: '/sim/alice', bob: '/sim/bob' })
  })

  it('reuses an open connection (inbound ones too), opens another with force, and shares a handshake in progress', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const link = sim.link('n0', 'n1')
    let done = 0
    for (let i = 0; i < 3; i++) void sim.net('n0').open('n1').then(() => { done++ })
    await sim.run({ until: () => done === 3, timeout: 1_000 })
    assert.equal(sim.now, 40)
    assert.equal(link.stats('n0').connections, 1)
    await open(sim, 'n1', 'n0') // rides n0's connection
    assert.equal(link.stats('n0').connections, 1)
    await open(sim, 'n0', 'n1', { force: true })
    assert.equal(link.stats('n0').connections, 2)
    assert.deepEqual(sim.net('n1').connections, ['n0', 'n0'])
  })

  it('an open whose signal aborts while others wait for the same handshake leaves them be', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const controller = new AbortController()
    const first = sim.net('n0').open('n1', { signal: controller.signal }).then(() => 'opened', (err: Error) => err.message)
    const second = sim.net('n0').open('n1').then(() => 'opened', (err: Error) => err.message)
    sim.clock.setTimeout(() => { controller.abort(new Error('no longer needed')) }, 5)
    await sim.run({ for: 100 })
    assert.deepEqual([await first, await second], ['no longer needed', 'opened'])
  })

  it('abortConnection aborts every stream of that connection here; the peer sees a reset after the delay', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const a = await open(sim, 'n0', 'n1')
    const b = await open(sim, 'n0', 'n1')
    const spare = await open(sim, 'n0', 'n1', { force: true })
    const logs = [watch(a, sim.clock.now), watch(b, sim.clock.now)]
    const remote = watch(sim.net('n1').inbound[0].stream, sim.clock.now)
    const t = sim.now
    sim.net('n0').c.transport.abortConnection(a, new Error('dead link'))
    for (const log of logs) assert.deepEqual(log, [`${t} end`, `${t} close:Error:local=true`])
    await sim.run({ for: 50 })
    assert.deepEqual(remote, [`${t + 10} end`, `${t + 10} close:StreamResetError:local=false`])
    assert.equal(spare.status, 'open')
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 1)
  })

  it('abortPeer aborts every connection with that peer only', async () => {
    const sim = probes({ nodes: 3, seed: 1 })
    const a = await open(sim, 'n0', 'n1')
    const b = await open(sim, 'n1', 'n0', { force: true })
    const c = await open(sim, 'n0', 'n2')
    sim.net('n0').c.transport.abortPeer('n1', new Error('blocked'))
    await sim.run({ for: 10 })
    assert.deepEqual([a.status, b.status, c.status], ['aborted', 'reset', 'open'])
  })

  it('stop aborts every connection from this side and refuses what comes; open from a stopped transport fails', async () => {
    const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
    const stream = await open(sim, 'n0', 'n1')
    const remote = accepted(sim, 'n1')
    const here = watch(remote, sim.clock.now)
    void sim.net('n1').stop()
    await sim.run({ for: 50 })
    assert.equal(here.at(-1), `${sim.now - 50} close:Error:local=true`)
    assert.equal(stream.status, 'reset')
    await assert.rejects(open(sim, 'n0', 'n1'), /nothing listens on \/sim\/n1/)
    await assert.rejects(open(sim, 'n1', 'n0'), /n1 is stopped/)
  })

  it('checks an open: the address must be the peer, not itself', async () => {
    const sim = probes({ nodes: 2, seed: 1 })
    const transport = sim.net('n0').c.transport
    const signal = new AbortController().signal
    await assert.rejects(transport.open('n1', 'n0', ['/p'], { signal, force: false }), /\/sim\/n0 is n0, not n1/)
    await assert.rejects(transport.open('n0', 'n0', ['/p'], { signal, force: false }), /cannot open a connection to itself/)
    await assert.rejects(transport.open('n1', 'n1', [], { signal, force: false }), RangeError)
  })

  it('a node opening to a node outside the simulation is refused', async () => {
    const sim = probes({ nodes: 2, seed: 1 })
    await assert.rejects(open(sim, 'n0', 'n7'), /nothing listens on \/sim\/n7/)
  })
})
