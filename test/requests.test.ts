/**
 * Request/response (issue 6, semantics 4): correlation, the member's queue, a restart in flight,
 * timeouts and late answers, aborts, remote errors, busy, no-handler / too-large /
 * unknown-member, requests to this node itself, and the counters. Streamed answers:
 * requests-streams.test.ts. Real nodes over TCP on 127.0.0.1, one test on the memory transport.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RequestError } from '../src/errors.ts'
import { createConsensusNet, type ConsensusNet } from '../src/index.ts'
import { freePort, memoryPair, membershipOf, mesh as startMesh, nextEvent, seq, seqOf, startNodes, stopAll, str, text, waitUntil, withTimeout } from './helpers.ts'
import { Calls, aborted, deferred, failure, type Deferred } from './request-helpers.ts'
import { mulberry32 } from '../src/testing/random.ts'
import { ChildNode } from './fixtures/child-node.ts'
import type { HandlerContext } from '../src/channels/types.ts'
import type { PrivateKey } from '@libp2p/interface'

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

const mesh = async (n: number, init = {}): Promise<ConsensusNet[]> => startMesh(cleanup, n, init)

describe('requests: correlation', () => {
  it('1,000 concurrent requests to 3 members on two channels, answered out of order: each resolves once, with the answer to its own request', async () => {
    const nets = await mesh(4)
    const [a] = nets
    const names = ['b', 'c', 'd']
    const random = mulberry32(0x5eed)
    /** `${responder}|${channel}|${i}` -> handler calls */
    const calls = new Map<string, number>()
    for (const [k, net] of nets.entries()) {
      if (k === 0) continue
      for (const [name, priority] of [['blocks', 6], ['state', 2]] as const) {
        net.channel(name, { priority, maxConcurrentRequests: 1000 }).handle(async (data, { from }) => {
          const key = `${'abcd'[k]}|${name}|${seqOf(data)}`
          calls.set(key, (calls.get(key) ?? 0) + 1)
          await new Promise(resolve => setTimeout(resolve, Math.floor(random() * 20))) // 0-19 ms: answers leave out of order
          return text(`${key}|from ${from}`)
        })
      }
    }
    const channels = [a.channel('blocks', { priority: 6 }), a.channel('state', { priority: 2 })]
    const completed: number[] = []
    const answers = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const answer = await channels[i % 2].request(names[i % 3], seq(i), { timeout: 30_000 })
      completed.push(i)
      return str(answer)
    }))
    for (let i = 0; i < 1000; i++) assert.equal(answers[i], `${names[i % 3]}|${channels[i % 2].name}|${i}|from a`)
    // every request reached its handler exactly once
    assert.equal(calls.size, 1000)
    assert.ok([...calls.values()].every(n => n === 1))
    // out of order on one member and channel (b on 'state': i % 6 === 0)
    const same = completed.filter(i => i % 6 === 0)
    assert.equal(same.length, 167)
    assert.notDeepEqual(same, [...same].sort((x, y) => x - y), 'the answers came back in request order: the test proves nothing')
    // nothing more was answered: one more round trip on each stream, then no late (duplicate) answers
    await Promise.all(names.map(async (node, k) => channels[k % 2].request(node, seq(1000 + k))))
    assert.equal(a.stats().lateReplies, 0)
    for (const ch of channels) {
      const r = ch.stats().requests
      assert.equal(r.sent, 500 + (ch.name === 'blocks' ? 2 : 1)) // the extra round trips: b and d on blocks, c on state
      assert.equal(r.succeeded, r.sent)
      assert.equal(r.failed + r.timedOut + r.aborted, 0)
    }
  })
})

