/**
 * Every fault of the simulation, observed through the library's core (Net) running on it, with
 * the assertions test/testing-network.test.ts makes of the libp2p fault network: send, the
 * 'message' and 'peer:up'/'peer:down' events, stats, link stats. In virtual time the bounds are
 * exact where the libp2p network can only give lower ones.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { seeded } from './seeded.ts'
import { connectAll, Inbox, meshed, nets, peerEvents, seq, seqOf, settle, str, text, upTo } from './nets.ts'
import type { Simulation } from '../../src/testing/sim/index.ts'

/** Runs `sim` until `inbox` holds `n` messages (failing 10 virtual s from now). */
async function count (sim: Simulation, inbox: Inbox, n: number, timeout = 10_000): Promise<void> {
  await sim.run({ until: () => inbox.messages.length >= n, timeout })
}

/** Runs `sim` until `log` (from `peerEvents`) holds `event` ('peer:up n1', say); the virtual time it came at. */
async function seen (sim: Simulation, log: string[], event: string, timeout = 10_000): Promise<number> {
  await sim.run({ until: () => log.some(e => e.endsWith(` ${event}`)), timeout })
  return Number(log.find(e => e.endsWith(` ${event}`))!.split(' ')[0])
}

describe('faults, through the core', () => {
  it('starts nodes unconnected; rejects bad links and shapes', seeded(1, async seed => {
    const sim = nets({ seed, nodes: 3 })
    for (const node of sim.nodes) {
      assert.equal(sim.membership[node], `/sim/${node}`)
      assert.deepEqual(sim.net(node).members(), [])
      assert.equal(sim.net(node).nodeId, undefined)
    }
    assert.throws(() => sim.net('n9'), RangeError)
    assert.throws(() => { sim.link('n0', 'n0') }, RangeError)
    assert.throws(() => { sim.link('n0', 'n1').set({ bandwidth: 0 }) }, RangeError)
    sim.stop()
  }))

  it('latency delays every delivery by exactly the set amount, in one direction only; jitter never reorders', seeded(1, async seed => {
    const sim = await meshed({ seed, nodes: 2 })
    const n0 = sim.net('n0')
    const n1 = sim.net('n1')
    const at0 = new Inbox(n0)
    const at1 = new Inbox(n1)
    sim.link('n0', 'n1').set({ latency: 150 }, 'n0')
    assert.deepEqual(sim.link('n0', 'n1').shape('n0'), { latency: 150, jitter: 0, bandwidth: Infinity })
    assert.deepEqual(sim.link('n0', 'n1').shape('n1'), { latency: 0, jitter: 0, bandwidth: Infinity })
    for (let i = 0; i < 3; i++) {
      let t0 = sim.now
      n0.send('n1', text(`f${i}`))
      await count(sim, at1, i + 1)
      assert.equal(at1.messages[i].at - t0, 150, 'n0 -> n1 takes the latency')
      t0 = sim.now
      n1.send('n0', text(`b${i}`))
      await count(sim, at0, i + 1)
      assert.equal(at0.messages[i].at - t0, 0, 'the latency was set on n0 -> n1 only')
    }

    // jitter up to 40 ms per chunk: 300 messages sent in 30 bursts, each burst one write
    sim.link('n0', 'n1').set({ latency: 20, jitter: 40 })
    const before = at1.messages.length
    const sentAt: number[] = []
    for (let burst = 0; burst < 30; burst++) {
      for (let i = 0; i < 10; i++) {
        sentAt.push(sim.now)
        n0.send('n1', seq(burst * 10 + i))
      }
      await sim.run({ for: 1 }) // separate writes, so separate chunks and jitter draws
    }
    await count(sim, at1, before + 300)
    const got = at1.messages.slice(before)
    assert.deepEqual(got.map(m => seqOf(m.data)), upTo(300), 'in order')
    const delays = got.map((m, i) => m.at - sentAt[i])
    for (const delay of delays) assert.ok(delay >= 20 && delay < 60, `a delay of ${delay} ms: outside [latency, latency + jitter)`)
    assert.ok(new Set(delays).size > 10, 'jitter varies the delay')
    sim.stop()
  }))

  it('bandwidth bounds throughput to the rate set, in that direction only, with backpressure into the send queues', seeded(1, async seed => {
    const bufferBytes = 16_384
    const maxWriteBytes = 4_096
    const sim = await meshed({ seed, nodes: 2, bufferBytes, init: { maxWriteBytes } })
    const at0 = new Inbox(sim.net('n0'))
    const at1 = new Inbox(sim.net('n1'))
    const bandwidth = 100_000
    sim.link('n0', 'n1').set({ bandwidth }, 'n0')
    const payload = 1000
    const n = 100 // 100 kB: at least 1 s at 100 kB/s
    const send = async (from: string, to: string, inbox: Inbox): Promise<number> => {
      const t0 = sim.now
      for (let i = 0; i < n; i++) sim.net(from).send(to, seq(i, payload))
      await count(sim, inbox, n)
      assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), upTo(n))
      return sim.now - t0
    }
    const link = sim.link('n0', 'n1')
    const delivered = link.stats('n0').delivered
    let peak = 0
    let queued = 0
    const sample = (): void => {
      peak = Math.max(peak, link.stats('n0').inFlight)
      queued = Math.max(queued, sim.net('n0').stats().members.n1.queued)
      timer = sim.clock.setTimeout(sample, 5)
    }
    let timer = sim.clock.setTimeout(sample, 0)
    const throttled = await send('n0', 'n1', at1)
    sim.clock.clearTimeout(timer)
    // the link's buffer, plus the one write that filled it; the rest waits in the lanes
    assert.ok(peak > 0 && peak < bufferBytes + maxWriteBytes, `in flight peaked at ${peak} B`)
    assert.ok(queued > n / 2, `at most ${queued} messages waited in the send queue`)
    const free = await send('n1', 'n0', at0)
    const least = n * payload * 1000 / bandwidth
    assert.ok(throttled >= least && throttled < 1.05 * least, `${n * payload} B at ${bandwidth} B/s took ${throttled} ms`)
    assert.ok(free < throttled / 2, `the other direction is not throttled: ${free} ms vs ${throttled} ms`)
    assert.ok(link.stats('n0').delivered - delivered >= n * payload)
    sim.stop()
  }))

  it('a cut resets the connection at both ends: both see peer:down at once, reconnect, and traffic resumes', seeded(1, async seed => {
    const sim = await meshed({ seed, nodes: 3, link: { latency: 10 } })
    const n0 = sim.net('n0')
    const n1 = sim.net('n1')
    const at1 = new Inbox(n1)
    const events = [peerEvents(n0), peerEvents(n1)]
    assert.ok(sim.link('n0', 'n1').stats('n0').connections >= 1)
    const t = sim.now
    sim.cut('n0', 'n1')
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 0, 'reset at once, nothing left in flight')
    assert.deepEqual(events, [[`${t} peer:down n1`], [`${t} peer:down n0`]])
    n0.send('n1', text('while down'))
    assert.ok(await seen(sim, events[0], 'peer:up n1') - t < 1_000, 'reconnected within the backoff')
    await seen(sim, events[1], 'peer:up n0')
    assert.ok(n0.stats().members.n1.reconnects >= 1)
    assert.ok(n1.stats().members.n0.reconnects >= 1)
    assert.equal(n0.stats().members.n2.reconnects, 0, 'other links untouched')
    n0.send('n1', text('after the cut'))
    await count(sim, at1, 2)
    assert.deepEqual(at1.messages.map(m => str(m.data)), ['while down', 'after the cut'])
    sim.stop()
  }))

  it('a blackholed link delivers nothing and closes nothing; on heal everything held arrives, in order', seeded(1, async seed => {
    const sim = await meshed({ seed, nodes: 3, link: { latency: 10 } })
    const n0 = sim.net('n0')
    const n1 = sim.net('n1')
    const at0 = new Inbox(n0)
    const at1 = new Inbox(n1)
    const events = [peerEvents(n0), peerEvents(n1)]
    const link = sim.link('n0', 'n1')
    sim.blackhole('n0', 'n1')
    for (let i = 0; i < 200; i++) n0.send('n1', seq(i, 64))
    for (let i = 0; i < 50; i++) n1.send('n0', seq(i, 64))
    await sim.run({
      until: () => n0.stats().members.n1.sent === 200 && link.stats('n0').held >= 200 * 64 &&
        n1.stats().members.n0.sent === 50 && link.stats('n1').held >= 50 * 64,
      timeout: 1_000
    })
    // 2 s of virtual time, within the dead-link timeout (5 s): a healthy link delivers meanwhile
    const at2 = new Inbox(sim.net('n2'))
    n0.send('n2', text('ping'))
    await sim.run({ for: 2_000 })
    assert.equal(at2.messages.length, 1)
    assert.equal(at1.from('n0').length, 0)
    assert.equal(at0.from('n1').length, 0)
    assert.equal(link.stats('n0').inFlight, 0)
    assert.deepEqual(events, [[], []])
    assert.equal(n0.stats().members.n1.connected, true)
    assert.equal(n1.stats().members.n0.connected, true)
    assert.ok(link.stats('n0').connections >= 1)

    const t = sim.now
    sim.heal('n0', 'n1')
    await sim.run({ until: () => at1.from('n0').length === 200 && at0.from('n1').length === 50, timeout: 1_000 })
    assert.deepEqual(at1.from('n0').map(seqOf), upTo(200))
    assert.deepEqual(at0.from('n1').map(seqOf), upTo(50))
    assert.equal(at1.messages[0].at, t + 10, 'released on heal, after the latency')
    assert.equal(link.stats('n0').held, 0)
    assert.deepEqual(events, [[], []])
    assert.equal(n0.stats().members.n1.reconnects, 0)
    sim.stop()
  }))

  it('a one-way blackhole holds only what its side sends', seeded(1, async seed => {
    const sim = await meshed({ seed, nodes: 2, link: { latency: 10 } })
    const at0 = new Inbox(sim.net('n0'))
    const at1 = new Inbox(sim.net('n1'))
    sim.blackhole('n0', 'n1', 'n0')
    sim.net('n0').send('n1', text('held'))
    sim.net('n1').send('n0', text('passes'))
    await count(sim, at0, 1)
    await sim.run({ for: 1_000 })
    assert.ok(sim.link('n0', 'n1').stats('n0').held > 0)
    assert.equal(at1.messages.length, 0)
    sim.healAll()
    await count(sim, at1, 1)
    assert.equal(str(at1.messages[0].data), 'held')
    sim.stop()
  }))

  it('a blackhole that outlasts deadLinkTimeout: the link is found dead (peer:down), redials wait, heal reconnects', seeded(1, async seed => {
    const deadLinkTimeout = 2_000
    const sim = await meshed({ seed, nodes: 2, link: { latency: 10 }, init: { deadLinkTimeout } })
    const n0 = sim.net('n0')
    const at1 = new Inbox(sim.net('n1'))
    const events = peerEvents(n0)
    const t = sim.now
    sim.blackhole('n0', 'n1')
    // an idle link gets a heartbeat within timeout / 2, unanswered for the timeout: dead
    const down = await seen(sim, events, 'peer:down n1')
    assert.ok(down - t >= deadLinkTimeout && down - t <= 1.5 * deadLinkTimeout + deadLinkTimeout / 10, `found dead after ${down - t} ms`)
    await sim.run({ for: 20_000 }) // redials wait on the blackhole (or time out and retry): nothing connects
    assert.equal(n0.stats().members.n1.connected, false)
    assert.deepEqual(events, [`${down} peer:down n1`])
    n0.send('n1', text('after heal'))
    const healed = sim.now
    sim.heal('n0', 'n1')
    assert.ok(await seen(sim, events, 'peer:up n1') - healed < 1_000)
    await count(sim, at1, 1)
    assert.equal(str(at1.messages.at(-1)!.data), 'after heal')
    assert.equal(n0.stats().members.n1.reconnects, 1)
    sim.stop()
  }))

  it('a dial across a blackholed link waits until heal, then connects', seeded(1, async seed => {
    const sim = nets({ seed, nodes: 3, link: { latency: 10 } })
    sim.blackhole('n0', 'n1')
    for (const node of sim.nodes) await sim.net(node).connect(sim.membership)
    // n0 and n1 reach n2 (themselves counting as one), not each other
    await settle(sim, sim.net('n0').waitFor(2))
    await settle(sim, sim.net('n1').waitFor(2))
    await settle(sim, sim.net('n2').waitFor(3))
    await sim.run({ for: 15_000 }) // past the dial timeout (10 s): still waiting, or dialling again
    assert.equal(sim.net('n0').stats().members.n1.connected, false)
    assert.equal(sim.net('n1').stats().members.n0.connected, false)
    assert.equal(sim.link('n0', 'n1').stats('n0').connections, 0)
    const events = peerEvents(sim.net('n0'))
    const healed = sim.now
    sim.heal('n0', 'n1')
    assert.ok(await seen(sim, events, 'peer:up n1') - healed < 1_000)
    await connectAll(sim)
    sim.stop()
  }))

  it('a partition stops traffic between the sets, not within them, refuses reconnects; healAll restores it', seeded(1, async seed => {
    const sim = await meshed({ seed, nodes: 4, link: { latency: 10 } })
    const [n0, , n2, n3] = sim.nodes.map(node => sim.net(node))
    const inbox = new Map(sim.nodes.map(node => [node, new Inbox(sim.net(node))]))
    const events = new Map(sim.nodes.map(node => [node, peerEvents(sim.net(node))]))
    const cross: Array<[string, string]> = [['n0', 'n2'], ['n0', 'n3'], ['n1', 'n2'], ['n1', 'n3']]
    const t = sim.now
    sim.partition(['n0', 'n1'], ['n2', 'n3'])
    for (const [a, b] of cross) {
      assert.ok(events.get(a)!.includes(`${t} peer:down ${b}`), `${a} lost ${b}`)
      assert.ok(events.get(b)!.includes(`${t} peer:down ${a}`), `${b} lost ${a}`)
    }
    n0.send('n2', text('across'))
    n3.send('n1', text('across'))
    n0.send('n1', text('within'))
    n3.send('n2', text('within'))
    await sim.run({ until: () => inbox.get('n1')!.from('n0').length === 1 && inbox.get('n2')!.from('n3').length === 1, timeout: 1_000 })
    await sim.run({ for: 5_000 }) // reconnects are refused all along: the messages across stay queued
    assert.deepEqual(inbox.get('n2')!.from('n0'), [])
    assert.deepEqual(inbox.get('n1')!.from('n3'), [])
    assert.equal(n0.stats().members.n2.queued, 1)
    assert.equal(n0.stats().members.n2.connected, false)
    for (const [a, b] of cross) assert.equal(sim.link(a, b).stats(a).connections, 0)
    for (const [a, b] of cross) assert.equal(events.get(a)!.filter(e => e.endsWith(`peer:up ${b}`)).length, 0)

    sim.healAll()
    await connectAll(sim)
    await sim.run({ until: () => inbox.get('n2')!.from('n0').length === 1 && inbox.get('n1')!.from('n3').length === 1, timeout: 1_000 })
    n2.send('n1', text('after'))
    await sim.run({ until: () => inbox.get('n1')!.from('n2').length === 1, timeout: 1_000 })
    assert.equal(str(inbox.get('n1')!.from('n2')[0]), 'after')
    sim.stop()
  }))

  it('crash stops a node (its peers see peer:down); restart brings it back, same identity, empty state', seeded(1, async seed => {
    const sim = await meshed({ seed, nodes: 3, link: { latency: 10 } })
    const old = sim.net('n2')
    const events = ['n0', 'n1'].map(node => peerEvents(sim.net(node)))
    const at0 = new Inbox(sim.net('n0'))
    const t = sim.now
    sim.crash('n2')
    assert.equal(sim.isUp('n2'), false)
    assert.throws(() => sim.net('n2'), /crashed/)
    await sim.run({ for: 100 })
    // the crash resets its connections from its side: seen after the link's delay
    assert.deepEqual(events, [[`${t + 10} peer:down n2`], [`${t + 10} peer:down n2`]])
    sim.net('n0').send('n2', text('while down'))
    old.send('n0', text('from the dead'))
    await sim.run({ for: 2_000 }) // redials find nothing listening
    assert.equal(sim.net('n0').stats().members.n2.queued, 1)
    assert.equal(sim.net('n0').stats().members.n2.connected, false)
    assert.equal(at0.messages.length, 0, 'a crashed node sends nothing')

    const net = sim.restart('n2')
    assert.notEqual(net, old)
    assert.equal(sim.net('n2'), net)
    assert.deepEqual(net.members(), [], 'no membership yet')
    assert.deepEqual(net.stats().members, {})
    assert.equal(sim.membership.n2, '/sim/n2')
    const at2 = new Inbox(net)
    await net.connect(sim.membership)
    assert.equal(net.nodeId, 'n2')
    for (const log of events) await seen(sim, log, 'peer:up n2')
    await connectAll(sim)
    await count(sim, at2, 1) // queued at n0 while n2 was down
    assert.deepEqual(at2.messages.map(m => `${m.from}:${str(m.data)}`), ['n0:while down'])
    net.send('n0', text('back'))
    await count(sim, at0, 1)
    assert.deepEqual(at0.messages.map(m => `${m.from}:${str(m.data)}`), ['n2:back'])
    assert.throws(() => sim.restart('n2'), /is up/)
    sim.stop()
  }))
})
