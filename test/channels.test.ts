/**
 * Channels over real libp2p (TCP on 127.0.0.1, and once on the memory transport): opening and
 * naming, delivery and per-channel stats, self-sends and broadcast, channels the receiver has not
 * opened, priorities under a backlog, latest-wins keys and deadlines across a member's downtime,
 * and held channel messages of a tentative peer.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createConsensusNet, type ConsensusNet } from '../src/index.ts'
import { counters, Log } from './channel-helpers.ts'
import { FAST_RECONNECT, Inbox, freePort, memoryPair, mesh, nextEvent, seq, seqOf, startNodes, startStranger, stopAll, str, text, waitUntil } from './helpers.ts'
import type { Channel } from '../src/channels/channel.ts'

const tagged = (log: Log, tag: string): string[] => log.of(tag).map(e => `${e.from}:${str(e.data)}`)

describe('channels between three nodes over TCP', () => {
  const nets: ConsensusNet[] = []
  before(async () => { await mesh(nets, 3) })
  after(async () => { await stopAll(nets) })

  it('the same name gives the same object; other options for it, or a bad name or priority, throw RangeError (a name that is not a string, TypeError)', () => {
    const [a] = nets
    const votes = a.channel('votes', { priority: 0 })
    assert.equal(a.channel('votes'), votes)
    assert.equal(a.channel('votes', { priority: 0 }), votes)
    assert.equal(votes.name, 'votes')
    assert.equal(votes.priority, 0)
    assert.throws(() => a.channel('votes', { priority: 1 }), RangeError)
    assert.throws(() => a.channel('votes', { sendBufferSize: 3 }), RangeError)
    assert.equal(a.channel('votes'), votes, 'a refused call changed nothing')
    assert.equal(a.channel('defaults').priority, 4)

    assert.throws(() => a.channel(''), RangeError)
    assert.throws(() => a.channel('x'.repeat(65)), RangeError)
    assert.equal(a.channel('x'.repeat(64)).name, 'x'.repeat(64))
    // the bound is bytes of UTF-8, not characters
    assert.equal(a.channel('é'.repeat(32)).name.length, 32) // 64 bytes
    assert.throws(() => a.channel('é'.repeat(33)), RangeError) // 33 characters, 66 bytes
    assert.throws(() => a.channel(42 as unknown as string), TypeError) // a wrong type is a TypeError
    for (const priority of [-1, 8, 1.5, NaN]) assert.throws(() => a.channel(`p${priority}`, { priority }), RangeError, `priority ${priority}`)
    assert.throws(() => a.channel('tiny', { sendBufferSize: 0 }), RangeError)
  })

  it('delivers a channel\'s messages in order with the sender\'s node ID, on that channel only, counted per channel and per member', async () => {
    const [a, b, c] = nets
    const [av, bv, cv] = nets.map(n => n.channel('votes', { priority: 0 }))
    const [, bb] = nets.map(n => n.channel('blocks', { priority: 6 }))
    const log = new Log().listen(bv, 'votes').listen(bb, 'blocks').listen(b, 'default')
    const clog = new Log().listen(cv, 'votes')
    const before = a.stats().members.b.sent
    for (let i = 0; i < 50; i++) av.send('b', text(`v${i}`))
    av.send('c', text('to c'))
    av.send('b', new Uint8Array(0)) // empty messages are legal on channels too
    await log.waitFor('votes', 51)
    await clog.waitFor('votes', 1)
    assert.deepEqual(tagged(log, 'votes'), [...Array.from({ length: 50 }, (_, i) => `a:v${i}`), 'a:'])
    assert.deepEqual(tagged(clog, 'votes'), ['a:to c'])
    assert.equal(log.count('blocks') + log.count('default'), 0)

    const sent = av.stats().members
    assert.deepEqual(counters(sent.b), { queued: 0, sent: 51, dropped: 0, superseded: 0, expired: 0, received: 0 })
    assert.equal(sent.c.sent, 1)
    assert.deepEqual(Object.keys(sent).sort(), ['a', 'b', 'c'])
    assert.equal(bv.stats().members.a.received, 51)
    assert.equal(bv.stats().members.c.received, 0)
    assert.equal(bb.stats().members.a.received, 0)
    assert.equal(nets[0].channel('blocks').stats().members.b.sent, 0)
    // the node's member stats are totals over every channel
    assert.equal(a.stats().members.b.sent - before, 51)
    assert.equal(b.stats().members.a.received >= 51, true)
    assert.equal(c.stats().invalidFrames + b.stats().invalidFrames, 0)
  })

  it('a channel message to this node itself is delivered locally, with its own node ID; broadcast reaches every member but the sender', async () => {
    const [ap, bp, cp] = nets.map(n => n.channel('proposals', { priority: 1 }))
    const logs = [ap, bp, cp].map(ch => new Log().listen(ch, 'p'))
    ap.send('a', text('self'))
    await logs[0].waitFor('p', 1)
    assert.deepEqual(tagged(logs[0], 'p'), ['a:self'])
    assert.equal(ap.stats().members.a.sent, 1)
    assert.equal(ap.stats().members.a.received, 1)

    ap.broadcast(text('all'))
    await logs[1].waitFor('p', 1)
    await logs[2].waitFor('p', 1)
    assert.deepEqual(tagged(logs[1], 'p'), ['a:all'])
    assert.deepEqual(tagged(logs[2], 'p'), ['a:all'])
    // a gets nothing from its broadcast: its next self-send is the next thing it sees
    ap.send('a', text('self 2'))
    await logs[0].waitFor('p', 2)
    assert.deepEqual(tagged(logs[0], 'p'), ['a:self', 'a:self 2'])
    assert.equal(ap.stats().members.a.sent, 2)
  })

  it('frames for a channel the receiver has not opened are dropped and counted, the stream is not reset, and traffic carries on', async () => {
    const [a, b] = nets
    const only = a.channel('only-on-a')
    const bv = b.channel('votes', { priority: 0 })
    const log = new Log().listen(bv, 'votes')
    const inbox = new Inbox(b)
    const invalid = b.stats().invalidFrames
    const unknown = b.stats().unknownChannel
    const reconnects = a.stats().members.b.reconnects
    for (let i = 0; i < 5; i++) only.send('b', seq(i))
    await waitUntil(() => b.stats().unknownChannel === unknown + 5, 20_000, 'b to count 5 frames for an unknown channel')
    assert.deepEqual(counters(only.stats().members.b), { queued: 0, sent: 5, dropped: 0, superseded: 0, expired: 0, received: 0 })
    // later traffic on the same stream still flows, on a known channel and the default one
    a.channel('votes').send('b', text('after'))
    a.send('b', text('default after'))
    await log.waitFor('votes', 1)
    await inbox.waitCount(1)
    assert.deepEqual(tagged(log, 'votes'), ['a:after'])
    assert.equal(str(inbox.messages[0].data), 'default after')
    assert.equal(b.stats().invalidFrames, invalid)
    assert.equal(a.stats().members.b.reconnects, reconnects, 'the stream was reset')
    assert.equal(a.stats().members.b.connected, true)

    // b opens the channel later: from then on it is delivered
    const late = new Log().listen(b.channel('only-on-a'), 'late')
    only.send('b', seq(99))
    await late.waitFor('late', 1)
    assert.deepEqual(late.of('late').map(e => seqOf(e.data)), [99])
    assert.equal(b.stats().unknownChannel, unknown + 5)
  })

  it('a request to a channel the remote has not opened fails with no-handler, without resetting anything', async () => {
    const [a, b] = nets
    const unknown = b.stats().unknownChannel
    await assert.rejects(a.channel('unopened-requests').request('b', text('?'), { timeout: 10_000 }), { name: 'RequestError', code: 'no-handler' })
    assert.equal(b.stats().unknownChannel, unknown + 1)
    assert.equal(b.stats().invalidFrames, 0)
    assert.equal(a.stats().invalidFrames, 0)
  })

  it('a priority-0 message sent while 32 MiB wait on a priority-7 channel to the same member overtakes most of the backlog', async () => {
    const [a, b] = nets
    const SIZE = 256 * 1024
    const N = 128 // 32 MiB
    const aBulk = a.channel('bulk', { priority: 7, sendBufferBytes: 64 * 1024 * 1024 })
    const aUrgent = a.channel('urgent', { priority: 0 })
    const log = new Log().listen(b.channel('bulk', { priority: 7, sendBufferBytes: 64 * 1024 * 1024 }), 'bulk').listen(b.channel('urgent', { priority: 0 }), 'urgent')
    for (let i = 0; i < N; i++) aBulk.send('b', seq(i, SIZE))
    // the backlog is flowing: some of it has arrived
    await log.waitFor('bulk', 1)
    const arrived = log.count('bulk')
    const queued = aBulk.stats().members.b.queued
    aUrgent.send('b', seq(7, 256))
    await log.waitFor('urgent', 1)
    const ahead = log.entries.findIndex(e => e.tag === 'urgent')
    // what was ahead of it: only what had been handed to the stream (1 MiB window + one write), not the lane
    assert.ok(ahead - arrived <= 12, `${ahead - arrived} bulk messages (of ${queued} queued) overtook the urgent one`)
    assert.ok(ahead < N / 2, `urgent arrived after ${ahead} of ${N}`)
    await log.waitFor('bulk', N, 60_000)
    assert.deepEqual(log.of('bulk').map(e => seqOf(e.data)), Array.from({ length: N }, (_, i) => i))
    assert.deepEqual(log.of('urgent').map(e => seqOf(e.data)), [7])
    assert.equal(aBulk.stats().members.b.sent, N)
    assert.equal(aBulk.stats().members.b.dropped, 0)
  })
})

/** Node a with member b down at first (a known key and port, nothing listening yet); `up()` starts b there. */
async function withMemberDown (): Promise<{ a: ConsensusNet, membership: Record<string, string[]>, up: () => Promise<ConsensusNet> }> {
  const privateKey = await generateKeyPair('Ed25519')
  const port = await freePort()
  const [a] = await startNodes(1)
  const membership = { a: a.getMultiaddrs().map(String), b: [`/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(privateKey).toString()}`] }
  await a.connect(membership)
  return { a, membership, up: async () => createConsensusNet({ privateKey, listen: [`/ip4/127.0.0.1/tcp/${port}`], reconnect: FAST_RECONNECT }) }
}