describe('requests: the member\'s queue', () => {
  it('to a member not started yet, a request pushed out of a tiny channel queue fails dropped at once; the ones still queued wait', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const key = await generateKeyPair('Ed25519')
    const b = `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${peerIdFromPrivateKey(key).toString()}`
    await a.connect({ a: a.getMultiaddrs().map(String), b: [b] })
    const ch = a.channel('blocks', { sendBufferSize: 2 })
    const ac = new AbortController()
    const reqs = [0, 1, 2, 3].map(i => ch.request('b', seq(i), { timeout: 60_000, signal: ac.signal }))
    assert.equal((await failure(reqs[0])).code, 'dropped')
    assert.equal((await failure(reqs[1])).code, 'dropped')
    const s = ch.stats()
    assert.deepEqual({ queued: s.members.b.queued, dropped: s.members.b.dropped, sent: s.members.b.sent }, { queued: 2, dropped: 2, sent: 0 })
    assert.equal(s.requests.failed, 2)
    // the two still queued have not failed; aborting takes them back
    const reason = new Error('giving up')
    ac.abort(reason)
    for (const p of reqs.slice(2)) await assert.rejects(p, e => e === reason)
    assert.equal(ch.stats().requests.aborted, 2)
  })

  it('to a member that stopped, requests pushed out of the channel queue fail dropped at once', async () => {
    const [a, b] = await mesh(2)
    b.channel('blocks').handle(data => data)
    const ch = a.channel('blocks', { sendBufferSize: 3 })
    assert.equal(seqOf(await ch.request('b', seq(7))), 7)
    const down = nextEvent(a, 'peer:down')
    await b.stop()
    await down
    const ac = new AbortController()
    const reqs = Array.from({ length: 5 }, (_, i) => ch.request('b', seq(i), { timeout: 60_000, signal: ac.signal }))
    for (const p of reqs.slice(0, 2)) assert.equal((await failure(p)).code, 'dropped')
    assert.equal(ch.stats().members.b.queued, 3)
    ac.abort()
    for (const p of reqs.slice(2)) await assert.rejects(p, { name: 'AbortError' })
  })

  it('aborting a queued request frees its place: it is neither counted queued nor, when pushed out later, dropped', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const key = await generateKeyPair('Ed25519')
    await a.connect({ a: a.getMultiaddrs().map(String), b: [`/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${peerIdFromPrivateKey(key).toString()}`] })
    const ch = a.channel('blocks', { sendBufferSize: 2 })
    const ac = new AbortController()
    const gone = [0, 1].map(i => ch.request('b', seq(i), { timeout: 60_000, signal: ac.signal }))
    ac.abort()
    for (const p of gone) await assert.rejects(p, { name: 'AbortError' })
    const queuedAfterAbort = ch.stats().members.b.queued
    const ac2 = new AbortController()
    const live = [2, 3].map(i => ch.request('b', seq(i), { timeout: 60_000, signal: ac2.signal }))
    const s = ch.stats().members.b
    assert.deepEqual({ queuedAfterAbort, queued: s.queued, dropped: s.dropped }, { queuedAfterAbort: 0, queued: 2, dropped: 0 },
      'aborted requests are still counted queued, or their eviction by later requests is counted as dropped')
    ac2.abort()
    for (const p of live) await assert.rejects(p, { name: 'AbortError' })
  })

  it('an aborted request takes no place in the queue: a live request older than it is not pushed out by the next one', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const key = await generateKeyPair('Ed25519')
    await a.connect({ a: a.getMultiaddrs().map(String), b: [`/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${peerIdFromPrivateKey(key).toString()}`] })
    const ch = a.channel('blocks', { sendBufferSize: 2 })
    const ac3 = new AbortController()
    const ac4 = new AbortController()
    const older = ch.request('b', seq(4), { timeout: 60_000, signal: ac3.signal })
    const aborted = ch.request('b', seq(5), { timeout: 60_000, signal: ac4.signal })
    ac4.abort()
    await assert.rejects(aborted, { name: 'AbortError' })
    const newer = ch.request('b', seq(6), { timeout: 60_000, signal: ac3.signal })
    const t = ch.stats().members.b
    ac3.abort()
    const outcomes = await Promise.all([older, newer].map(async p => p.then(() => 'answered', (e: Error) => e.name === 'RequestError' ? (e as RequestError).code : e.name)))
    assert.deepEqual({ queued: t.queued, dropped: t.dropped, outcomes }, { queued: 2, dropped: 0, outcomes: ['AbortError', 'AbortError'] },
      'the place of an aborted request pushed out a live one')
  })
})

