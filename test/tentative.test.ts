import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Inbox, membershipOf, nextEvent, seq, seqOf, startNodes, startStranger, stopAll, waitUntil } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

/** Senders that never redial on their own during a test: an evicted one stays evicted. */
const NO_REDIAL = { reconnect: { initialDelay: 600_000, maxDelay: 600_000 } }

describe('TentativeReceivers', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await stopAll(cleanup) })

  it('hold a non-member\'s messages without emitting; promotion delivers them in order with the new node ID, then live ones', async () => {
    const { a, c, all } = await startStranger()
    cleanup.push(a, c)
    const inbox = new Inbox(a)
    for (let i = 0; i < 5; i++) c.send('a', seq(i))
    await waitUntil(() => a.stats().tentative.buffered === 5, 20_000, 'a to hold 5 messages')
    assert.equal(inbox.messages.length, 0)
    assert.deepEqual(a.stats().tentative, { receivers: 1, buffered: 5, dropped: 0, evicted: 0, promoted: 0 })

    await a.connect(all)
    // held messages are emitted during connect(), before any live one
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), ['c:0', 'c:1', 'c:2', 'c:3', 'c:4'])
    for (let i = 5; i < 8; i++) c.send('a', seq(i))
    await inbox.waitCount(8)
    assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), [0, 1, 2, 3, 4, 5, 6, 7])
    assert.deepEqual(a.stats().tentative, { receivers: 0, buffered: 0, dropped: 0, evicted: 0, promoted: 1 })
    assert.equal(a.stats().members.c.received, 8)
  })

  it('keep only the most recent tentativeBufferSize messages per peer, counting the dropped ones', async () => {
    const { a, c, all } = await startStranger({ tentativeBufferSize: 4 })
    cleanup.push(a, c)
    const inbox = new Inbox(a)
    for (let i = 0; i < 11; i++) c.send('a', seq(i))
    await waitUntil(() => a.stats().tentative.dropped === 7, 20_000, '7 dropped')
    assert.deepEqual(a.stats().tentative, { receivers: 1, buffered: 4, dropped: 7, evicted: 0, promoted: 0 })
    await a.connect(all)
    assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), [7, 8, 9, 10])
  })

  it('hold at most maxTentativeReceivers peers, evicting the oldest created and resetting its stream', async () => {
    const [a, ...others] = await startNodes(4, { maxTentativeReceivers: 2, ...NO_REDIAL })
    cleanup.push(a, ...others)
    const [c, d, e] = others
    const all = membershipOf([a, c, d, e], ['a', 'c', 'd', 'e'])
    await a.connect({ a: all.a })
    const inbox = new Inbox(a)
    // one at a time, so creation order is c, d, e
    let held = 0
    for (const [sender, name] of [[c, 'c'], [d, 'd']] as const) {
      await sender.connect({ a: all.a, [name]: all[name] })
      sender.send('a', seq(held))
      sender.send('a', seq(held + 1))
      held += 2
      await waitUntil(() => a.stats().tentative.buffered === held, 20_000, `a to hold ${held}`)
    }
    const cReset = nextEvent<{ node: string }>(c, 'peer:down', ev => ev.node === 'a')
    await e.connect({ a: all.a, e: all.e })
    e.send('a', seq(4))
    await cReset // c, the oldest, was evicted: its stream reset
    await waitUntil(() => a.stats().tentative.buffered === 3, 20_000, 'a to hold d\'s 2 and e\'s 1')
    assert.deepEqual(a.stats().tentative, { receivers: 2, buffered: 3, dropped: 2, evicted: 1, promoted: 0 })

    await a.connect(all)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`).sort(), ['d:2', 'd:3', 'e:4'])
    assert.equal(a.stats().tentative.promoted, 2)
  })
})
