/**
 * Replaying a run of the core: a faulty scenario (jitter, a cut, a partition and heal, a crash
 * and restart, traffic on the default, a named and a reliable channel) run twice with one seed
 * gives the same digest, another seed another one. A run that cannot finish says why, with the
 * virtual time and the seed: stalled (nothing left to do) or timed out. And the seed-on-failure
 * pattern of seeded.ts does what it says.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { SimulationError, type Simulation } from '../../src/testing/sim/index.ts'
import { replayCommand, seeded, seedOf } from './seeded.ts'
import { connectAll, meshed, peerEvents, seq, upTo } from './nets.ts'

interface Outcome {
  digest: string
  deliveries: number
  events: number
  now: number
  downs: number
  reliable: number[]
  logged: number
}

/** Five nodes under random traffic for 5 virtual seconds and every kind of fault, then a second to settle. */
async function scenario (seed: number): Promise<Outcome> {
  const sim = await meshed({ seed, nodes: 5, link: { latency: 20, jitter: 10 } })
  const { clock } = sim
  let downs = 0
  const reliable: number[] = []
  /** What each incarnation of a node listens to: the channels must be opened on both sides. */
  const attach = (node: string): void => {
    const net = sim.net(node)
    net.addEventListener('peer:down', () => { downs++ })
    net.onMessage(() => {})
    net.channel('votes', { priority: 0 }).onMessage(() => {})
    const log = net.channel('log', { reliable: true })
    if (node === 'n2') log.onMessage((_from, data) => { reliable.push(new DataView(data.buffer, data.byteOffset).getUint32(0)) })
  }
  for (const node of sim.nodes) attach(node)
  const pick = (from: readonly string[]): string => from[Math.floor(sim.random() * from.length)]
  let sent = 0
  let logged = 0
  const tick = (): void => {
    if (clock.now() < 5_000) clock.setTimeout(tick, 1 + sim.random() * 5)
    const from = pick(sim.nodes)
    if (!sim.isUp(from)) return
    const net = sim.net(from)
    if (net.members().length === 0) return // restarted, not connected yet
    const data = seq(sent++, 4 + Math.floor(sim.random() * 2000))
    const kind = sim.random()
    if (kind < 0.3) net.broadcast(data)
    else if (kind < 0.6) net.channel('votes').broadcast(data)
    else if (kind < 0.9) net.send(pick(sim.nodes.filter(n => n !== from)), data)
    else if (from === 'n0') net.channel('log').send('n2', seq(logged++)) // across the partition
  }
  clock.setTimeout(tick, 0)
  const at = (ms: number, fault: () => void): void => { clock.setTimeout(fault, ms + sim.random() * 100) }
  at(500, () => { sim.link('n1', 'n2').set({ latency: 5, jitter: 60 }) })
  at(1_000, () => { sim.cut('n0', 'n4') })
  at(1_500, () => { sim.partition(['n0', 'n1', 'n4'], ['n2', 'n3']) })
  at(2_500, () => { sim.healAll() })
  at(3_000, () => { sim.crash('n3') })
  at(4_000, () => {
    sim.restart('n3')
    attach('n3')
    void sim.net('n3').connect(sim.membership)
  })
  await sim.run({ for: 6_000 })
  const outcome = { digest: sim.digest(), deliveries: sim.deliveries, events: sim.events, now: sim.now, downs, reliable, logged }
  sim.stop()
  return outcome
}