describe('requests: a member restarts with requests in flight', () => {
  it('requests written to it fail connection-lost at once, its handlers\' signals fire; after it is back, new requests are answered', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const key = await generateKeyPair('Ed25519')
    const port = await freePort()
    const start = async (): Promise<ConsensusNet> => {
      const net = await createConsensusNet({ privateKey: key, listen: [`/ip4/127.0.0.1/tcp/${port}`], reconnect: { initialDelay: 20, maxDelay: 200 } })
      cleanup.push(net)
      return net
    }
    let b = await start()
    const membership = membershipOf([a, b])
    const calls = new Calls()
    const signals: AbortSignal[] = []
    b.channel('blocks').handle(async (_data, { signal }) => {
      signals.push(signal)
      calls.hit()
      await aborted(signal) // hangs until the request is given up
      return text('never')
    })
    await Promise.all([a.connect(membership), b.connect(membership)])
    await Promise.all([a.waitFor(2), b.waitFor(2)])
    const ch = a.channel('blocks')
    const inFlight = [0, 1, 2].map(async i => failure(ch.request('b', seq(i), { timeout: 60_000 })))
    await calls.reached(3)
    await b.stop()
    for (const p of inFlight) assert.equal((await p).code, 'connection-lost')
    assert.ok(signals.every(s => s.aborted))
    assert.equal(ch.stats().requests.failed, 3)

    // the same key and port: the member is back
    b = await start()
    b.channel('blocks').handle(data => text(`again ${seqOf(data)}`))
    await b.connect(membership)
    assert.equal(str(await ch.request('b', seq(9), { timeout: 10_000 })), 'again 9')
    assert.equal(ch.stats().requests.succeeded, 1)
  })
})

const RESPONDER = new URL('./fixtures/responder.ts', import.meta.url).pathname

/** A responder node in a child process (fixtures/responder.ts), counting the requests it serves. */
class Child extends ChildNode {
  readonly requests = new Calls()

  constructor (key: PrivateKey, port: number) {
    super(RESPONDER, key, port, (m: any) => { if (m.type === 'request') this.requests.hit() })
  }
}

describe('requests: a member process is killed with requests in flight', () => {
  it('requests written to it fail connection-lost at once; after it restarts on the same key and port, new requests are answered', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const key = await generateKeyPair('Ed25519')
    const port = await freePort()
    let b = new Child(key, port)
    cleanup.push(b)
    const membership = { a: a.getMultiaddrs().map(String), b: await b.addrs }
    await Promise.all([a.connect(membership), b.connect(membership)])
    const ch = a.channel('blocks')
    assert.equal(str(await ch.request('b', text('echo'), { timeout: 10_000 })), 'echo')
    const inFlight = [0, 1, 2].map(async () => failure(ch.request('b', text('hang'), { timeout: 60_000 })))
    await b.requests.reached(4)
    await b.stop()
    for (const p of inFlight) assert.equal((await p).code, 'connection-lost')
    b = new Child(key, port)
    cleanup.push(b)
    await b.addrs
    await b.connect(membership)
    assert.equal(str(await ch.request('b', text('back'), { timeout: 10_000 })), 'back')
    assert.deepEqual([ch.stats().requests.succeeded, ch.stats().requests.failed], [2, 3])
  })
})

