/**
 * The fault-injection network (consensus-net/testing): each fault does what it says, observed
 * through the real module running on it (send, 'message', 'peer:up'/'peer:down', stats).
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { NotStartedError } from '../src/index.ts'
import { createTestNetwork, type TestNetwork, type TestNetworkInit, type TraceEvent } from '../src/testing/index.ts'
import { FAST_RECONNECT, Inbox, nextEvent, seq, seqOf, str, text, waitUntil } from './helpers.ts'

const BOUND = 10_000

describe('testing network', () => {
  const started: TestNetwork[] = []
  afterEach(async () => {
    await Promise.all(started.splice(0).map(async tn => tn.stop()))
  })

  async function network (nodes: number, init: Partial<TestNetworkInit> = {}): Promise<TestNetwork> {
    const tn = await createTestNetwork({ nodes, seed: 1, init: { reconnect: FAST_RECONNECT }, ...init })
    started.push(tn)
    return tn
  }

  async function connected (nodes: number, init: Partial<TestNetworkInit> = {}): Promise<TestNetwork> {
    const tn = await network(nodes, init)
    await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
    return tn
  }

  /** Sends `data` from `from` to `to` and resolves with the ms until it arrived. */
  async function timed (tn: TestNetwork, from: string, to: string, data: Uint8Array, inbox: Inbox): Promise<number> {
    const before = inbox.messages.length
    const t0 = performance.now()
    tn.net(from).send(to, data)
    await inbox.wait(() => inbox.messages.length > before, BOUND)
    return performance.now() - t0
  }

  it('names nodes, gives their memory addresses and starts them unconnected', async () => {
    const tn = await network(3)
    assert.deepEqual(tn.nodes, ['n0', 'n1', 'n2'])
    for (const node of tn.nodes) {
      const net = tn.net(node)
      assert.match(tn.membership[node][0], new RegExp(`^/memory/${node}/p2p/${net.peerId.toString()}$`))
      assert.deepEqual(net.getMultiaddrs().map(String), tn.membership[node])
      assert.deepEqual(net.members(), [])
    }
    assert.throws(() => tn.net('n9'), RangeError)
    assert.throws(() => { tn.link('n0', 'n0') }, RangeError)
    assert.throws(() => { tn.link('n0', 'n1').set({ bandwidth: 0 }) }, RangeError)
  })

  it('latency delays every delivery by at least the set amount, one direction only; jitter never reorders', async () => {
    const tn = await connected(2)
    const at0 = new Inbox(tn.net('n0'))
    const at1 = new Inbox(tn.net('n1'))
    tn.link('n0', 'n1').set({ latency: 150 }, 'n0')
    assert.deepEqual(tn.link('n0', 'n1').shape('n0'), { latency: 150, jitter: 0, bandwidth: Infinity })
    assert.deepEqual(tn.link('n0', 'n1').shape('n1'), { latency: 0, jitter: 0, bandwidth: Infinity })
    for (let i = 0; i < 3; i++) {
      const forward = await timed(tn, 'n0', 'n1', text(`f${i}`), at1)
      const back = await timed(tn, 'n1', 'n0', text(`b${i}`), at0)
      assert.ok(forward >= 150, `n0 -> n1 took ${forward} ms, under the 150 ms latency`)
      assert.ok(back < 150, `n1 -> n0 took ${back} ms: the latency was set on n0 -> n1 only`)
    }

    // jitter up to 40 ms per chunk: 300 messages sent in bursts still arrive in order, each late
    tn.link('n0', 'n1').set({ latency: 20, jitter: 40 })
    const before = at1.messages.length
    const t0 = performance.now()
    for (let burst = 0; burst < 30; burst++) {
      for (let i = 0; i < 10; i++) tn.net('n0').send('n1', seq(burst * 10 + i))
      await new Promise(resolve => setImmediate(resolve)) // separate writes, so separate chunks and jitter draws
    }
    await at1.waitCount(before + 300, BOUND)
    assert.ok(performance.now() - t0 >= 20)
    assert.deepEqual(at1.messages.slice(before).map(m => seqOf(m.data)), Array.from({ length: 300 }, (_, i) => i))
  })

  it('a cut resets the connection at both ends: both see peer:down, reconnect, and traffic resumes', async () => {
    const tn = await connected(3)
    const n0 = tn.net('n0')
    const n1 = tn.net('n1')
    const at1 = new Inbox(n1)
    const downs = [nextEvent(n0, 'peer:down', (d: { node: string }) => d.node === 'n1', BOUND), nextEvent(n1, 'peer:down', (d: { node: string }) => d.node === 'n0', BOUND)]
    const ups = [nextEvent(n0, 'peer:up', (d: { node: string }) => d.node === 'n1', BOUND), nextEvent(n1, 'peer:up', (d: { node: string }) => d.node === 'n0', BOUND)]
    assert.equal(tn.link('n0', 'n1').stats('n0').connections >= 1, true)
    tn.cut('n0', 'n1')
    assert.equal(tn.link('n0', 'n1').stats('n0').connections, 0) // reset at once, nothing left in flight
    await Promise.all(downs)
    await Promise.all(ups)
    assert.ok(n0.stats().members.n1.reconnects >= 1)
    assert.ok(n1.stats().members.n0.reconnects >= 1)
    assert.equal(n0.stats().members.n2.reconnects, 0) // other links untouched
    n0.send('n1', text('after the cut'))
    await at1.waitCount(1, BOUND)
    assert.equal(str(at1.messages[0].data), 'after the cut')
  })

  it('a blackholed link delivers nothing and closes nothing; on heal everything held arrives, in order', async () => {
    const tn = await connected(3)
    const n0 = tn.net('n0')
    const n1 = tn.net('n1')
    const at0 = new Inbox(n0)
    const at1 = new Inbox(n1)
    const downs: string[] = []
    n0.addEventListener('peer:down', e => downs.push(`n0 lost ${e.detail.node}`))
    n1.addEventListener('peer:down', e => downs.push(`n1 lost ${e.detail.node}`))
    const link = tn.link('n0', 'n1')
    tn.blackhole('n0', 'n1')
    for (let i = 0; i < 200; i++) n0.send('n1', seq(i, 64))
    for (let i = 0; i < 50; i++) n1.send('n0', seq(i, 64))
    await waitUntil(() => n0.stats().members.n1.sent === 200 && link.stats('n0').held >= 200 * 64 &&
      n1.stats().members.n0.sent === 50 && link.stats('n1').held >= 50 * 64, BOUND, 'the writes to reach the blackhole')
    // a round trip on a healthy link proves time passed for the held bytes to have arrived
    const at2 = new Inbox(tn.net('n2'))
    n0.send('n2', text('ping'))
    await at2.waitCount(1, BOUND)
    assert.equal(at1.from('n0').length, 0)
    assert.equal(at0.from('n1').length, 0)
    assert.equal(link.stats('n0').inFlight, 0)
    assert.deepEqual(downs, [])
    assert.equal(n0.stats().members.n1.connected, true)
    assert.equal(n1.stats().members.n0.connected, true)
    assert.ok(link.stats('n0').connections >= 1)

    tn.heal('n0', 'n1')
    await at1.wait(() => at1.from('n0').length === 200, BOUND, '200 held messages')
    await at0.wait(() => at0.from('n1').length === 50, BOUND, '50 held messages')
    assert.deepEqual(at1.from('n0').map(seqOf), Array.from({ length: 200 }, (_, i) => i))
    assert.deepEqual(at0.from('n1').map(seqOf), Array.from({ length: 50 }, (_, i) => i))
    assert.equal(link.stats('n0').held, 0)
    assert.deepEqual(downs, [])
    assert.equal(n0.stats().members.n1.reconnects, 0)
  })

  it('a one-way blackhole holds only what its side sends', async () => {
    const tn = await connected(2)
    const at0 = new Inbox(tn.net('n0'))
    const at1 = new Inbox(tn.net('n1'))
    tn.blackhole('n0', 'n1', 'n0')
    tn.net('n0').send('n1', text('held'))
    tn.net('n1').send('n0', text('passes'))
    await at0.waitCount(1, BOUND)
    await waitUntil(() => tn.link('n0', 'n1').stats('n0').held > 0, BOUND, 'the held message')
    assert.equal(at1.messages.length, 0)
    tn.healAll()
    await at1.waitCount(1, BOUND)
    assert.equal(str(at1.messages[0].data), 'held')
  })

  it('a dial across a blackholed link waits until heal, then connects', async () => {
    const tn = await network(3)
    tn.blackhole('n0', 'n1')
    for (const node of tn.nodes) await tn.net(node).connect(tn.membership)
    // n0 and n1 reach n2 (themselves counting as one), not each other
    await Promise.all(['n0', 'n1'].map(async node => tn.net(node).waitFor(2, { signal: AbortSignal.timeout(BOUND) })))
    await tn.net('n2').waitFor(3, { signal: AbortSignal.timeout(BOUND) })
    assert.equal(tn.net('n0').stats().members.n1.connected, false)
    assert.equal(tn.link('n0', 'n1').stats('n0').connections, 0)
    const up = nextEvent(tn.net('n0'), 'peer:up', (d: { node: string }) => d.node === 'n1', BOUND)
    tn.heal('n0', 'n1')
    await up
    await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
  })

  it('throttling bounds throughput to the bandwidth set, in that direction only, with backpressure', async () => {
    const tn = await connected(2, { bufferBytes: 16_384 }) // writes wait for drain past 16 KiB undelivered
    const at0 = new Inbox(tn.net('n0'))
    const at1 = new Inbox(tn.net('n1'))
    const bandwidth = 100_000
    tn.link('n0', 'n1').set({ bandwidth }, 'n0')
    const payload = 1000
    const count = 100 // 100 kB: at least 1 s at 100 kB/s
    const send = async (from: string, to: string, inbox: Inbox): Promise<number> => {
      const t0 = performance.now()
      for (let i = 0; i < count; i++) tn.net(from).send(to, seq(i, payload))
      await inbox.waitCount(count, BOUND)
      assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), Array.from({ length: count }, (_, i) => i))
      return performance.now() - t0
    }
    const delivered = tn.link('n0', 'n1').stats('n0').delivered
    let peak = 0
    const watch = setInterval(() => { peak = Math.max(peak, tn.link('n0', 'n1').stats('n0').inFlight) }, 5)
    const throttled = await send('n0', 'n1', at1).finally(() => { clearInterval(watch) })
    assert.ok(peak > 0 && peak < 16_384 + 16_384 + 1_024, `in flight peaked at ${peak} B`) // the buffer, plus one write's chunks
    const free = await send('n1', 'n0', at0)
    assert.ok(throttled >= 0.95 * count * payload * 1000 / bandwidth, `${count * payload} B at ${bandwidth} B/s took only ${throttled} ms`)
    assert.ok(free < throttled / 2, `the other direction is not throttled: ${free} ms vs ${throttled} ms`)
    assert.ok(tn.link('n0', 'n1').stats('n0').delivered - delivered >= count * payload)
  })

  it('a partition stops traffic between the sets, not within them; heal restores it', async () => {
    const tn = await connected(4)
    const [n0, , n2, n3] = tn.nodes.map(node => tn.net(node))
    const inbox = new Map(tn.nodes.map(node => [node, new Inbox(tn.net(node))]))
    const cross: Array<[string, string]> = [['n0', 'n2'], ['n0', 'n3'], ['n1', 'n2'], ['n1', 'n3']]
    const downs = cross.flatMap(([a, b]) => [
      nextEvent(tn.net(a), 'peer:down', (d: { node: string }) => d.node === b, BOUND),
      nextEvent(tn.net(b), 'peer:down', (d: { node: string }) => d.node === a, BOUND)
    ])
    tn.partition(['n0', 'n1'], ['n2', 'n3'])
    await Promise.all(downs)

    n0.send('n2', text('across'))
    n3.send('n1', text('across'))
    n0.send('n1', text('within'))
    n3.send('n2', text('within'))
    await inbox.get('n1')!.wait(() => inbox.get('n1')!.from('n0').length === 1, BOUND)
    await inbox.get('n2')!.wait(() => inbox.get('n2')!.from('n3').length === 1, BOUND)
    // reconnects are refused: the messages across stay queued, nothing connects
    assert.deepEqual(inbox.get('n2')!.from('n0'), [])
    assert.deepEqual(inbox.get('n1')!.from('n3'), [])
    assert.equal(n0.stats().members.n2.queued, 1)
    assert.equal(n0.stats().members.n2.connected, false)
    for (const [a, b] of cross) assert.equal(tn.link(a, b).stats(a).connections, 0)

    tn.healAll()
    await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
    await inbox.get('n2')!.wait(() => inbox.get('n2')!.from('n0').length === 1, BOUND)
    await inbox.get('n1')!.wait(() => inbox.get('n1')!.from('n3').length === 1, BOUND)
    n2.send('n1', text('after'))
    await inbox.get('n1')!.wait(() => inbox.get('n1')!.from('n2').length === 1, BOUND)
    assert.equal(str(inbox.get('n1')!.from('n2')[0]), 'after')
  })

  it('crash stops a node (its peers see peer:down); restart brings it back on the same key and address', async () => {
    const tn = await connected(3)
    const old = tn.net('n2')
    const downs = ['n0', 'n1'].map(async node => nextEvent(tn.net(node), 'peer:down', (d: { node: string }) => d.node === 'n2', BOUND))
    await tn.crash('n2')
    await Promise.all(downs)
    assert.equal(tn.isUp('n2'), false)
    assert.throws(() => tn.net('n2'), /crashed/)
    assert.throws(() => old.stats(), NotStartedError)
    tn.net('n0').send('n2', text('while down'))

    const ups = ['n0', 'n1'].map(async node => nextEvent(tn.net(node), 'peer:up', (d: { node: string }) => d.node === 'n2', BOUND))
    const net = await tn.restart('n2')
    assert.notEqual(net, old)
    assert.equal(net.peerId.toString(), old.peerId.toString())
    assert.deepEqual(net.getMultiaddrs().map(String), tn.membership.n2)
    const at2 = new Inbox(net)
    await net.connect(tn.membership)
    await Promise.all(ups)
    await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
    await at2.waitCount(1, BOUND) // queued at n0 while n2 was down
    assert.deepEqual(at2.messages.map(m => `${m.from}:${str(m.data)}`), ['n0:while down'])
    const at0 = new Inbox(tn.net('n0'))
    net.send('n0', text('back'))
    await at0.waitCount(1, BOUND)
    assert.equal(str(at0.messages[0].data), 'back')
    await assert.rejects(tn.restart('n2'), /running/)
  })

  it('the same seed gives the same keys, random() and jitter draws; another seed does not', async () => {
    const run = async (seed: number): Promise<{ peers: string[], random: number[], jitter: number[] }> => {
      const jitter: number[] = []
      const tn = await network(2, { seed, link: { jitter: 10 }, trace: (e: TraceEvent) => { if (e.from === 'n0') jitter.push(e.jitter) } })
      await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
      const at1 = new Inbox(tn.net('n1'))
      for (let i = 0; i < 20; i++) {
        tn.net('n0').send('n1', seq(i))
        await at1.waitCount(i + 1, BOUND)
      }
      const random = Array.from({ length: 8 }, () => tn.random())
      await tn.stop()
      return { peers: tn.nodes.map(node => tn.membership[node][0]), random, jitter }
    }
    const a = await run(42)
    const b = await run(42)
    const c = await run(43)
    assert.deepEqual(a.peers, b.peers)
    assert.deepEqual(a.random, b.random)
    const n = Math.min(a.jitter.length, b.jitter.length)
    assert.ok(n >= 20, `only ${n} chunks drew jitter`)
    assert.deepEqual(a.jitter.slice(0, n), b.jitter.slice(0, n))
    for (const j of a.jitter) assert.ok(j >= 0 && j < 10)
    assert.notDeepEqual(a.peers, c.peers)
    assert.notDeepEqual(a.random, c.random)
    assert.notDeepEqual(a.jitter.slice(0, n), c.jitter.slice(0, n))
  })
})
