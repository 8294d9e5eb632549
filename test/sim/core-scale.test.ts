/**
 * A hundred validators in one process: the core connects them to a full mesh and carries one
 * all-to-all round (9,900 messages), within virtual-time bounds, in a couple of wall seconds.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSimulation } from '../../src/testing/sim/index.ts'
import { seeded } from './seeded.ts'

describe('the core at scale', () => {
  it('100 nodes connect to a full mesh and deliver one all-to-all round of votes, 9,900 messages', seeded(1, async seed => {
    const n = 100
    const sim = createSimulation({ seed, nodes: n, link: { latency: 80, jitter: 10 } })
    const got = sim.nodes.map(() => new Set<string>())
    const votes = sim.nodes.map(node => sim.net(node).channel('votes', { priority: 0 }))
    votes.forEach((channel, i) => {
      channel.onMessage((from, data) => {
        assert.equal(data[0], 42)
        got[i].add(from)
      })
    })
    let meshed = 0
    for (const node of sim.nodes) {
      const net = sim.net(node)
      await net.connect(sim.membership)
      void net.waitFor(n).then(() => { meshed++ })
    }
    await sim.run({ until: () => meshed === n, timeout: 5_000 })
    assert.ok(sim.now < 1_000, `meshed at ${sim.now} virtual ms`)
    for (const node of sim.nodes) assert.equal(Object.values(sim.net(node).stats().members).filter(m => m.connected).length, n)

    const round = sim.now
    const vote = new Uint8Array(100).fill(42)
    for (const [i, node] of sim.nodes.entries()) for (const to of sim.nodes) if (to !== node) votes[i].send(to, vote)
    await sim.run({ until: () => sim.deliveries === n * (n - 1), timeout: 5_000 })
    // written at once, each delivered within the latency and the jitter
    assert.ok(sim.now - round >= 80 && sim.now - round < 90, `the round took ${sim.now - round} virtual ms`)
    for (const [i, node] of sim.nodes.entries()) assert.equal(got[i].size, n - 1, `${node} heard from ${got[i].size} nodes`)
    sim.stop()
  }))
})