describe('requests: timeouts, aborts, remote errors', () => {
  let a: ConsensusNet, b: ConsensusNet
  const hangs = new Calls()
  const hangAborted: Array<Promise<unknown>> = []
  let gate = deferred()
  const late = new Calls()

  it('a responder that hangs: timeout; the CANCEL reaches it (its handler\'s signal aborts)', async () => {
    [a, b] = await mesh(2)
    b.channel('rpc').handle(async (data, { signal }) => {
      const what = str(data)
      if (what === 'hang') {
        hangAborted.push(aborted(signal))
        hangs.hit()
        await aborted(signal)
        throw new Error('stopped')
      }
      if (what === 'late') {
        late.hit()
        await gate.promise // answers only when the test says so, signal or not
        return text('late answer')
      }
      if (what.startsWith('throw:')) throw new Error(what.slice(6))
      return data
    })
    const ch = a.channel('rpc')
    const err = await failure(ch.request('b', text('hang'), { timeout: 200 }))
    assert.equal(err.code, 'timeout')
    await hangs.reached(1)
    await withTimeout(hangAborted[0], 10_000, () => 'the responder\'s handler signal did not abort after the timeout')
    assert.equal(ch.stats().requests.timedOut, 1)
  })

  it('an answer that comes after the timeout is dropped and counted in lateReplies, never delivered', async () => {
    const ch = a.channel('rpc')
    const lateBefore = a.stats().lateReplies
    const before = ch.stats().requests
    gate = deferred()
    const p = ch.request('b', text('late'), { timeout: 200 })
    await late.reached(1)
    assert.equal((await failure(p)).code, 'timeout')
    // answer now, in this same turn: the CANCEL the timeout sent cannot have been read by b yet
    gate.resolve()
    await waitUntil(() => a.stats().lateReplies === lateBefore + 1, 10_000, 'lateReplies')
    const now = ch.stats().requests
    assert.equal(now.succeeded, before.succeeded)
    assert.equal(now.timedOut, before.timedOut + 1)
    assert.equal(b.channel('rpc').stats().requests.served, 1) // b did answer
    // the next request gets its own answer, not the late one
    assert.equal(str(await ch.request('b', text('next'))), 'next')
  })

  it('aborting rejects with the signal\'s reason (not a RequestError), and the responder\'s handler signal fires', async () => {
    const ch = a.channel('rpc')
    const before = ch.stats().requests.aborted
    const n = hangs.n
    const ac = new AbortController()
    const p = ch.request('b', text('hang'), { timeout: 60_000, signal: ac.signal })
    await hangs.reached(n + 1)
    const reason = new Error('the engine moved to the next round')
    ac.abort(reason)
    await assert.rejects(p, e => e === reason)
    await withTimeout(hangAborted[n], 10_000, () => 'the responder\'s handler signal did not abort')
    // no reason given: the signal's own (an AbortError DOMException)
    const ac2 = new AbortController()
    const p2 = ch.request('b', text('hang'), { timeout: 60_000, signal: ac2.signal })
    await hangs.reached(n + 2)
    ac2.abort()
    await assert.rejects(p2, e => e === ac2.signal.reason && (e as Error).name === 'AbortError')
    await withTimeout(hangAborted[n + 1], 10_000, () => 'the responder\'s handler signal did not abort')
    // an already aborted signal: rejected at once, the request is never sent
    const sent = ch.stats().requests.sent
    await assert.rejects(ch.request('b', text('hang'), { signal: AbortSignal.abort(reason) }), e => e === reason)
    assert.equal(ch.stats().requests.sent, sent)
    assert.equal(ch.stats().requests.aborted, before + 2)
    assert.equal(str(await ch.request('b', text('ok'))), 'ok')
    assert.equal(hangs.n, n + 2)
  })

  it('a throwing handler: remote-error with the remote message; 5,000 characters are cut to 1 KiB of UTF-8 on a character boundary', async () => {
    const ch = a.channel('rpc')
    let err = await failure(ch.request('b', text('throw:no block at height 7')))
    assert.deepEqual([err.code, err.message], ['remote-error', 'no block at height 7'])
    // 3-byte characters: 1,024 bytes would split one
    err = await failure(ch.request('b', text('throw:' + '€'.repeat(5000))))
    assert.equal(err.code, 'remote-error')
    assert.equal(err.message, '€'.repeat(341))
    // 4-byte characters (surrogate pairs) after one ASCII byte
    err = await failure(ch.request('b', text('throw:x' + '😀'.repeat(2500))))
    assert.equal(err.message, 'x' + '😀'.repeat(255))
    assert.ok(Buffer.byteLength(err.message) <= 1024 && !err.message.includes('\uFFFD'))
    // ASCII: exactly 1,024
    err = await failure(ch.request('b', text('throw:' + 'y'.repeat(5000))))
    assert.equal(err.message, 'y'.repeat(1024))
  })
})

