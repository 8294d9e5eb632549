/**
 * createSimulation: nodes and names, membership, the seed's separate random streams, node
 * construction and start, logs, stop.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSimulation, type SimNode, type SimNodeComponents } from '../../src/testing/sim/index.ts'
import { probes } from './helpers.ts'
import { Net } from '../../src/net/net.ts'

describe('createSimulation', () => {
  it('names nodes n0.. or as given, gives their /sim addresses and starts them before the first event', async () => {
    const sim = probes({ nodes: 3, seed: 1 })
    assert.deepEqual(sim.nodes, ['n0', 'n1', 'n2'])
    assert.deepEqual(sim.membership, { n0: '/sim/n0', n1: '/sim/n1', n2: '/sim/n2' })
    assert.equal(sim.now, 0)
    assert.equal(sim.seed, 1)
    const named = probes({ nodes: ['a', 'b.2'], seed: 1 })
    assert.deepEqual(named.nodes, ['a', 'b.2'])
    let startedBeforeFirstEvent = false
    assert.equal(sim.net('n2').started, false)
    sim.clock.setTimeout(() => { startedBeforeFirstEvent = sim.nodes.every(node => sim.net(node).started) }, 0)
    await sim.run({ for: 0 })
    assert.equal(startedBeforeFirstEvent, true)
    assert.equal(typeof createSimulation({ nodes: 1, node: () => ({ start: async () => {}, stop: async () => {} }) }).seed, 'number')
  })

  it('rejects bad options', () => {
    const node = (): SimNode => ({ start: async () => {}, stop: async () => {} })
    assert.throws(() => createSimulation({ nodes: 0, node }), RangeError)
    assert.throws(() => createSimulation({ nodes: 1.5, node }), RangeError)
    assert.throws(() => createSimulation({ nodes: ['a', 'a'], node }), /unique/)
    assert.throws(() => createSimulation({ nodes: ['a b'], node }), /node names/)
    assert.throws(() => createSimulation({ nodes: 1, seed: 0.5, node }), /seed/)
    assert.throws(() => createSimulation({ nodes: 1, bufferBytes: 0, node }), /bufferBytes/)
    assert.throws(() => createSimulation({ nodes: 1, link: { jitter: -1 }, node }), RangeError)
  })

  it('builds each node as the library core (Net) unless told otherwise, started at once', () => {
    const sim = createSimulation({ nodes: 2, seed: 1 })
    assert.ok(sim.net('n0') instanceof Net)
    assert.equal(sim.net('n0').isStarted(), true)
    assert.equal(sim.net('n0').clock.now(), 0)
  })

  it('draws sim.random, each node and each incarnation from separate streams of the seed', () => {
    const a = probes({ nodes: 2, seed: 5 })
    const b = probes({ nodes: 2, seed: 5 })
    const c = probes({ nodes: 2, seed: 6 })
    const draws = (sim: typeof a): number[] => [sim.random(), sim.net('n0').c.random(), sim.net('n1').c.random()]
    const first = draws(a)
    assert.deepEqual(draws(b), first)
    assert.notDeepEqual(draws(c), first)
    assert.equal(new Set(first).size, 3)
    a.crash('n0')
    assert.notEqual(a.restart('n0').c.random(), first[1])
  })

  it('builds each node with its init, its own clock, and a log that goes to the sink with the virtual time', async () => {
    const lines: string[] = []
    const built: Array<{ node: string, init: unknown, components: SimNodeComponents }> = []
    const sim = createSimulation<SimNode, { role: string }>({
      nodes: 2,
      seed: 1,
      init: node => ({ role: node === 'n0' ? 'leader' : 'follower' }),
      log: (node, time, line) => { lines.push(`${time} ${node} ${line}`) },
      node: (components, init, node) => {
        built.push({ node, init, components })
        return { start: async () => { components.log('up as %s', init?.role) }, stop: async () => {} }
      }
    })
    assert.deepEqual(built.map(b => [b.node, b.init]), [['n0', { role: 'leader' }], ['n1', { role: 'follower' }]])
    built[1].components.clock.setTimeout(() => { built[1].components.log.error('late: %d', 42) }, 30)
    await sim.run({ for: 50 })
    assert.deepEqual(lines, ['0 n0 up as leader', '0 n1 up as follower', '30 n1 error: late: 42'])
  })

  it("a node's failing start fails the first run", async () => {
    const sim = createSimulation({ nodes: 1, seed: 2, node: () => ({ start: async () => { throw new Error('bad init') }, stop: async () => {} }) })
    await assert.rejects(sim.run({ for: 10 }), /^SimulationError: failure at t=0 ms \(seed 2\): an event failed: bad init/)
  })

  it('stop abandons every node and event; later runs fail', async () => {
    const sim = probes({ nodes: 2, seed: 1 })
    let fired = false
    sim.clock.setTimeout(() => { fired = true }, 10)
    sim.stop()
    assert.equal(sim.isUp('n0'), false)
    await assert.rejects(sim.run({ for: 100 }), /stopped/)
    assert.equal(fired, false)
  })
})
