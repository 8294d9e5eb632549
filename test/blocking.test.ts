/**
 * Blocking: a blocked peer's connections close and new ones are refused (through the connection
 * gater), it is not dialled even while a member, what it held tentatively is dropped, and what is
 * sent to it is dropped and counted; unblocking (or the block's end) lets it back. A non-member
 * whose streams break the wire format 3 times within a minute is blocked by itself; a member never.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { CHANNEL_PROTOCOL, PROTOCOL, consensusNet, consensusNetGater, RequestError, type BlockedPeer, type ConsensusNet } from '../src/index.ts'
import { encodeFrame } from '../src/wire/encoder.ts'
import { bounded, Inbox, membershipOf, mesh, nextEvent, plainNode, seq, stopAll, waitUntil, withTimeout } from './helpers.ts'
import type { PeerId } from '@libp2p/interface'

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

/** Resolves once `node` has no open connection to `peer`. */
async function disconnected (node: { getConnections: (peer?: PeerId) => Array<{ status: string }> }, peer: PeerId): Promise<void> {
  await waitUntil(() => node.getConnections(peer).every(c => c.status !== 'open'), 20_000, 'the connections to close')
}

/** A dial that must fail: rejects if it opened a stream. */
async function refused (dial: Promise<unknown>): Promise<void> {
  await assert.rejects(withTimeout(dial, 20_000, () => 'the dial neither failed nor succeeded'))
}

