import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Inbox, membershipOf, nextEvent, startNodes, stopAll, str, text, waitUntil } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

describe('membership {a,b,c} -> {a,b,d} -> {a,b,c,d}', () => {
  let nets: ConsensusNet[] = []
  after(async () => { await stopAll(nets) })

  it('closes what left, connects what joined, stops delivering from who left, and promotes it when re-added', async () => {
    nets = await startNodes(4)
    const [a, b, c, d] = nets
    const all = membershipOf(nets)
    const abc = { a: all.a, b: all.b, c: all.c }
    const abd = { a: all.a, b: all.b, d: all.d }
    await Promise.all([a, b, c].map(async n => n.connect(abc)))
    await Promise.all([a, b, c].map(async n => n.waitFor(3)))
    const inbox = new Inbox(a)
    c.send('a', text('c before'))
    await inbox.waitCount(1)

    // a and b drop c and add d; c still believes in {a,b,c}
    const cDown = nextEvent<{ node: string }>(a, 'peer:down', e => e.node === 'c')
    const aLost = nextEvent<{ node: string }>(c, 'peer:down', e => e.node === 'a') // c's stream to a was reset
    await Promise.all([a, b, d].map(async n => n.connect(abd)))
    await cDown
    await aLost
    await Promise.all([a, b, d].map(async n => n.waitFor(3)))
    assert.deepEqual(Object.keys(a.stats().members).sort(), ['a', 'b', 'd'])

    // c's dispatcher reconnects to a by itself; a holds what it sends, emits nothing
    c.send('a', text('c while removed 1'))
    c.send('a', text('c while removed 2'))
    await waitUntil(() => a.stats().tentative.buffered === 2, 20_000, 'a to hold c\'s two messages')
    d.send('a', text('d joined'))
    await inbox.waitCount(2)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${str(m.data)}`), ['c:c before', 'd:d joined'])
    assert.equal(a.stats().tentative.receivers, 1)

    // re-adding c promotes its stream: held messages first, in order, then live ones
    await a.connect(all)
    c.send('a', text('c live'))
    await inbox.waitCount(5)
    assert.deepEqual(inbox.messages.slice(2).map(m => `${m.from}:${str(m.data)}`),
      ['c:c while removed 1', 'c:c while removed 2', 'c:c live'])
    const s = a.stats()
    assert.deepEqual(s.tentative, { receivers: 0, buffered: 0, dropped: 0, evicted: 0, promoted: 1 })
    assert.equal(s.members.c.received, 3)
  })
})