describe('requests: busy', () => {
  it('the remote\'s maxConcurrentRequests and maxQueuedRequests: one more than both from the same member fails busy at once, counted rejectedBusy; another member is served', async () => {
    const [a, b, c] = await mesh(3)
    const gate = deferred()
    const fromA = new Calls()
    b.channel('blocks', { maxConcurrentRequests: 2, maxQueuedRequests: 0 }).handle(async (data, { from }) => {
      if (from === 'a') {
        fromA.hit()
        await gate.promise
      }
      return text(`${from}:${str(data)}`)
    })
    const ch = a.channel('blocks')
    const held = [ch.request('b', text('1'), { timeout: 60_000 }), ch.request('b', text('2'), { timeout: 60_000 })]
    await fromA.reached(2)
    const err = await failure(ch.request('b', text('3'), { timeout: 60_000 }))
    assert.equal(err.code, 'busy')
    assert.equal(b.channel('blocks').stats().requests.rejectedBusy, 1)
    assert.equal(fromA.n, 2)
    // c has its own allowance, even two at once
    const cc = c.channel('blocks')
    assert.deepEqual((await Promise.all([cc.request('b', text('x')), cc.request('b', text('y'))])).map(str), ['c:x', 'c:y'])
    gate.resolve()
    assert.deepEqual((await Promise.all(held)).map(str), ['a:1', 'a:2'])
    // the slots are free again
    assert.equal(str(await ch.request('b', text('4'))), 'a:4')
    assert.equal(b.channel('blocks').stats().requests.rejectedBusy, 1)
    assert.equal(ch.stats().requests.failed, 1)
  })

  it('requests past maxConcurrentRequests wait their turn, in order, up to maxQueuedRequests; a cancelled one never runs', async () => {
    const [a, b] = await mesh(2)
    const gates = new Map<string, Deferred>()
    const ran: string[] = []
    const calls = new Calls()
    b.channel('blocks', { maxConcurrentRequests: 1, maxQueuedRequests: 2 }).handle(async data => {
      const what = str(data)
      ran.push(what)
      calls.hit()
      const gate = deferred()
      gates.set(what, gate)
      await gate.promise
      return data
    })
    const ch = a.channel('blocks')
    const first = ch.request('b', text('1'), { timeout: 60_000 })
    await calls.reached(1)
    const ac = new AbortController()
    const second = ch.request('b', text('2'), { timeout: 60_000, signal: ac.signal })
    const third = ch.request('b', text('3'), { timeout: 60_000 })
    // two wait: one more is busy, at once
    assert.equal((await failure(ch.request('b', text('4'), { timeout: 60_000 }))).code, 'busy')
    assert.equal(b.channel('blocks').stats().requests.rejectedBusy, 1)
    ac.abort()
    await assert.rejects(second, { name: 'AbortError' })
    // the cancel goes on the stream before this request: once it is answered, b has read the cancel
    b.channel('ping').handle(data => data)
    await a.channel('ping').request('b', text('ping'))
    gates.get('1')!.resolve()
    assert.equal(str(await first), '1')
    await calls.reached(2)
    gates.get('3')!.resolve()
    assert.equal(str(await third), '3')
    assert.deepEqual(ran, ['1', '3'])
  })

  it('a burst of requests written together is served whole: none is busy for arriving at once', async () => {
    const [a, b] = await mesh(2)
    b.channel('echo').handle(data => data) // answers at once
    const ch = a.channel('echo')
    const answers = await Promise.all(Array.from({ length: 1000 }, async (_, i) => ch.request('b', seq(i))))
    assert.deepEqual(answers.map(seqOf), Array.from({ length: 1000 }, (_, i) => i))
    assert.equal(b.channel('echo').stats().requests.rejectedBusy, 0)
    assert.equal(b.channel('echo').stats().requests.served, 1000)
  })

  it('our own maxPendingRequests: one more fails busy locally and is never sent', async () => {
    const [a, b] = await mesh(2)
    const gate = deferred()
    const calls = new Calls()
    b.channel('blocks').handle(async data => {
      calls.hit()
      await gate.promise
      return data
    })
    const ch = a.channel('blocks', { maxPendingRequests: 2 })
    const held = [0, 1].map(i => ch.request('b', seq(i), { timeout: 60_000 }))
    const err = await failure(ch.request('b', seq(2), { timeout: 60_000 }))
    assert.equal(err.code, 'busy')
    await calls.reached(2)
    gate.resolve()
    assert.deepEqual((await Promise.all(held)).map(seqOf), [0, 1])
    assert.equal(calls.n, 2)
    assert.equal(ch.stats().members.b.sent, 2)
    assert.equal(b.channel('blocks').stats().requests.rejectedBusy, 0)
    // the pending count went back down
    assert.equal(seqOf(await ch.request('b', seq(3))), 3)
  })
})

