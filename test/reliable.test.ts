/**
 * Reliable channels (issue 8, part 1) over real libp2p nodes (TCP on 127.0.0.1), with a userspace
 * TCP proxy (fixtures/tcp-proxy.ts) resetting connections or holding bytes: exactly-once and in
 * order across connection losses, drops counted when the lane overflows, sender and receiver
 * restarts (new sessions), messages held from a tentative peer, and the loopback.
 *
 * What a test routes through proxies is said where it does so. "Through both proxies" means
 * `proxiedPair`: a reaches b only at a proxy to b, and b reaches a only at a proxy to a, so every
 * connection between the two passes through one of them, whoever dialled it and whichever
 * connection libp2p picks for a stream.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createConsensusNet, type ConsensusNet, type CreateConsensusNetInit } from '../src/index.ts'
import { Log } from './channel-helpers.ts'
import { FAST_RECONNECT, freePort, nextEvent, seq, seqOf, startNodes, stopAll, waitUntil } from './helpers.ts'
import { portOf, proxiedPair, type ProxiedPair } from './fixtures/proxied-pair.ts'
import { TcpProxy } from './fixtures/tcp-proxy.ts'
import { createTestNetwork } from '../src/testing/index.ts'
import type { PrivateKey } from '@libp2p/interface'

/** Redial within ~50 ms of a reset, so that many resets fit in a short test. */
const QUICK_REDIAL: CreateConsensusNetInit = { reconnect: { initialDelay: 10, maxDelay: 50, factor: 2, jitter: 0.2 } }

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

const delay = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
/** One turn of the event loop: a flush scheduled by `send()` has written to the stream. */
const turn = async (): Promise<void> => new Promise(resolve => setImmediate(resolve))

/**
 * Blackholes (holds) the bytes `writer` writes, on every connection of the pair: a writes
 * forward on the connections it dialled (through toB) and backward on those b dialled (toA).
 */
function holdBytesOf (pair: ProxiedPair, writer: 'a' | 'b'): void {
  const [dialled, accepted] = writer === 'a' ? [pair.toB, pair.toA] : [pair.toA, pair.toB]
  dialled.blackhole('forward', 'hold')
  accepted.blackhole('backward', 'hold')
}

/** Resets every connection of the pair and lets later ones pass both ways; returns how many were reset. */
function cutAndHeal (pair: ProxiedPair): number {
  const n = pair.toA.cut() + pair.toB.cut()
  pair.toA.heal()
  pair.toB.heal()
  return n
}

/**
 * `cutAndHeal`, resolving once a has seen its stream to b close (if it had one): the next
 * `upTo(a, 'b')` then waits for the new stream, not the dying one.
 */
async function cutAndAwaitDown (pair: ProxiedPair): Promise<number> {
  const down = pair.a.stats().members.b.connected ? nextEvent(pair.a, 'peer:down', (d: { node: string }) => d.node === 'b') : undefined
  const n = cutAndHeal(pair)
  await down
  return n
}

/** Resolves once `net`'s outgoing stream to `node` is open. */
async function upTo (net: ConsensusNet, node: string): Promise<void> {
  if (net.stats().members[node].connected) return
  await nextEvent(net, 'peer:up', (d: { node: string }) => d.node === node)
}

const numbers = (log: Log, tag: string): number[] => log.of(tag).map(e => seqOf(e.data))
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** The first place where `got` is not strictly increasing (a duplicate or a reordering), or -1. */
function firstDisorder (got: number[]): number {
  for (let i = 1; i < got.length; i++) if (got[i] <= got[i - 1]) return i
  return -1
}

/** Asserts `got` is exactly `expected` (compared without printing 20,000 numbers). */
function assertExactly (got: number[], expected: number[], what: string): void {
  const i = got.findIndex((n, k) => n !== expected[k])
  assert.ok(i < 0 && got.length === expected.length,
    `${what}: ${got.length} delivered of ${expected.length}; first difference at index ${i}: got ${got[i]}, expected ${expected[i]}` +
    (i > 0 ? ` (after ${got[i - 1]})` : ''))
}

async function startAt (key: PrivateKey, port: number): Promise<ConsensusNet> {
  const net = await createConsensusNet({ privateKey: key, listen: [`/ip4/127.0.0.1/tcp/${port}`], reconnect: FAST_RECONNECT })
  cleanup.push(net)
  return net
}

