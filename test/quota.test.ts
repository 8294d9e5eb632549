/**
 * Inbound quotas (`channel(name, { rateLimit })`): GCRA per member, a burst of the whole allowance
 * then the steady rate; past it messages are dropped and requests answered busy, counted
 * `rateLimited` per member; other members have their own allowance.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Quota, type QuotaState } from '../src/channels/quota.ts'
import { type ConsensusNet, type RequestError } from '../src/index.ts'
import { mesh, seq, seqOf, stopAll, waitUntil } from './helpers.ts'

const fresh = (): QuotaState => ({ tat: 0, tatBytes: 0 })

describe('Quota (GCRA)', () => {
  it('allows a burst of `messages` at once, then one per per/messages', () => {
    const q = new Quota({ messages: 4, per: 1000 })
    const s = fresh()
    const t0 = 10_000
    assert.deepEqual([1, 2, 3, 4, 5].map(() => q.take(s, 1, t0)), [true, true, true, true, false])
    assert.equal(q.take(s, 1, t0 + 249), false)
    assert.equal(q.take(s, 1, t0 + 250), true)
    assert.equal(q.take(s, 1, t0 + 251), false)
    // idle for a whole period: the whole burst again
    assert.deepEqual([1, 2, 3, 4, 5].map(() => q.take(s, 1, t0 + 5000)), [true, true, true, true, false])
  })

  it('bounds bytes; a message larger than the whole allowance passes only when it is full, and then owes its time', () => {
    const q = new Quota({ bytes: 1000, per: 1000 })
    const s = fresh()
    assert.equal(q.take(s, 600, 0), true)
    assert.equal(q.take(s, 600, 0), false, 'nothing taken by a refusal')
    assert.equal(q.take(s, 400, 0), true)
    assert.equal(q.take(s, 1, 0), false)
    const big = fresh()
    assert.equal(q.take(big, 3000, 0), true)
    assert.equal(q.take(big, 1, 1999), false)
    assert.equal(q.take(big, 1, 2001), true)
  })

  it('messages and bytes together: either limit refuses', () => {
    const q = new Quota({ messages: 10, bytes: 100, per: 1000 })
    const s = fresh()
    assert.equal(q.take(s, 100, 0), true)
    assert.equal(q.take(s, 1, 0), false)
  })

  it('refuses an invalid limit with a RangeError', () => {
    for (const bad of [{ per: 1000 }, { messages: 0, per: 1000 }, { messages: 1.5, per: 1000 }, { bytes: -1, per: 1000 }, { messages: 1, per: 0 }, { messages: 1, per: Infinity }, { messages: 1, per: Number.NaN }, null]) {
      assert.throws(() => new Quota(bad as never), RangeError, JSON.stringify(bad))
    }
  })
})

describe('rateLimit on a channel', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await stopAll(cleanup) })

  it('drops what a member sends past its allowance, counted rateLimited; another member has its own', async () => {
    const [a, b, c] = await mesh(cleanup, 3)
    const got: string[] = []
    a.channel('votes', { rateLimit: { messages: 5, per: 60_000 } }).onMessage((from, data) => { got.push(`${from}:${seqOf(data)}`) })
    for (const n of [b, c]) n.channel('votes')
    for (let i = 0; i < 8; i++) b.channel('votes').send('a', seq(i))
    for (let i = 0; i < 2; i++) c.channel('votes').send('a', seq(i))
    await waitUntil(() => a.channel('votes').stats().members.b.rateLimited === 3 && got.length === 7, 20_000, '7 delivered, 3 refused')
    assert.deepEqual(got.filter(g => g.startsWith('b:')), ['b:0', 'b:1', 'b:2', 'b:3', 'b:4'])
    assert.deepEqual(got.filter(g => g.startsWith('c:')), ['c:0', 'c:1'])
    const stats = a.channel('votes').stats().members
    assert.equal(stats.b.received, 5)
    assert.equal(stats.c.rateLimited, 0)
  })

  it('answers requests past the allowance busy, counted rateLimited', async () => {
    const [a, b] = await mesh(cleanup, 2)
    a.channel('blocks', { rateLimit: { messages: 2, per: 60_000 } }).handle(data => data)
    const ch = b.channel('blocks')
    assert.equal(seqOf(await ch.request('a', seq(1))), 1)
    assert.equal(seqOf(await ch.request('a', seq(2))), 2)
    await assert.rejects(ch.request('a', seq(3)), (err: RequestError) => err.code === 'busy')
    assert.equal(a.channel('blocks').stats().members.b.rateLimited, 1)
  })

  it('is refused on a reliable channel, and must match when the channel is opened again', async () => {
    const [a] = await mesh(cleanup, 1)
    assert.throws(() => a.channel('r', { reliable: true, rateLimit: { messages: 1, per: 1000 } }), RangeError)
    a.channel('q', { rateLimit: { messages: 1, per: 1000 } })
    assert.equal(a.channel('q', { rateLimit: { messages: 1, per: 1000 } }).name, 'q')
    assert.throws(() => a.channel('q', { rateLimit: { messages: 2, per: 1000 } }), RangeError)
    assert.deepEqual(a.channel('q').options.rateLimit, { messages: 1, bytes: undefined, per: 1000 })
    assert.throws(() => a.channel('z', { rateLimit: { per: 1000 } }), RangeError)
  })

  it('maxReceiveRate reads each member at most that fast: a burst beyond it arrives whole and in order, later', async () => {
    const [a, b] = await mesh(cleanup, 2, { maxReceiveRate: 1 << 20 }) // 1 MiB/s, a second's worth at once
    const got: number[] = []
    b.onMessage((_from, data) => { got.push(seqOf(data)) })
    const started = Date.now()
    for (let i = 0; i < 48; i++) a.send('b', seq(i, 64 * 1024)) // 3 MiB
    await waitUntil(() => got.length === 48, 20_000, '48 messages')
    assert.deepEqual(got, Array.from({ length: 48 }, (_, i) => i))
    // 2 MiB beyond the burst at 1 MiB/s (less what was in flight when the first debt began)
    assert.ok(Date.now() - started >= 1000, `3 MiB took ${Date.now() - started} ms`)
    assert.equal(a.stats().members.b.dropped, 0)
    await assert.rejects(mesh(cleanup, 1, { maxReceiveRate: 0 }), RangeError)
  })
})