describe('replaying the core', () => {
  it('a faulty scenario run twice with one seed gives one digest; another seed another', seeded(21, async seed => {
    const first = await scenario(seed)
    assert.ok(first.deliveries > 1_000, `deliveries: ${first.deliveries}`)
    assert.ok(first.downs >= 12, `the faults took links down ${first.downs} times`)
    assert.ok(first.logged > 10, 'the reliable channel carried messages')
    assert.deepEqual(first.reliable, upTo(first.logged), 'the reliable channel: none lost, none twice, in order, across the faults')
    const again = await scenario(seed)
    assert.equal(again.digest, first.digest)
    assert.equal(again.deliveries, first.deliveries)
    assert.equal(again.events, first.events)
    assert.equal(again.downs, first.downs)
    const other = await scenario(seed + 1)
    assert.notEqual(other.digest, first.digest)
  }))

  it('a run whose condition cannot hold fails as stalled once nothing is left to do, naming the time and the seed', seeded(3, async seed => {
    // no dead-link timer: a meshed, idle network has nothing left to do
    const sim = await meshed({ seed, nodes: 3, link: { latency: 10 }, init: { deadLinkTimeout: 0 } })
    sim.net('n0').send('n1', seq(1))
    await assert.rejects(sim.run({ until: () => false, timeout: 60_000 }), (err: unknown) => {
      assert.ok(err instanceof SimulationError)
      assert.equal(err.reason, 'stall')
      assert.equal(err.seed, seed)
      assert.equal(err.time, sim.now)
      assert.ok(sim.now < 60_000)
      assert.match(err.message, new RegExp(`^stalled at t=${sim.now} ms \\(seed ${seed}\\): `))
      return true
    })
    sim.stop()
  }))

  it('a run waiting for a message that never comes times out at its virtual deadline, naming the time and the seed', seeded(4, async seed => {
    const sim = await meshed({ seed, nodes: 3, link: { latency: 10 } })
    let heard = false
    sim.net('n0').onMessage(from => { if (from === 'n2') heard = true })
    sim.crash('n2')
    const t = sim.now
    await assert.rejects(sim.run({ until: () => heard, timeout: 30_000 }), (err: unknown) => {
      assert.ok(err instanceof SimulationError)
      assert.equal(err.reason, 'timeout')
      assert.equal(err.time, t + 30_000)
      assert.match(err.message, new RegExp(`^timeout at t=${t + 30_000} ms \\(seed ${seed}\\): the condition is still false after 30000 ms`))
      return true
    })
    assert.equal(sim.now, t + 30_000, 'the redials kept it busy up to the deadline')
    sim.stop()
  }))

  it('a restarted node is reached again in a replayed run at the same virtual time', seeded(5, async seed => {
    const run = async (): Promise<string[]> => {
      const sim = await meshed({ seed, nodes: 3, link: { latency: 10, jitter: 5 } })
      const events = peerEvents(sim.net('n0'))
      sim.crash('n1')
      await sim.run({ for: 300 })
      await sim.restart('n1').connect(sim.membership)
      await connectAll(sim)
      sim.stop()
      return events
    }
    const first = await run()
    assert.deepEqual(first.map(e => e.split(' ').slice(1).join(' ')), ['peer:down n1', 'peer:up n1'])
    assert.deepEqual(await run(), first)
  }))
})

describe('the seed-on-failure pattern (seeded.ts)', () => {
  const context = { name: 'commits (round 2)', filePath: `${process.cwd()}/test/sim/x.test.ts`, diagnostic: (_line: string) => {} }

  async function withSeed (value: string | undefined, fn: () => Promise<void>): Promise<void> {
    const saved = process.env.SEED
    if (value === undefined) delete process.env.SEED
    else process.env.SEED = value
    try {
      await fn()
    } finally {
      if (saved === undefined) delete process.env.SEED
      else process.env.SEED = saved
    }
  }

  it('runs with the fixed seed unless SEED says otherwise', async () => {
    await withSeed(undefined, async () => { assert.equal(seedOf(7), 7) })
    await withSeed('123', async () => { assert.equal(seedOf(7), 123) })
    await withSeed('random', async () => { assert.ok(Number.isSafeInteger(seedOf(7))) })
    await withSeed('x', async () => { assert.throws(() => seedOf(7), /SEED must be an integer/) })
  })

  it('a failing test names its seed and the command that replays it', async () => {
    const lines: string[] = []
    const t = { ...context, diagnostic: (line: string) => { lines.push(line) } } as unknown as TestContext
    let sim: Simulation | undefined
    await withSeed(undefined, async () => {
      await assert.rejects(seeded(9, async seed => {
        sim = await meshed({ seed, nodes: 2 })
        assert.equal(sim.seed, 9)
        throw new Error('quorum not reached')
      })(t), (err: Error) => {
        assert.match(err.message, /^quorum not reached\n {4}seed 9; replay: SEED=9 node --test --test-name-pattern="\^commits \\\(round 2\\\)\$" test\/sim\/x\.test\.ts$/)
        return true
      })
    })
    assert.deepEqual(lines, [`failed with seed 9; replay: ${replayCommand(context, 9)}`])
    sim?.stop()
  })
})