describe('reliable channels across connection resets', () => {
  it('deliver 20,000 messages exactly once and in order across >= 10 resets, replaying what was unacknowledged; an unreliable channel alongside never duplicates or reorders', async (t) => {
    // Routing: through both proxies; every round ends with a cut of every connection between a and b.
    const pair = await proxiedPair(QUICK_REDIAL, cleanup)
    const { a, b } = pair
    const N = 20_000
    const ROUNDS = 12
    // large enough that nothing is ever dropped: every message must arrive
    const ra = a.channel('r', { reliable: true, sendBufferSize: 2 * N })
    const ua = a.channel('u', { sendBufferSize: 2 * N })
    const log = new Log().listen(b.channel('r', { reliable: true }), 'r').listen(b.channel('u'), 'u')

    let next = 1
    const send = (k: number): void => {
      for (const end = Math.min(N, next + k - 1); next <= end; next++) {
        ra.send('b', seq(next))
        ua.send('b', seq(next))
      }
    }
    const perRound = Math.ceil(N / ROUNDS)
    const perBatch = Math.ceil(perRound / 12)
    let effectiveCuts = 0
    let heldAckRounds = 0
    const unackedAtCut: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      await upTo(a, 'b')
      const end = Math.min(N, next + perRound - 1)
      // ~12 batches 10 ms apart: traffic is flowing when the cut comes
      for (let batch = 0; batch < 20; batch++) {
        if (next > end) break // `send` advances next
        if (round % 4 === 2 && end - next < perBatch) {
          // the round's last batch with b's acknowledgements held: b delivers it, a keeps it
          // unacknowledged, and the cut discards the ACKs, so a's replay brings b messages it
          // has delivered already (they must be suppressed, not delivered twice)
          holdBytesOf(pair, 'b')
          send(end - next + 1)
          await log.waitFor('r', end, 20_000)
          heldAckRounds++
          break
        }
        send(Math.min(perBatch, end - next + 1))
        if (next <= end) await delay(10)
      }
      send(end - next + 1)
      // the last batch was just written and is unacknowledged when the cut comes; in even rounds
      // the cut follows the write at once (the proxy has not read it: lost in flight, only the
      // replay brings it), in odd ones a turn later (it may reach b, whose ACK is then lost)
      if (round % 2 === 0) await Promise.resolve()
      else await turn()
      unackedAtCut.push(ra.stats().members.b.unacked)
      if (await cutAndAwaitDown(pair) > 0) effectiveCuts++
    }
    assert.equal(next, N + 1)
    await log.waitFor('r', N, 30_000)
    await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have every message acknowledged')

    const sent = ra.stats().members.b
    const received = b.channel('r').stats().members.a
    t.diagnostic(`cuts ${effectiveCuts} (${pair.toA.cuts + pair.toB.cuts} connections), unacked at each cut ${unackedAtCut.join(' ')}, ` +
      `retransmitted ${sent.retransmitted}, duplicatesSuppressed ${received.duplicatesSuppressed}, unreliable delivered ${log.count('u')} of ${N}`)
    assert.ok(effectiveCuts >= 10, `only ${effectiveCuts} cuts reset a connection`)
    assert.ok(a.stats().members.b.reconnects >= 10, `a reopened its stream ${a.stats().members.b.reconnects} times`)
    assert.equal(heldAckRounds, 3)

    // exactly once, in order; nothing dropped, so everything
    assertExactly(numbers(log, 'r'), range(1, N), 'reliable channel')
    assert.equal(sent.dropped, 0)
    assert.equal(sent.queued, 0)
    assert.equal(sent.unacked, 0)
    assert.ok(unackedAtCut.some(n => n > 0), 'no cut found anything in flight')
    assert.ok(sent.retransmitted > 0, 'nothing was written again after a reconnect')
    // every message sent once, plus the replays
    assert.equal(sent.sent, N + sent.retransmitted)
    assert.equal(received.received, N)
    // the three held batches (at least) arrived twice: the second copies were counted, not delivered
    assert.ok(received.duplicatesSuppressed >= 3, `duplicatesSuppressed ${received.duplicatesSuppressed}`)
    // and some replays brought messages b had never received (lost in flight by a cut)
    assert.ok(received.duplicatesSuppressed < sent.retransmitted, `every one of ${sent.retransmitted} replays was a duplicate`)

    // the unreliable channel: losses allowed, but never twice and never out of order
    const u = numbers(log, 'u')
    assert.equal(firstDisorder(u), -1, `unreliable channel out of order or duplicated at index ${firstDisorder(u)}`)
    assert.ok(u.length <= N && u.length > 0)
    assert.equal(b.channel('u').stats().members.a.received, u.length)
    assert.equal(b.channel('u').stats().members.a.duplicatesSuppressed, 0)
  })

  it('with a small sendBufferSize, messages that overflow it are counted dropped, and the rest arrive once and in order: delivered + dropped = sent', async (t) => {
    // Routing: through both proxies; each round cuts every connection and sends a burst into the outage.
    const pair = await proxiedPair(QUICK_REDIAL, cleanup)
    const { a, b } = pair
    const ROUNDS = 10
    const BURST = 500
    const N = ROUNDS * 2 * BURST
    // 256 messages, unacknowledged ones included: a burst of 500 into an outage must overflow it
    const ra = a.channel('r', { reliable: true, sendBufferSize: 256 })
    const log = new Log().listen(b.channel('r', { reliable: true }), 'r')
    let next = 1
    const send = (k: number): void => {
      for (let i = 0; i < k; i++) ra.send('b', seq(next++))
    }
    let effectiveCuts = 0
    for (let round = 0; round < ROUNDS; round++) {
      await upTo(a, 'b')
      for (let i = 0; i < 10; i++) {
        send(BURST / 10)
        await delay(5)
      }
      await turn()
      if (cutAndHeal(pair) > 0) effectiveCuts++
      send(BURST) // the stream is gone (or going): queued, and the oldest never-written ones dropped
    }
    assert.equal(next, N + 1)
    const dropped = ra.stats().members.b.dropped // final: only a full lane drops, and nothing is sent any more
    await log.waitFor('r', N - dropped, 30_000)
    await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have every message acknowledged')

    const got = numbers(log, 'r')
    const sent = ra.stats().members.b
    const received = b.channel('r').stats().members.a
    t.diagnostic(`cuts ${effectiveCuts}, dropped ${dropped}, delivered ${got.length}, retransmitted ${sent.retransmitted}, duplicatesSuppressed ${received.duplicatesSuppressed}`)
    assert.ok(effectiveCuts >= 8, `only ${effectiveCuts} cuts reset a connection`)
    assert.ok(dropped > 0, 'the lane never overflowed')
    assert.equal(firstDisorder(got), -1, `duplicated or out of order at index ${firstDisorder(got)}`)
    // nothing lost uncounted
    assert.equal(got.length + dropped, N)
    assert.equal(sent.dropped, dropped) // nothing more dropped while the last ones were written
    assert.equal(received.received, got.length)
    assert.equal(sent.queued, 0)
    assert.equal(sent.sent, got.length + sent.retransmitted)
    // the last burst was queued after everything else, with nothing behind it: its newest 256 - (unacked then) at least arrive
    assert.equal(got[got.length - 1], N)
  })

  it('while its unacknowledged messages fill the lane, a reliable channel writes nothing more and drops the oldest never-written message; once acknowledged, the rest flows', async () => {
    // Routing: through both proxies; b's bytes (its ACKs) are held, then discarded by a cut.
    // (A regression test: a lane full of unacknowledged messages with one more queued used to
    // keep the writer looping forever, blocking the event loop.)
    const pair = await proxiedPair(QUICK_REDIAL, cleanup)
    const { a, b } = pair
    const ra = a.channel('r', { reliable: true, sendBufferSize: 10 })
    const log = new Log().listen(b.channel('r', { reliable: true }), 'r')
    holdBytesOf(pair, 'b')
    for (let i = 1; i <= 10; i++) ra.send('b', seq(i))
    await log.waitFor('r', 10)
    for (let i = 11; i <= 25; i++) ra.send('b', seq(i)) // each pushes out the one before it: 11..24 dropped
    await delay(50) // timers still run: the writer waits for acknowledgements instead of spinning
    let s = ra.stats().members.b
    assert.deepEqual([s.unacked, s.queued, s.dropped, s.sent], [10, 1, 14, 10])

    await cutAndAwaitDown(pair) // the held ACKs are discarded: a replays 1..10, b suppresses them
    await log.waitFor('r', 11)
    await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have everything acknowledged')
    s = ra.stats().members.b
    assertExactly(numbers(log, 'r'), [...range(1, 10), 25], 'delivered')
    assert.equal(numbers(log, 'r').length + s.dropped, 25)
    assert.equal(s.retransmitted, 10)
    assert.equal(b.channel('r').stats().members.a.duplicatesSuppressed, 10)
  })
})