describe('blocking', () => {
  it('a blocked member is cut off both ways, its messages are dropped and counted, its requests fail dropped; unblocked, it comes back', async () => {
    const [a, b] = await mesh(cleanup, 2)
    const inbox = new Inbox(b)
    const event = nextEvent<BlockedPeer>(a, 'peer:blocked')
    const bDown = nextEvent(b, 'peer:down')
    a.block('b')
    assert.deepEqual(await event, { peer: b.peerId.toString(), node: 'b', reason: 'manual' })
    assert.deepEqual(a.blocked(), [{ peer: b.peerId.toString(), node: 'b', reason: 'manual' }])
    assert.equal(a.stats().blocked, 1)
    await bDown // a closed every connection between them
    assert.equal(a.stats().members.b.connected, false)
    const dropped = a.stats().members.b.dropped
    a.send('b', seq(1))
    a.channel('x').send('b', seq(2))
    assert.equal(a.stats().members.b.dropped, dropped + 2)
    assert.equal(a.stats().members.b.queued, 0)
    await assert.rejects(a.channel('x').request('b', seq(3)), (err: RequestError) => err.code === 'dropped')
    // b's redials are refused by a's gater
    const refusedBefore = a.stats().refusedConnections
    await waitUntil(() => a.stats().refusedConnections > refusedBefore, 20_000, 'a dial of b to be refused')
    assert.equal(b.stats().members.a.connected, false)
    // back
    assert.equal(a.unblock('b'), true)
    assert.equal(a.unblock('b'), false)
    await a.waitFor(2, bounded())
    await b.waitFor(2, bounded())
    a.send('b', seq(4))
    await inbox.waitCount(1)
    assert.deepEqual(a.blocked(), [])
  })

  it('a blocked non-member, by peer ID: what it held is dropped, its connection closes, its dials are refused', async () => {
    const [a] = await mesh(cleanup, 1)
    const x = await plainNode()
    cleanup.push(x)
    const stream = await x.dialProtocol(multiaddr(a.getMultiaddrs()[0]), PROTOCOL)
    stream.send(encodeFrame(seq(1)))
    stream.send(encodeFrame(seq(2)))
    await waitUntil(() => a.stats().tentative.buffered === 2, 20_000, 'a to hold 2')
    a.block(x.peerId.toString())
    assert.deepEqual(a.stats().tentative, { receivers: 0, buffered: 0, dropped: 2, evicted: 0, promoted: 0 })
    await disconnected(x, a.peerId)
    await refused(x.dialProtocol(multiaddr(a.getMultiaddrs()[0]), PROTOCOL))
    assert.ok(a.stats().refusedConnections >= 1)
    // a membership update that adds it does not let it in while blocked
    await a.connect({ ...membershipOf([a]), x: x.getMultiaddrs().map(String) })
    await refused(x.dialProtocol(multiaddr(a.getMultiaddrs()[0]), PROTOCOL))
    assert.equal(a.stats().members.x.connected, false)
  })

  it('a block with a duration ends by itself', async () => {
    const [a, b] = await mesh(cleanup, 2)
    const before = a.clock.now()
    a.block(b.peerId, { duration: 300 })
    const [entry] = a.blocked()
    assert.equal(entry.node, 'b')
    // `until` is on the network's clock
    assert.ok(entry.until! >= before + 300 && entry.until! <= a.clock.now() + 300)
    await waitUntil(() => a.blocked().length === 0, 20_000, 'the block to end')
    await a.waitFor(2, bounded())
  })

  it('a non-member that breaks the wire format 3 times within a minute is blocked for blockDuration; a member is not', async () => {
    const [a, m] = await mesh(cleanup, 2, { blockDuration: 60_000 })
    const x = await plainNode()
    cleanup.push(x)
    const addr = multiaddr(a.getMultiaddrs()[0])
    const blocked = nextEvent<BlockedPeer>(a, 'peer:blocked')
    const start = Date.now()
    for (let i = 0; i < 3; i++) {
      const s = await x.dialProtocol(addr, CHANNEL_PROTOCOL)
      const closed = new Promise(resolve => { s.addEventListener('close', resolve, { once: true }) })
      s.send(Uint8Array.of(0)) // N = 0: a violation
      await withTimeout(closed, 20_000, () => 'the bad stream was not reset')
    }
    const e = await blocked
    assert.equal(e.peer, x.peerId.toString())
    assert.equal(e.reason, 'violations')
    assert.equal(e.node, undefined)
    assert.ok(e.until! >= start + 60_000)
    assert.equal(a.stats().invalidFramesByReason['empty-frame'], 3)
    await refused(x.dialProtocol(addr, CHANNEL_PROTOCOL))
    // a member breaking the format is only reset: the engine decides about members
    const y = await plainNode()
    cleanup.push(y)
    await a.connect({ ...membershipOf([a, m]), y: y.getMultiaddrs().map(String) })
    for (let i = 0; i < 4; i++) {
      const s = await y.dialProtocol(addr, CHANNEL_PROTOCOL)
      const closed = new Promise(resolve => { s.addEventListener('close', resolve, { once: true }) })
      s.send(Uint8Array.of(0))
      await withTimeout(closed, 20_000, () => 'the bad stream was not reset')
    }
    assert.equal(a.stats().invalidFramesByReason['empty-frame'], 7)
    assert.deepEqual(a.blocked().map(p => p.peer), [x.peerId.toString()])
  })

  it('on your own libp2p node, consensusNetGater refuses blocked peers and still asks your gater', async () => {
    const asked: string[] = []
    const yours = {
      async denyInboundEncryptedConnection (peerId: PeerId): Promise<boolean> {
        asked.push(peerId.toString())
        return false
      }
    }
    const node: Libp2p<{ consensus: ConsensusNet }> = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: consensusNetGater(yours),
      services: { consensus: consensusNet() }
    })
    cleanup.push(node)
    const net = node.services.consensus
    const x = await plainNode()
    const y = await plainNode()
    cleanup.push(x, y)
    net.block(x.peerId)
    const addr = node.getMultiaddrs()[0]
    await refused(x.dialProtocol(addr, PROTOCOL))
    assert.equal(net.stats().refusedConnections, 1)
    assert.deepEqual(asked, [], 'refused before your gater is asked')
    await y.dialProtocol(addr, PROTOCOL)
    assert.deepEqual(asked, [y.peerId.toString()])
  })

  it('checks its arguments at once', async () => {
    const [a] = await mesh(cleanup, 1)
    assert.throws(() => { a.block(42 as unknown as string) }, TypeError)
    assert.throws(() => { a.block('not a member nor a peer ID') }, RangeError)
    assert.throws(() => { a.block(a.peerId) }, /cannot block itself/)
    const x = await plainNode()
    cleanup.push(x)
    for (const duration of [Infinity, 2 ** 31, -1, Number.NaN]) assert.throws(() => { a.block(x.peerId, { duration }) }, RangeError)
    assert.throws(() => { a.unblock({} as unknown as string) }, TypeError)
  })
})
