/**
 * What the core builds on its links, across faults, in virtual time: a resolver fetch across a
 * partition and its heal, and a tentative peer promoted by a membership update (its held messages
 * delivered in order before its live ones).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ResolveError } from '../../src/errors.ts'
import { seeded } from './seeded.ts'
import { Inbox, meshed, nets, seq, seqOf, settle, str, text, upTo } from './nets.ts'
import type { Simulation } from '../../src/testing/sim/index.ts'
import type { Resolver } from '../../src/resolver/resolver.ts'

/** The settled outcome of `promise` and the virtual time it settled at, once it has. */
function watchOutcome<T> (sim: Simulation, promise: Promise<T>): { outcome?: { at: number, value?: T, error?: unknown } } {
  const box: { outcome?: { at: number, value?: T, error?: unknown } } = {}
  promise.then(value => { box.outcome = { at: sim.now, value } }, (error: unknown) => { box.outcome = { at: sim.now, error } })
  return box
}

describe('the core across faults', () => {
  it('a resolver fetch across a partition: it fails "timeout" while no member can answer, one waiting at the heal succeeds, and after it all do', seeded(1, async seed => {
    const timeout = 2_000
    const sim = await meshed({ seed, nodes: 3, link: { latency: 10 } })
    const stores = new Map<string, Map<string, string>>([['n0', new Map()], ['n1', new Map([['a', 'A'], ['b', 'B']])], ['n2', new Map([['a', 'A'], ['b', 'B']])]])
    const resolvers = new Map<string, Resolver>()
    for (const node of sim.nodes) {
      resolvers.set(node, sim.net(node).resolver('blocks', {
        produce: key => { const value = stores.get(node)!.get(key as string); return value === undefined ? undefined : text(value) },
        timeout,
        hedge: false
      }))
    }
    const blocks = resolvers.get('n0')!
    // before: a fetch is answered in a round trip
    let t = sim.now
    assert.equal(str(await settle(sim, blocks.fetch('a'))), 'A')
    assert.equal(sim.now - t, 20)
    blocks.invalidate('a')

    // partitioned from both members: each attempt waits its timeout in the queue, then the fetch fails
    sim.partition(['n0'], ['n1', 'n2'])
    t = sim.now
    const during = watchOutcome(sim, blocks.fetch('a'))
    await sim.run({ until: () => during.outcome !== undefined, timeout: 10_000 })
    assert.ok(during.outcome!.error instanceof ResolveError, `got ${String(during.outcome!.error)}`)
    assert.equal(during.outcome!.error.code, 'timeout')
    assert.equal(during.outcome!.at - t, 2 * timeout, 'two members asked in turn, each for the timeout')
    assert.equal(blocks.stats().timedOut, 1)
    assert.equal(blocks.stats().networkRequests, 3)

    // a fetch started before the heal waits in the queue, and is answered once the link is back
    const waiting = watchOutcome(sim, blocks.fetch('b'))
    await sim.run({ for: timeout / 2 })
    assert.equal(waiting.outcome, undefined)
    const healed = sim.now
    sim.healAll()
    await sim.run({ until: () => waiting.outcome !== undefined, timeout: 10_000 })
    assert.equal(waiting.outcome!.error, undefined, `failed: ${String(waiting.outcome!.error)}`)
    assert.equal(str(waiting.outcome!.value!), 'B')
    assert.ok(waiting.outcome!.at - healed < timeout / 2, `answered ${waiting.outcome!.at - healed} ms after the heal`)

    // after the heal: what failed is fetched (a timeout is not cached as missing)
    t = sim.now
    assert.equal(str(await settle(sim, blocks.fetch('a'))), 'A')
    assert.equal(sim.now - t, 20)
    assert.equal(blocks.stats().notFound, 0)
    sim.stop()
  }))

  it('a tentative peer is promoted: its held messages are delivered in order before its live ones, and counted', seeded(1, async seed => {
    const sim = nets({ seed, nodes: 2, link: { latency: 10 } })
    const a = sim.net('n0')
    const b = sim.net('n1')
    const onDefault = new Inbox(b)
    const onVotes: number[] = []
    a.channel('votes')
    b.channel('votes').onMessage((_from, data) => { onVotes.push(seqOf(data)) })
    await a.connect(sim.membership)
    await b.connect({ n1: sim.membership.n1 }) // n0 is not a member of b's yet
    await settle(sim, a.waitFor(2)) // b accepts n0's stream, tentatively
    for (let i = 0; i < 10; i++) {
      a.send('n1', seq(i))
      a.channel('votes').send('n1', seq(i))
    }
    await sim.run({ until: () => b.stats().tentative.buffered === 20, timeout: 1_000 })
    await sim.run({ for: 500 })
    assert.deepEqual(b.stats().tentative, { receivers: 1, buffered: 20, dropped: 0, evicted: 0, promoted: 0 })
    assert.equal(onDefault.messages.length + onVotes.length, 0, 'held, not delivered')
    assert.equal(sim.deliveries, 0)

    // more in flight as b's membership adds n0: they arrive after the promotion
    for (let i = 10; i < 15; i++) {
      a.send('n1', seq(i))
      a.channel('votes').send('n1', seq(i))
    }
    await sim.run({ for: 5 })
    const promotedAt = sim.now
    await b.connect(sim.membership)
    assert.deepEqual(onDefault.messages.map(m => seqOf(m.data)), upTo(10), 'held ones at once, in order')
    assert.deepEqual(onVotes, upTo(10))
    assert.ok(onDefault.messages.every(m => m.at === promotedAt && m.from === 'n0'))
    assert.deepEqual(b.stats().tentative, { receivers: 0, buffered: 0, dropped: 0, evicted: 0, promoted: 1 })
    for (let i = 15; i < 20; i++) {
      a.send('n1', seq(i))
      a.channel('votes').send('n1', seq(i))
    }
    await sim.run({ until: () => onDefault.messages.length === 20 && onVotes.length === 20, timeout: 1_000 })
    assert.deepEqual(onDefault.messages.map(m => seqOf(m.data)), upTo(20), 'then the live ones, in order')
    assert.deepEqual(onVotes, upTo(20))
    assert.ok(onDefault.messages.slice(10).every(m => m.at > promotedAt))
    assert.equal(b.stats().members.n0.received, 40)
    // and b now reaches n0 as a member
    await settle(sim, b.waitFor(2))
    const onA = new Inbox(a)
    b.send('n0', text('welcome'))
    await sim.run({ until: () => onA.messages.length === 1, timeout: 1_000 })
    sim.stop()
  }))
})