describe('reliable channels across restarts', () => {
  it('a restarted sender starts a new session: its first messages, numbered from 1 again, are delivered, not suppressed as duplicates', async () => {
    // Routing: direct (no proxy). a stops and a new process-lifetime of a starts on the same key and port.
    const key = await generateKeyPair('Ed25519')
    const port = await freePort()
    const a1 = await startAt(key, port)
    const [b] = await startNodes(1)
    cleanup.push(b)
    const membership = { a: a1.getMultiaddrs().map(String), b: b.getMultiaddrs().map(String) }
    const log = new Log().listen(b.channel('r', { reliable: true }), 'r')
    const r1 = a1.channel('r', { reliable: true })
    await Promise.all([a1.connect(membership), b.connect(membership)])
    for (let i = 1; i <= 100; i++) r1.send('b', seq(i))
    await log.waitFor('r', 100)
    await waitUntil(() => r1.stats().members.b.unacked === 0, 20_000, 'a1 to have every message acknowledged')

    await a1.stop()
    const a2 = await startAt(key, port)
    const r2 = a2.channel('r', { reliable: true })
    await a2.connect(membership)
    // numbered 1..5 in a2's session: at or below the 100 b delivered from a1's
    for (let i = 1; i <= 5; i++) r2.send('b', seq(1000 + i))
    await log.waitFor('r', 105)
    await waitUntil(() => r2.stats().members.b.unacked === 0, 20_000, 'a2 to have every message acknowledged')

    assertExactly(numbers(log, 'r'), [...range(1, 100), ...range(1001, 1005)], 'across the sender restart')
    const received = b.channel('r').stats().members.a
    assert.equal(received.duplicatesSuppressed, 0)
    assert.equal(received.received, 105)
    assert.deepEqual([r2.stats().members.b.sent, r2.stats().members.b.retransmitted, r2.stats().members.b.dropped], [5, 0, 0])
  })

  it('a restarted receiver gets every message its predecessor left unacknowledged, then the rest: nothing is lost uncounted from the sender\'s side', async (t) => {
    // Routing: through both proxies (toB keeps forwarding to b's port, where the new b listens),
    // so that b1's acknowledgements can be held and then discarded by a cut.
    //
    // What is asserted, with the messages numbered 1..100 by a:
    // - b1 delivers 1..50 (acknowledged), then 51..80 whose ACKs never reach a (held, then cut);
    // - b1 stops; a sends 81..100 while b is down; b2 starts on the same key and port;
    // - b2 delivers exactly 51..100, once each, in order: the 30 messages b1 delivered but never
    //   acknowledged (a cannot know b1 delivered them), then those sent after;
    // - at a: nothing dropped, nothing left unacknowledged, 1..100 all delivered to b1 or b2.
    //   Exactly-once holds per pair of process lifetimes: 51..80 reached both b1 and b2.
    const key = await generateKeyPair('Ed25519')
    const port = await freePort()
    const b1 = await startAt(key, port)
    const [a] = await startNodes(1, { reconnect: FAST_RECONNECT })
    cleanup.push(a)
    const toA = await TcpProxy.start(portOf(a))
    const toB = await TcpProxy.start(port)
    cleanup.push(toA, toB)
    const pair: ProxiedPair = { a, b: b1, toA, toB, membership: { a: toA.multiaddr(a.peerId.toString()), b: toB.multiaddr(b1.peerId.toString()) } }
    const ra = a.channel('r', { reliable: true })
    const log1 = new Log().listen(b1.channel('r', { reliable: true }), 'r')
    await Promise.all([a.connect(pair.membership), b1.connect(pair.membership)])
    await a.waitFor(2)

    for (let i = 1; i <= 50; i++) ra.send('b', seq(i))
    await log1.waitFor('r', 50)
    await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have 1..50 acknowledged')
    holdBytesOf(pair, 'b')
    for (let i = 51; i <= 80; i++) ra.send('b', seq(i))
    await log1.waitFor('r', 80)
    assert.equal(ra.stats().members.b.unacked, 30) // delivered by b1, acknowledgements held

    const down = nextEvent(a, 'peer:down', (d: { node: string }) => d.node === 'b')
    const stopped = b1.stop()
    cutAndHeal(pair) // b1's held ACKs (and resets) are discarded with the connections
    await Promise.all([stopped, down])
    for (let i = 81; i <= 100; i++) ra.send('b', seq(i)) // b is down: queued
    const b2 = await startAt(key, port)
    const log2 = new Log().listen(b2.channel('r', { reliable: true }), 'r')
    await b2.connect(pair.membership)
    await log2.waitFor('r', 50)
    await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have everything acknowledged by b2')

    const sent = ra.stats().members.b
    t.diagnostic(`retransmitted ${sent.retransmitted}, b2 duplicatesSuppressed ${b2.channel('r').stats().members.a.duplicatesSuppressed}`)
    assertExactly(numbers(log1, 'r'), range(1, 80), 'b1')
    assertExactly(numbers(log2, 'r'), range(51, 100), 'b2')
    assert.equal(sent.dropped, 0)
    assert.equal(sent.unacked, 0)
    assert.ok(sent.retransmitted >= 30, `retransmitted ${sent.retransmitted}`)
    assert.equal(b2.channel('r').stats().members.a.duplicatesSuppressed, 0)
    assert.equal(b2.channel('r').stats().members.a.received, 50)
  })
})