describe('requests: no-handler, too-large, unknown-member', () => {
  let a: ConsensusNet, b: ConsensusNet

  it('no-handler: the channel is open without a handler, the handler was removed, or the channel is not open at the remote (counted unknownChannel)', async () => {
    [a, b] = await mesh(2, { maxMessageSize: 64 * 1024 })
    b.channel('open')
    assert.equal((await failure(a.channel('open').request('b', text('x')))).code, 'no-handler')
    b.channel('removed').handle(data => data)
    assert.equal(str(await a.channel('removed').request('b', text('x'))), 'x')
    b.channel('removed').handle(undefined)
    assert.equal((await failure(a.channel('removed').request('b', text('x')))).code, 'no-handler')
    const unknown = b.stats().unknownChannel
    assert.equal((await failure(a.channel('not-at-b').request('b', text('x')))).code, 'no-handler')
    assert.equal(b.stats().unknownChannel, unknown + 1)
    // and the streams were not reset for it
    assert.equal(a.stats().invalidFrames + b.stats().invalidFrames, 0)
    // a handler set later serves the same channel
    b.channel('open').handle(data => data)
    assert.equal(str(await a.channel('open').request('b', text('now'))), 'now')
  })

  it('too-large: a request over maxMessageSize fails at once and is not sent; an answer over maxResponseSize on the responder\'s or the requester\'s side fails', async () => {
    const max = 64 * 1024
    const big = (n: number): Uint8Array => new Uint8Array(n).fill(7)
    for (const net of [a, b]) {
      net.channel('big', { maxResponseSize: 1000 })
      net.channel('any')
    }
    // responder: 'big' limits what b sends; requester: 'small-at-a' limits what a accepts
    b.channel('big').handle(data => big(seqOf(data)))
    b.channel('any').handle(data => big(seqOf(data)))
    b.channel('small-at-a').handle(data => big(seqOf(data)))
    const small = a.channel('small-at-a', { maxResponseSize: 1000 })
    const sent = a.channel('any').stats().requests.sent
    let err = await failure(a.channel('any').request('b', big(max + 1)))
    assert.equal(err.code, 'too-large')
    assert.equal(a.channel('any').stats().requests.sent, sent)
    assert.equal(a.channel('any').stats().members.b.queued, 0)
    assert.equal((await a.channel('any').request('b', seq(max, max))).byteLength, max) // exactly the limit is fine
    // the responder's maxResponseSize
    assert.equal((await a.channel('big').request('b', seq(1000))).byteLength, 1000)
    err = await failure(a.channel('big').request('b', seq(1001)))
    assert.equal(err.code, 'too-large')
    // the requester's maxResponseSize
    assert.equal((await small.request('b', seq(1000))).byteLength, 1000)
    err = await failure(small.request('b', seq(1001)))
    assert.equal(err.code, 'too-large')
    assert.equal(a.stats().invalidFrames + b.stats().invalidFrames, 0)
  })

  it('unknown-member: a node that is not a member, and a member that leaves while its answer is awaited', async () => {
    const ch = a.channel('any')
    assert.equal((await failure(ch.request('zz', text('x')))).code, 'unknown-member')
    const stream = ch.requestStream('zz', text('x'))
    await assert.rejects((async () => { for await (const part of stream) assert.fail(`a part from nobody: ${part.byteLength} bytes`) })(), { name: 'RequestError', code: 'unknown-member' })
    const started = new Calls()
    const gone = deferred<unknown>()
    b.channel('leave').handle(async (_data, { signal }) => {
      started.hit()
      gone.resolve(await aborted(signal))
      return text('too late')
    })
    const p = failure(a.channel('leave').request('b', text('x'), { timeout: 60_000 }))
    await started.reached(1)
    await a.connect({ a: a.getMultiaddrs().map(String) })
    assert.equal((await p).code, 'unknown-member')
    await withTimeout(gone.promise, 10_000, () => 'the responder\'s handler signal did not abort when its requester went away')
  })

  it('RequestError is exported from the package root, as the issue requires', async () => {
    const root: Record<string, unknown> = await import('../src/index.ts')
    assert.equal(root.RequestError, RequestError)
    assert.equal(typeof root.Channel, 'function')
  })
})

describe('requests: to this node itself', () => {
  it('a request to this node\'s own handler is answered, with from = this node; errors and streams too', async () => {
    const [a] = await mesh(2)
    const ch = a.channel('self')
    ch.handle(async (data, { from }: HandlerContext) => {
      if (str(data) === 'throw') throw new Error('self error')
      if (str(data) === 'stream') return (async function * () { for (let i = 0; i < 40; i++) yield seq(i) })()
      return text(`${from} answers ${str(data)}`)
    })
    assert.equal(str(await ch.request('a', text('hello'))), 'a answers hello')
    const err = await failure(ch.request('a', text('throw')))
    assert.deepEqual([err.code, err.message], ['remote-error', 'self error'])
    const parts: number[] = []
    for await (const part of ch.requestStream('a', text('stream'))) parts.push(seqOf(part))
    assert.deepEqual(parts, Array.from({ length: 40 }, (_, i) => i))
    const r = ch.stats().requests
    assert.deepEqual({ sent: r.sent, succeeded: r.succeeded, failed: r.failed, served: r.served }, { sent: 3, succeeded: 2, failed: 1, served: 2 })
  })
})