describe('a member that is down, then up', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await stopAll(cleanup) })

  it('latest-wins keys: only the newest message per key arrives, in the place of the first, per member and per channel', async () => {
    const { a, membership, up } = await withMemberDown()
    cleanup.push(a)
    // c is up all along: it gets every version, since each is written before the next is sent
    const [c] = await startNodes(1)
    cleanup.push(c)
    const all = { ...membership, c: c.getMultiaddrs().map(String) }
    await a.connect(all)
    await c.connect(all)
    await a.waitFor(2)
    const votes = a.channel('votes', { priority: 0 })
    const props = a.channel('proposals', { priority: 1 })
    const clog = new Log().listen(c.channel('votes', { priority: 0 }), 'votes')
    let toC = 0
    const both = async (ch: Channel, msg: string, key?: string): Promise<void> => {
      ch.send('b', text(msg), key === undefined ? undefined : { key })
      if (ch === votes) {
        ch.send('c', text(msg), key === undefined ? undefined : { key })
        await clog.waitFor('votes', ++toC)
      }
    }
    await both(votes, 'vote 1/0 v1', 'vote/1/0')
    await both(votes, 'plain 1')
    await both(votes, 'vote 1/1 v1', 'vote/1/1')
    await both(votes, 'vote 1/0 v2', 'vote/1/0')
    await both(props, 'proposal v1', 'vote/1/0') // same key, other channel: independent
    await both(votes, 'plain 2')
    await both(votes, 'vote 1/0 v3', 'vote/1/0')
    await both(votes, 'vote 1/1 v2', 'vote/1/1')
    await both(props, 'proposal v2', 'vote/1/0')

    assert.deepEqual(counters(votes.stats().members.b), { queued: 4, sent: 0, dropped: 0, superseded: 3, expired: 0, received: 0 })
    assert.deepEqual(counters(props.stats().members.b), { queued: 1, sent: 0, dropped: 0, superseded: 1, expired: 0, received: 0 })
    assert.equal(votes.stats().members.c.superseded, 0)
    assert.equal(clog.count('votes'), 7)

    const b = await up()
    cleanup.push(b)
    const log = new Log().listen(b.channel('votes', { priority: 0 }), 'votes').listen(b.channel('proposals', { priority: 1 }), 'proposals')
    await b.connect(all)
    await log.waitFor('votes', 4)
    await log.waitFor('proposals', 1)
    assert.deepEqual(tagged(log, 'votes'), ['a:vote 1/0 v3', 'a:plain 1', 'a:vote 1/1 v2', 'a:plain 2'])
    assert.deepEqual(tagged(log, 'proposals'), ['a:proposal v2'])
    // nothing else follows: a last message arrives right after them
    votes.send('b', text('last'))
    await log.waitFor('votes', 5)
    assert.equal(log.entries.length, 6)
    assert.deepEqual(counters(votes.stats().members.b), { queued: 0, sent: 5, dropped: 0, superseded: 3, expired: 0, received: 0 })
  })

  it('deadlines: a message still queued at its deadline is never written and is counted expired; the rest arrive in order', async () => {
    const { a, membership, up } = await withMemberDown()
    cleanup.push(a)
    const votes = a.channel('votes', { priority: 0 })
    const soon = Date.now() + 100
    votes.send('b', text('m0'))
    votes.send('b', text('m1 expires'), { deadline: soon })
    votes.send('b', text('m2'), { deadline: Date.now() + 600_000 })
    votes.send('b', text('m3 expires'), { deadline: soon, key: 'k' })
    votes.send('b', text('m4'))
    // a deadline is a time: this wait is what is being tested, not a stand-in for an event
    await new Promise(resolve => setTimeout(resolve, Math.max(0, soon - Date.now()) + 20))

    const b = await up()
    cleanup.push(b)
    const log = new Log().listen(b.channel('votes', { priority: 0 }), 'votes')
    await b.connect(membership)
    await log.waitFor('votes', 3)
    votes.send('b', text('m5'))
    await log.waitFor('votes', 4)
    assert.deepEqual(tagged(log, 'votes'), ['a:m0', 'a:m2', 'a:m4', 'a:m5'])
    assert.deepEqual(counters(votes.stats().members.b), { queued: 0, sent: 4, dropped: 0, superseded: 0, expired: 2, received: 0 })
  })

  it('a member that leaves and comes back counts from zero on a channel: what it sent while away, then live ones', async () => {
    const { a, c, all } = await startStranger()
    cleanup.push(a, c)
    const log = new Log().listen(a.channel('votes', { priority: 0 }), 'votes')
    const cv = c.channel('votes', { priority: 0 })
    await a.connect(all)
    for (let i = 0; i < 3; i++) cv.send('a', seq(i))
    await log.waitFor('votes', 3)
    assert.equal(a.channel('votes').stats().members.c.received, 3)

    // c leaves a's membership: a resets c's stream, c redials, and what it sends now is held
    const aLost = nextEvent<{ node: string }>(c, 'peer:down', e => e.node === 'a')
    await a.connect({ a: all.a })
    await aLost
    assert.equal(a.channel('votes').stats().members.c, undefined)
    cv.send('a', seq(3))
    await waitUntil(() => a.stats().tentative.buffered === 1, 20_000, 'a to hold c\'s message')
    await a.connect(all)
    cv.send('a', seq(4))
    await log.waitFor('votes', 5)
    assert.deepEqual(log.of('votes').map(e => seqOf(e.data)), [0, 1, 2, 3, 4])
    assert.equal(a.channel('votes').stats().members.c.received, 2)
  })

  it('a tentative peer\'s channel messages are held, and delivered in order on promotion before live ones', async () => {
    const { a, c, all } = await startStranger()
    cleanup.push(a, c)
    const log = new Log().listen(a.channel('votes', { priority: 0 }), 'votes').listen(a.channel('blocks', { priority: 6 }), 'blocks').listen(a, 'default')
    const cv = c.channel('votes', { priority: 0 })
    const cb = c.channel('blocks', { priority: 6 })
    for (let i = 0; i < 5; i++) {
      cv.send('a', seq(i))
      cb.send('a', seq(i))
      c.send('a', seq(i))
    }
    await waitUntil(() => a.stats().tentative.buffered === 15, 20_000, 'a to hold 15 messages')
    assert.equal(log.entries.length, 0)

    await a.connect(all)
    // held messages are emitted during connect(), before any live one
    assert.equal(log.entries.length, 15)
    for (const tag of ['votes', 'blocks', 'default']) {
      assert.deepEqual(log.of(tag).map(e => `${e.from}:${seqOf(e.data)}`), [0, 1, 2, 3, 4].map(i => `c:${i}`), tag)
    }
    cv.send('a', seq(5))
    await log.waitFor('votes', 6)
    assert.deepEqual(log.of('votes').map(e => seqOf(e.data)), [0, 1, 2, 3, 4, 5])
    assert.equal(a.channel('votes').stats().members.c.received, 6)
    assert.equal(a.stats().members.c.received, 16)
    assert.equal(a.stats().unknownChannel, 0)
  })
})