describe('reliable channels, tentative peers and the loopback', () => {
  it('messages from a tentative peer are held unacknowledged (a replay after a reset held too), then delivered once and in order on promotion, and acknowledged', async (t) => {
    // Routing: c reaches a through one proxy (toA); a does not know c, so it dials nobody and c's
    // connection is the only one. A cut while held makes c replay into a's tentative buffer.
    const [a, c] = await startNodes(2, QUICK_REDIAL)
    cleanup.push(a, c)
    const toA = await TcpProxy.start(portOf(a))
    cleanup.push(toA)
    const all = { a: a.getMultiaddrs().map(String), c: c.getMultiaddrs().map(String) }
    await a.connect({ a: all.a })
    await c.connect({ a: toA.multiaddr(a.peerId.toString()), c: all.c })
    const log = new Log().listen(a.channel('r', { reliable: true }), 'r')
    const rc = c.channel('r', { reliable: true })
    await upTo(c, 'a')
    for (let i = 1; i <= 20; i++) rc.send('a', seq(i))
    await waitUntil(() => a.stats().tentative.buffered === 20, 20_000, 'a to hold 20 messages')
    assert.equal(rc.stats().members.a.unacked, 20) // held, so not acknowledged

    const down = nextEvent(c, 'peer:down', (d: { node: string }) => d.node === 'a')
    assert.ok(toA.cut() > 0)
    await down
    await upTo(c, 'a') // c's new stream replays 1..20: a holds both copies
    await waitUntil(() => a.stats().tentative.buffered === 40, 20_000, 'a to hold the replayed copies too')
    assert.equal(rc.stats().members.a.retransmitted, 20)

    await a.connect({ a: all.a, c: all.c }) // promotion: held messages are delivered during connect()
    assertExactly(numbers(log, 'r'), range(1, 20), 'held messages on promotion')
    assert.equal(a.channel('r').stats().members.c.duplicatesSuppressed, 20)
    await waitUntil(() => rc.stats().members.a.unacked === 0, 20_000, 'c to have the held messages acknowledged')

    for (let i = 21; i <= 30; i++) rc.send('a', seq(i))
    await log.waitFor('r', 30)
    await waitUntil(() => rc.stats().members.a.unacked === 0, 20_000, 'c to have every message acknowledged')
    assertExactly(numbers(log, 'r'), range(1, 30), 'held, then live')
    const received = a.channel('r').stats().members.c
    t.diagnostic(`tentative ${JSON.stringify(a.stats().tentative)}`)
    assert.equal(received.received, 30)
    assert.equal(received.duplicatesSuppressed, 20)
    assert.equal(a.stats().tentative.dropped, 0)
    assert.equal(rc.stats().members.a.dropped, 0)
  })

  it('a reliable channel to this node itself delivers in order and leaves nothing unacknowledged', async () => {
    // Routing: none; the loopback.
    const [a] = await startNodes(1)
    cleanup.push(a)
    await a.connect({ a: a.getMultiaddrs().map(String) })
    const r = a.channel('r', { reliable: true })
    const log = new Log().listen(r, 'r')
    for (let i = 1; i <= 100; i++) r.send('a', seq(i))
    await log.waitFor('r', 100)
    assertExactly(numbers(log, 'r'), range(1, 100), 'loopback')
    const s = r.stats().members.a
    assert.deepEqual({ sent: s.sent, received: s.received, unacked: s.unacked, queued: s.queued, dropped: s.dropped, retransmitted: s.retransmitted, duplicatesSuppressed: s.duplicatesSuppressed },
      { sent: 100, received: 100, unacked: 0, queued: 0, dropped: 0, retransmitted: 0, duplicatesSuppressed: 0 })
  })
})

