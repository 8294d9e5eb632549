/**
 * Who dials whom (src/dial-order.ts), over real libp2p nodes (TCP on 127.0.0.1): members that
 * learn of each other at once end with one connection per pair, opened by the lower peer ID; a
 * member known only to the higher peer ID is still reached, after the grace period.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { consensusNet, type ConsensusNet } from '../src/index.ts'
import { DIAL_GRACE } from '../src/dial-order.ts'
import { FAST_RECONNECT, Inbox, NAMES, stopAll, text } from './helpers.ts'

type Node = Libp2p<{ consensus: ConsensusNet }>

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

/** `n` libp2p nodes with the service, sorted by peer ID (lowest first). */
async function startSorted (n: number): Promise<Node[]> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { consensus: consensusNet({ reconnect: FAST_RECONNECT }) }
  })))
  cleanup.push(...nodes)
  return nodes.sort((x, y) => x.peerId.toString() < y.peerId.toString() ? -1 : 1)
}

const membershipOf = (nodes: Node[]): Record<string, string[]> =>
  Object.fromEntries(nodes.map((n, i) => [NAMES[i], n.getMultiaddrs().map(String)]))

describe('dial order', () => {
  it('members given the same membership at once end with one connection per pair, dialled by the lower peer ID', async () => {
    // 5 nodes: the highest accepts 4 connections, under libp2p's 5 per second from one host
    const nodes = await startSorted(5)
    const membership = membershipOf(nodes)
    await Promise.all(nodes.map(async n => { await n.services.consensus.connect(membership) }))
    await Promise.all(nodes.map(async n => { await n.services.consensus.waitFor(nodes.length) }))
    for (let i = 0; i < nodes.length; i++) {
      for (let j = 0; j < nodes.length; j++) {
        if (i === j) continue
        const conns = nodes[i].getConnections(nodes[j].peerId)
        assert.equal(conns.length, 1, `${NAMES[i]} has ${conns.length} connections to ${NAMES[j]}`)
        assert.equal(conns[0].direction, i < j ? 'outbound' : 'inbound', `${NAMES[i]} -> ${NAMES[j]}`)
      }
    }
    // both directions ride the one connection (a broadcast goes to every other member)
    const inboxes = nodes.map(n => new Inbox(n.services.consensus))
    for (const n of nodes) n.services.consensus.broadcast(text('hi'))
    await Promise.all(inboxes.map(async inbox => { await inbox.waitCount(nodes.length - 1) }))
  })

  it('a member known only to the higher peer ID is dialled by it after the grace period, and what it sent is delivered once the other learns of it', async (t) => {
    const [low, high] = await startSorted(2)
    const membership = membershipOf([low, high])
    const inbox = new Inbox(low.services.consensus)
    await low.services.consensus.connect({ a: membership.a })
    const start = Date.now()
    await high.services.consensus.connect(membership)
    high.services.consensus.send('a', text('early'))
    await high.services.consensus.waitFor(2)
    const elapsed = Date.now() - start
    t.diagnostic(`the higher peer ID reached a member that does not know it after ${elapsed} ms (grace ${DIAL_GRACE} ms)`)
    assert.ok(elapsed >= DIAL_GRACE - 20, `dialled after ${elapsed} ms, before the grace period`)
    assert.equal(high.getConnections(low.peerId)[0].direction, 'outbound')
    await low.services.consensus.connect(membership)
    await inbox.waitCount(1)
    assert.deepEqual(inbox.messages.map(m => [m.from, new TextDecoder().decode(m.data)]), [['b', 'early']])
    await low.services.consensus.waitFor(2)
    assert.equal(low.getConnections(high.peerId).length, 1)
  })

  it('a member known only to the lower peer ID is dialled at once', async (t) => {
    const [low, high] = await startSorted(2)
    const membership = membershipOf([low, high])
    await high.services.consensus.connect({ b: membership.b })
    const start = Date.now()
    await low.services.consensus.connect(membership)
    await low.services.consensus.waitFor(2)
    t.diagnostic(`the lower peer ID reached a member that does not know it after ${Date.now() - start} ms`)
    assert.equal(low.getConnections(high.peerId)[0].direction, 'outbound')
  })
})
