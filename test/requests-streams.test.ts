/**
 * Streamed answers (issue 6): order and completeness, credit (neither side buffers more than
 * INITIAL_STREAM_CREDIT parts for a slow consumer), a requester that stops iterating, a stream that
 * stops between parts, an error mid-stream, and request()/requestStream() against the other kind
 * of handler. Real nodes over TCP on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { INITIAL_STREAM_CREDIT } from '../src/wire/frames.ts'
import { mesh, seq, seqOf, stopAll, str, text, withTimeout } from './helpers.ts'
import { Calls, aborted, deferred, failure } from './request-helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

describe('requests: streamed answers', () => {
  const cleanup: ConsensusNet[] = []
  let a: ConsensusNet, b: ConsensusNet
  before(async () => { [a, b] = await mesh(cleanup, 2) })
  after(async () => { await stopAll(cleanup) })

  it('10,000 parts arrive complete and in order', async () => {
    b.channel('many').handle(async function * (data) {
      const n = seqOf(data)
      for (let i = 0; i < n; i++) yield seq(i)
    })
    let next = 0
    for await (const part of a.channel('many').requestStream('b', seq(10_000), { timeout: 10_000 })) {
      assert.equal(seqOf(part), next, 'out of order')
      next++
    }
    assert.equal(next, 10_000)
    assert.equal(a.channel('many').stats().requests.succeeded, 1)
    assert.equal(b.channel('many').stats().requests.served, 1)
  })

  it('a slow consumer: the responder produces at most INITIAL_STREAM_CREDIT parts ahead, its queue stays within that, and a pause longer than the timeout does not time out', async () => {
    const PARTS = 120
    const SIZE = 32 * 1024
    let produced = 0
    let consumed = 0
    let ahead = 0
    b.channel('slow').handle(async function * () {
      for (let i = 0; i < PARTS; i++) {
        produced++
        ahead = Math.max(ahead, produced - consumed)
        yield seq(i, SIZE)
      }
    })
    // a ping on another channel: one round trip on both streams, so what b wrote before has arrived
    b.channel('ping', { priority: 7 }).handle(data => data)
    const ping = a.channel('ping', { priority: 7 })
    const queuedAtB: number[] = []
    const hang = a.channel('hang')
    b.channel('hang').handle(async (_data, { signal }) => { await aborted(signal); return text('') })
    let next = 0
    for await (const part of a.channel('slow').requestStream('b', text('go'), { timeout: 300 })) {
      assert.equal(seqOf(part), next++)
      consumed++
      if (next === 1) {
        // pause longer than the stream's timeout (the event: another request's 600 ms timeout)
        assert.equal((await failure(hang.request('b', text('wait'), { timeout: 600 }))).code, 'timeout')
      }
      if (next <= 40) {
        for (let k = 0; k < 2; k++) await ping.request('b', seq(k))
        queuedAtB.push(b.channel('slow').stats().members.a.queued)
      }
    }
    assert.equal(next, PARTS)
    assert.ok(ahead <= INITIAL_STREAM_CREDIT, `the responder produced ${ahead} parts ahead of the consumer`)
    assert.ok(Math.max(...queuedAtB) <= INITIAL_STREAM_CREDIT + 2, `b queued up to ${Math.max(...queuedAtB)} parts`)
  })

  it('the requester breaks out of for-await mid-stream: the handler\'s signal fires and the generator\'s finally runs', async () => {
    const signalled = deferred<unknown>()
    const finallyRan = deferred()
    b.channel('endless').handle(async function * (_data, { signal }) {
      void aborted(signal).then(signalled.resolve)
      try {
        for (let i = 0; i < 1_000_000; i++) yield seq(i)
      } finally {
        finallyRan.resolve()
      }
    })
    const ch = a.channel('endless')
    const got: number[] = []
    for await (const part of ch.requestStream('b', text('go'), { timeout: 60_000 })) {
      got.push(seqOf(part))
      if (got.length === 5) break
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4])
    await withTimeout(signalled.promise, 10_000, () => 'the handler\'s signal did not fire')
    await withTimeout(finallyRan.promise, 10_000, () => 'the generator\'s finally did not run')
    assert.equal(ch.stats().requests.aborted, 1)
    assert.equal(b.channel('endless').stats().requests.served, 0)
    // the next stream on the channel is unaffected
    const again: number[] = []
    for await (const part of ch.requestStream('b', text('go'))) if (again.push(seqOf(part)) === 3) break
    assert.deepEqual(again, [0, 1, 2])
  })

  it('a stream that stops between parts times out after the parts sent, and the handler\'s signal fires', async () => {
    const signalled = deferred<unknown>()
    b.channel('stall').handle(async function * (_data, { signal }) {
      yield seq(0)
      yield seq(1)
      yield seq(2)
      signalled.resolve(await aborted(signal))
    })
    const got: number[] = []
    const err = await failure((async () => {
      for await (const part of a.channel('stall').requestStream('b', text('go'), { timeout: 300 })) got.push(seqOf(part))
    })())
    assert.equal(err.code, 'timeout')
    assert.deepEqual(got, [0, 1, 2])
    await withTimeout(signalled.promise, 10_000, () => 'the handler\'s signal did not fire after the timeout')
    assert.equal(a.channel('stall').stats().requests.timedOut, 1)
  })

  it('an error mid-stream surfaces as remote-error after every part yielded before it, large parts included', async () => {
    b.channel('fails').handle(async function * (data) {
      const [n, size] = [data[0], seqOf(data.subarray(1))]
      for (let i = 0; i < n; i++) yield seq(i, size)
      throw new Error('disk gone')
    })
    for (const [n, size] of [[5, 4], [8, 256 * 1024]]) {
      const req = new Uint8Array(5)
      req[0] = n
      req.set(seq(size), 1)
      const got: number[] = []
      const err = await failure((async () => {
        for await (const part of a.channel('fails').requestStream('b', req, { timeout: 10_000 })) {
          assert.equal(part.byteLength, size)
          got.push(seqOf(part))
        }
      })())
      assert.deepEqual([err.code, err.message], ['remote-error', 'disk gone'])
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), `${size}-byte parts: the error overtook parts yielded before it`)
    }
  })

  it('a part over maxResponseSize ends the stream with too-large after the parts before it', async () => {
    b.channel('part-size', { maxResponseSize: 100 }).handle(async function * () {
      yield new Uint8Array(100)
      yield new Uint8Array(101)
    })
    const got: number[] = []
    const err = await failure((async () => {
      for await (const part of a.channel('part-size').requestStream('b', text('go'))) got.push(part.byteLength)
    })())
    assert.equal(err.code, 'too-large')
    assert.deepEqual(got, [100])
  })

  it('request() to a streaming handler fails remote-error and cancels the stream; requestStream() to a one-answer handler yields one part', async () => {
    const finallyRan = deferred()
    const calls = new Calls()
    b.channel('kinds').handle(async (data) => {
      calls.hit()
      if (str(data) === 'one') return text('the one answer')
      return (async function * () {
        try {
          for (let i = 0; i < 1_000_000; i++) yield seq(i)
        } finally {
          finallyRan.resolve()
        }
      })()
    })
    const ch = a.channel('kinds')
    assert.equal((await failure(ch.request('b', text('stream'), { timeout: 60_000 }))).code, 'remote-error')
    await withTimeout(finallyRan.promise, 10_000, () => 'the stream was not cancelled at the responder')
    const parts: string[] = []
    for await (const part of ch.requestStream('b', text('one'))) parts.push(str(part))
    assert.deepEqual(parts, ['the one answer'])
    assert.equal(calls.n, 2)
  })
})