describe('reliable channel: held messages lost before promotion', () => {
  it('a peer whose held reliable messages overflowed is made to send them again: all delivered once, in order, none lost uncounted', async () => {
    // on the testing network: n1 has no membership yet, so it holds n0's stream tentatively and
    // its buffer (16) keeps only the newest of 40; delivering those would acknowledge the rest
    const tn = await createTestNetwork({ nodes: 2, seed: 7, init: { reconnect: FAST_RECONNECT, tentativeBufferSize: 16 } })
    try {
      const r0 = tn.net('n0').channel('rel', { reliable: true })
      const r1 = tn.net('n1').channel('rel', { reliable: true })
      const got: number[] = []
      r1.addEventListener('message', e => { got.push(e.detail.data[0]) })
      await tn.net('n0').connect(tn.membership)
      for (let i = 1; i <= 40; i++) r0.send('n1', Uint8Array.of(i))
      await waitUntil(() => tn.net('n1').stats().tentative.dropped >= 24, 20_000, 'n1 to hold n0\'s messages, overflowing')
      await tn.net('n1').connect(tn.membership)
      await waitUntil(() => got.length >= 40, 20_000, 'all 40 delivered')
      await waitUntil(() => r0.stats().members.n1.unacked === 0, 20_000, 'all acknowledged')
      assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i + 1))
      assert.equal(r0.stats().members.n1.dropped, 0)
    } finally {
      await tn.stop()
    }
  })
})

