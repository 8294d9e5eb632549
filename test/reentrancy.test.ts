/** 'message' handlers may call connect() or stop(): the state stays consistent and the promises hold. */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Inbox, membershipOf, nextEvent, seq, seqOf, startNodes, startStranger, stopAll, waitUntil } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

describe('handlers that change the membership', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await stopAll(cleanup) })

  it('removing a member while its held messages are emitted stops them and its live stream', async () => {
    const { a, c, all } = await startStranger()
    cleanup.push(a, c)
    for (let i = 0; i < 5; i++) c.send('a', seq(i))
    await waitUntil(() => a.stats().tentative.buffered === 5, 20_000, 'a to hold 5')
    const inbox = new Inbox(a)
    let removal: Promise<void> | undefined
    a.addEventListener('message', () => { removal ??= a.connect({ a: all.a }) })
    const cBack = nextEvent(c, 'peer:up') // c's stream to a is reset by the removal; c redials
    await a.connect(all)
    await removal
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), ['c:0'])
    assert.deepEqual(Object.keys(a.stats().members), ['a'])
    assert.equal(a.stats().tentative.dropped, 4) // the other held ones, counted
    // c's next messages are held again (it is not a member), never delivered
    await cBack
    c.send('a', seq(99))
    await waitUntil(() => a.stats().tentative.buffered === 1, 20_000, 'a to hold c\'s new message')
    assert.equal(inbox.messages.length, 1)
  })

  it('a smaller membership applied from a handler during a larger one leaves exactly the smaller one', async () => {
    const [a, c, d] = await startNodes(3)
    cleanup.push(a, c, d)
    const all = membershipOf([a, c, d], ['a', 'c', 'd'])
    await a.connect({ a: all.a })
    await c.connect(all)
    c.send('a', seq(1))
    await waitUntil(() => a.stats().tentative.buffered === 1, 20_000, 'a to hold c\'s message')
    let nested: Promise<void> | undefined
    a.addEventListener('message', () => { nested ??= a.connect({ a: all.a, c: all.c }) }, { once: true })
    await a.connect(all) // {a} -> {a,c,d}; the handler applies {a,c} in the middle
    await nested
    assert.deepEqual(Object.keys(a.stats().members).sort(), ['a', 'c'])
    assert.throws(() => { a.send('d', seq(2)) }, { name: 'UnknownNodeError' })
  })

  it('stop() from a handler during promotion leaves nothing running', async () => {
    const { a, c, all } = await startStranger()
    cleanup.push(c)
    c.send('a', seq(1))
    c.send('a', seq(2))
    await waitUntil(() => a.stats().tentative.buffered === 2, 20_000, 'a to hold 2')
    const inbox = new Inbox(a)
    let stopped: Promise<void> | undefined
    a.addEventListener('message', () => { stopped ??= a.stop() })
    await a.connect(all)
    await stopped
    assert.equal(inbox.messages.length, 1)
    assert.throws(() => a.stats(), { name: 'NotStartedError' })
  })

  it('removing a sender on its first message of a burst delivers none of the rest', async () => {
    const [a, b] = await startNodes(2)
    cleanup.push(a, b)
    const all = membershipOf([a, b])
    await Promise.all([a.connect(all), b.connect(all)])
    await Promise.all([a.waitFor(2), b.waitFor(2)])
    const inbox = new Inbox(a)
    let removal: Promise<void> | undefined
    a.addEventListener('message', () => { removal ??= a.connect({ a: all.a }) })
    const bBack = nextEvent(b, 'peer:up', e => (e as { node: string }).node === 'a')
    for (let i = 0; i < 50; i++) b.send('a', seq(i)) // one write: one chunk at a
    await inbox.waitCount(1)
    await removal
    await bBack
    b.send('a', seq(50))
    await waitUntil(() => a.stats().tentative.buffered >= 1, 20_000, 'b\'s later message to be held')
    assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), [0])
  })
})