describe('requests: counters', () => {
  it('stats().requests on both sides match what happened', async () => {
    const [a, b] = await mesh(2)
    const gate = deferred()
    const held = new Calls()
    const hung = new Calls()
    const finished = new Calls()
    b.channel('count', { maxConcurrentRequests: 2, maxQueuedRequests: 0 }).handle(async (data, { signal }) => {
      const what = str(data)
      if (what === 'throw') throw new Error('no')
      if (what === 'hang') {
        hung.hit()
        try {
          await aborted(signal)
          throw new Error('cancelled')
        } finally {
          finished.hit()
        }
      }
      if (what === 'hold') {
        held.hit()
        await gate.promise
      }
      if (what === 'stream') return (async function * () { yield text('1'); yield text('2'); yield text('3') })()
      return data
    })
    const ch = a.channel('count')
    for (let i = 0; i < 3; i++) await ch.request('b', text('ok'))
    let parts = 0
    for await (const part of ch.requestStream('b', text('stream'))) {
      assert.ok(part instanceof Uint8Array)
      parts++
    }
    assert.equal(parts, 3)
    for (let i = 0; i < 2; i++) assert.equal((await failure(ch.request('b', text('throw')))).code, 'remote-error')
    assert.equal((await failure(ch.request('b', text('hang'), { timeout: 150 }))).code, 'timeout')
    const ac = new AbortController()
    const p = ch.request('b', text('hang'), { signal: ac.signal, timeout: 60_000 })
    await hung.reached(2)
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
    // both hung handlers have given up and freed their places before the busy part
    await finished.reached(2)
    const holds = [ch.request('b', text('hold'), { timeout: 60_000 }), ch.request('b', text('hold'), { timeout: 60_000 })]
    await held.reached(2)
    assert.equal((await failure(ch.request('b', text('ok'), { timeout: 60_000 }))).code, 'busy')
    gate.resolve()
    await Promise.all(holds)
    const mine = ch.stats().requests
    const theirs = b.channel('count').stats().requests
    assert.deepEqual(mine, { sent: 11, succeeded: 6, failed: 3, timedOut: 1, aborted: 1, served: 0, rejectedBusy: 0 })
    assert.deepEqual(theirs, { sent: 0, succeeded: 0, failed: 0, timedOut: 0, aborted: 0, served: 6, rejectedBusy: 1 })
    assert.equal(a.stats().lateReplies, 0)
  })
})

describe('requests: over the memory transport', () => {
  it('two libp2p nodes on the memory transport: an answer, a streamed answer, an error, an abort reaching the responder', async () => {
    const { nodes, nets: [a, b] } = await memoryPair()
    cleanup.push(...nodes)
    const started = new Calls()
    const cancelled = deferred<unknown>()
    b.channel('mem').handle(async (data, { signal }) => {
      const what = str(data)
      if (what === 'stream') return (async function * () { for (let i = 0; i < 100; i++) yield seq(i) })()
      if (what === 'throw') throw new Error('memory says no')
      if (what === 'hang') {
        started.hit()
        cancelled.resolve(await aborted(signal))
        return text('unused')
      }
      return text(`b got ${what}`)
    })
    const ch = a.channel('mem')
    assert.equal(str(await ch.request('b', text('hi'))), 'b got hi')
    const parts: number[] = []
    for await (const part of ch.requestStream('b', text('stream'))) parts.push(seqOf(part))
    assert.deepEqual(parts, Array.from({ length: 100 }, (_, i) => i))
    const err = await failure(ch.request('b', text('throw')))
    assert.deepEqual([err.code, err.message], ['remote-error', 'memory says no'])
    const ac = new AbortController()
    const p = ch.request('b', text('hang'), { signal: ac.signal, timeout: 60_000 })
    await started.reached(1)
    ac.abort(new Error('enough'))
    await assert.rejects(p, { message: 'enough' })
    await withTimeout(cancelled.promise, 10_000, () => 'the abort did not reach the responder')
  })
})