describe('reliable channel: a promoted peer\'s session', () => {
  it('after promotion the writer\'s session is known: a replay after a reconnect is suppressed, not delivered twice', async () => {
    const tn = await createTestNetwork({ nodes: 2, seed: 11, init: { reconnect: FAST_RECONNECT } })
    try {
      const got: number[] = []
      const r1 = tn.net('n1').channel('rel', { reliable: true })
      r1.addEventListener('message', e => { got.push(e.detail.data[0]) })
      const r0 = tn.net('n0').channel('rel', { reliable: true })
      // n1 knows nobody yet: n0's stream, and its HELLO, are held; no reliable message is
      await tn.net('n0').connect(tn.membership)
      await tn.net('n0').waitFor(1)
      await waitUntil(() => tn.net('n1').stats().tentative.receivers === 1, 20_000, 'n0 held')
      await tn.net('n1').connect(tn.membership)
      await Promise.all([tn.net('n0').waitFor(2), tn.net('n1').waitFor(2)])
      // delivered, but the acknowledgements are held: n0 keeps them, and replays them after the cut
      tn.blackhole('n0', 'n1', 'n1')
      for (let i = 1; i <= 5; i++) r0.send('n1', Uint8Array.of(i))
      await waitUntil(() => got.length === 5, 20_000, 'five delivered')
      assert.equal(r0.stats().members.n1.unacked, 5)
      tn.heal('n0', 'n1')
      tn.cut('n0', 'n1')
      await waitUntil(() => r0.stats().members.n1.unacked === 0, 20_000, 'acknowledged after the reconnect')
      r0.send('n1', Uint8Array.of(6))
      await waitUntil(() => got.length >= 6, 20_000, 'the sixth')
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6])
      assert.ok(r1.stats().members.n0.duplicatesSuppressed >= 1, 'the replay was not seen')
    } finally {
      await tn.stop()
    }
  })
})