describe('channels on the memory transport', () => {
  it('two nodes exchange channel messages both ways by priority, and broadcast', async () => {
    const { nodes, nets: [a, b] } = await memoryPair()
    try {
      const logs = [a, b].map(n => new Log().listen(n.channel('votes', { priority: 0 }), 'votes').listen(n.channel('bulk', { priority: 7 }), 'bulk'))
      // one burst: the urgent channel goes first in the write
      for (let i = 0; i < 3; i++) a.channel('bulk').send('b', seq(i))
      for (let i = 0; i < 3; i++) a.channel('votes').send('b', seq(i))
      await logs[1].wait(() => logs[1].entries.length >= 6)
      assert.deepEqual(logs[1].entries.map(e => `${e.from}:${e.tag}:${seqOf(e.data)}`), ['a:votes:0', 'a:votes:1', 'a:votes:2', 'a:bulk:0', 'a:bulk:1', 'a:bulk:2'])
      b.channel('votes').broadcast(text('back'))
      await logs[0].waitFor('votes', 1)
      assert.deepEqual(tagged(logs[0], 'votes'), ['b:back'])
    } finally {
      await stopAll(nodes)
    }
  })
})

describe('the package root', () => {
  it('exports what a channel user needs: RequestError and CHANNEL_PROTOCOL', async () => {
    const root: Record<string, unknown> = await import('../src/index.ts')
    assert.equal(typeof root.RequestError, 'function', 'RequestError is not exported from the package root')
    assert.equal(root.CHANNEL_PROTOCOL, '/consensus-net/1.1.0', 'CHANNEL_PROTOCOL is not exported from the package root')
  })
})
