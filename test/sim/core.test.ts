/**
 * The library's core (Net) on the simulation, end to end: it connects a mesh, delivers on the
 * default and named channels, keeps a reliable channel exactly-once and in order across cuts,
 * and a run replays from its seed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSimulation, type Simulation } from '../../src/testing/sim/index.ts'

const RECONNECT = { initialDelay: 20, maxDelay: 200, factor: 2, jitter: 0.2 }

async function mesh (seed: number, nodes = 4): Promise<Simulation> {
  const sim = createSimulation({ seed, nodes, link: { latency: 20, jitter: 5 }, init: { reconnect: RECONNECT } })
  let ready = 0
  for (const node of sim.nodes) {
    const net = sim.net(node)
    await net.connect(sim.membership)
    void net.waitFor(nodes).then(() => { ready++ })
  }
  await sim.run({ until: () => ready === nodes, timeout: 10_000 })
  return sim
}

describe('the core on the simulation', () => {
  it('connects a mesh and delivers on the default channel and a named one, the same run for the same seed', async () => {
    const outcome = async (seed: number): Promise<{ digest: string, now: number, got: string[] }> => {
      const sim = await mesh(seed)
      const got: string[] = []
      for (const node of sim.nodes) {
        const net = sim.net(node)
        net.onMessage((from, data) => { got.push(`${from}>${node} default ${data[0]}`) })
        net.channel('votes', { priority: 0 }).onMessage((from, data) => { got.push(`${from}>${node} votes ${data[0]}`) })
      }
      for (let round = 0; round < 5; round++) {
        for (const [i, node] of sim.nodes.entries()) {
          sim.net(node).broadcast(Uint8Array.of(round * 10 + i))
          sim.net(node).channel('votes').broadcast(Uint8Array.of(round * 10 + i))
        }
        await sim.run({ for: 50 })
      }
      await sim.run({ until: () => got.length === 5 * 4 * 3 * 2, timeout: 10_000 })
      const result = { digest: sim.digest(), now: sim.now, got }
      assert.equal(sim.deliveries, got.length)
      sim.stop()
      return result
    }
    const first = await outcome(5)
    const again = await outcome(5)
    assert.equal(again.digest, first.digest)
    assert.equal(again.now, first.now)
    assert.deepEqual(again.got, first.got)
    assert.notEqual((await outcome(6)).digest, first.digest)
  })

  it('a reliable channel delivers exactly once and in order across cuts', async () => {
    const sim = await mesh(9, 2)
    const got: number[] = []
    sim.net('n1').channel('log', { reliable: true }).onMessage((_from, data) => { got.push(new DataView(data.buffer, data.byteOffset).getUint32(0)) })
    const log = sim.net('n0').channel('log', { reliable: true })
    const N = 2_000
    let sent = 0
    const send = (): void => {
      for (let k = 0; k < 20 && sent < N; k++) {
        const data = new Uint8Array(64)
        new DataView(data.buffer).setUint32(0, sent++)
        log.send('n1', data)
      }
      if (sent < N) sim.clock.setTimeout(send, 5)
    }
    send()
    for (let t = 40; t < 400; t += 60 + sim.random() * 40) sim.clock.setTimeout(() => { sim.cut('n0', 'n1') }, t)
    await sim.run({ until: () => got.length >= N, timeout: 60_000 })
    await sim.run({ for: 1_000 })
    assert.equal(got.length, N, 'no duplicates')
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i), 'none lost, in order')
  })
})
