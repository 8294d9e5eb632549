/** Inbound streams: one live stream per peer, held messages that outlive their stream, byte bounds. */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { PROTOCOL, type ConsensusNet } from '../src/index.ts'
import { encodeFrame } from '../src/wire/encoder.ts'
import { Inbox, membershipOf, plainNode, seq, seqOf, startNodes, stopAll, waitUntil, withTimeout } from './helpers.ts'
import type { Libp2p } from 'libp2p'

describe('Receivers', () => {
  const cleanup: Array<ConsensusNet | Libp2p> = []
  after(async () => { await stopAll(cleanup) })

  it('a newer stream from a member replaces its live older one: the older is reset and delivers no more', async () => {
    const [b] = await startNodes(1)
    const x = await plainNode()
    cleanup.push(b, x)
    await b.connect({ ...membershipOf([b], ['b']), x: x.getMultiaddrs().map(String) })
    const inbox = new Inbox(b)
    const bAddr = multiaddr(b.getMultiaddrs()[0])
    const s1 = await x.dialProtocol(bAddr, PROTOCOL)
    s1.send(encodeFrame(seq(1)))
    await inbox.waitCount(1)
    const s1Closed = new Promise(resolve => { s1.addEventListener('close', resolve, { once: true }) })
    const s2 = await x.dialProtocol(bAddr, PROTOCOL)
    s2.send(encodeFrame(seq(2)))
    await inbox.waitCount(2)
    await withTimeout(s1Closed, 20_000, () => 'older stream not reset')
    assert.equal(s1.status, 'reset')
    s2.send(encodeFrame(seq(3)))
    await inbox.waitCount(3)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), ['x:1', 'x:2', 'x:3'])
  })

  it('messages held from a tentative peer survive the loss of its stream and arrive, in order, on promotion', async () => {
    const [a] = await startNodes(1)
    const x = await plainNode()
    cleanup.push(a, x)
    await a.connect(membershipOf([a]))
    const aAddr = multiaddr(a.getMultiaddrs()[0])
    const s1 = await x.dialProtocol(aAddr, PROTOCOL)
    s1.send(encodeFrame(seq(1)))
    s1.send(encodeFrame(seq(2)))
    await waitUntil(() => a.stats().tentative.buffered === 2, 20_000, 'a to hold 2')
    s1.abort(new Error('x goes away'))
    const s2 = await x.dialProtocol(aAddr, PROTOCOL)
    s2.send(encodeFrame(seq(3)))
    await waitUntil(() => a.stats().tentative.buffered === 3, 20_000, 'a to hold 3')
    assert.equal(a.stats().tentative.receivers, 1)
    const inbox = new Inbox(a)
    await a.connect({ ...membershipOf([a]), x: x.getMultiaddrs().map(String) })
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), ['x:1', 'x:2', 'x:3'])
  })

  it('tentativeBufferBytes bounds what one tentative peer holds, dropping the oldest', async () => {
    const [a] = await startNodes(1, { tentativeBufferBytes: 1000, maxMessageSize: 400 })
    const x = await plainNode()
    cleanup.push(a, x)
    await a.connect(membershipOf([a]))
    const s = await x.dialProtocol(multiaddr(a.getMultiaddrs()[0]), PROTOCOL)
    for (let i = 0; i < 6; i++) s.send(encodeFrame(seq(i, 300)))
    await waitUntil(() => a.stats().tentative.dropped === 3, 20_000, '3 dropped')
    assert.deepEqual(a.stats().tentative, { receivers: 1, buffered: 3, dropped: 3, evicted: 0, promoted: 0 })
    const inbox = new Inbox(a)
    await a.connect({ ...membershipOf([a]), x: x.getMultiaddrs().map(String) })
    assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), [3, 4, 5])
  })
})
