/**
 * Who dials whom (src/libp2p/dial-order.ts), over real libp2p nodes (TCP on 127.0.0.1): members that
 * learn of each other at once end with one connection per pair, opened by the lower peer ID; a
 * member known only to the higher peer ID is still reached, after the grace period. Then
 * DialOrder alone, on fake events: the bound on dials at once and its slots, abandoned dials, the waits.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { Libp2p } from 'libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { consensusNet, type ConsensusNet, type ConsensusNetInit } from '../src/index.ts'
import { DIAL_GRACE } from '../src/constants.ts'
import { DIAL_SLOT_MS, DialOrder, MAX_PARALLEL_DIALS } from '../src/libp2p/dial-order.ts'
import { DialSupersededError } from '../src/link/transport.ts'
import { FAST_RECONNECT, Inbox, NAMES, bounded, membershipOf as namedMembership, plainNode, stopAll, text, waitUntil, withTimeout } from './helpers.ts'
import { aborted } from './request-helpers.ts'
import type { PeerId } from '@libp2p/interface'

type Node = Libp2p<{ consensus: ConsensusNet }>

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

/** `n` libp2p nodes with the service, sorted by peer ID (lowest first). */
async function startSorted (n: number, init: ConsensusNetInit = {}): Promise<Node[]> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => await plainNode({ consensus: consensusNet({ reconnect: FAST_RECONNECT, ...init }) })))
  cleanup.push(...nodes)
  return nodes.sort((x, y) => x.peerId.toString() < y.peerId.toString() ? -1 : 1)
}

const membershipOf = (nodes: Node[]): Record<string, string[]> => namedMembership(nodes.map(n => n.services.consensus))

describe('dial order', () => {
  it('members given the same membership at once end with one connection per pair, dialled by the lower peer ID', async () => {
    // 5 nodes: the highest accepts 4 connections, under libp2p's 5 per second from one host
    const nodes = await startSorted(5)
    const membership = membershipOf(nodes)
    await Promise.all(nodes.map(async n => { await n.services.consensus.connect(membership) }))
    await Promise.all(nodes.map(async n => { await n.services.consensus.waitFor(nodes.length, bounded()) }))
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
    await high.services.consensus.waitFor(2, bounded())
    const elapsed = Date.now() - start
    t.diagnostic(`the higher peer ID reached a member that does not know it after ${elapsed} ms (grace ${DIAL_GRACE} ms)`)
    assert.ok(elapsed >= DIAL_GRACE - 20, `dialled after ${elapsed} ms, before the grace period`)
    assert.equal(high.getConnections(low.peerId)[0].direction, 'outbound')
    await low.services.consensus.connect(membership)
    await inbox.waitCount(1)
    assert.deepEqual(inbox.messages.map(m => [m.from, new TextDecoder().decode(m.data)]), [['b', 'early']])
    await low.services.consensus.waitFor(2, bounded())
    assert.equal(low.getConnections(high.peerId).length, 1)
  })

  /** `dialer` is given the membership of both, `stranger` only its own entry: ms until dialer's stream is open on a connection it dialled. */
  async function reachStranger (dialer: Node, stranger: Node): Promise<number> {
    const [a, b] = dialer.peerId.toString() < stranger.peerId.toString() ? [dialer, stranger] : [stranger, dialer]
    const membership = membershipOf([a, b])
    await stranger.services.consensus.connect({ [stranger === a ? 'a' : 'b']: membership[stranger === a ? 'a' : 'b'] })
    const start = Date.now()
    await dialer.services.consensus.connect(membership)
    await dialer.services.consensus.waitFor(2, bounded())
    const elapsed = Date.now() - start
    assert.equal(dialer.getConnections(stranger.peerId)[0].direction, 'outbound')
    return elapsed
  }

  it('with dialGrace 0 the higher peer ID dials a member that does not know it at once', async (t) => {
    const [low, high] = await startSorted(2, { dialGrace: 0 })
    const elapsed = await reachStranger(high, low)
    t.diagnostic(`the higher peer ID with dialGrace 0 reached a member that does not know it after ${elapsed} ms`)
    assert.ok(elapsed < DIAL_GRACE, `dialled after ${elapsed} ms: it waited for a grace period`)
  })

  it('a member known only to the lower peer ID is dialled at once', async (t) => {
    const [low, high] = await startSorted(2)
    const elapsed = await reachStranger(low, high)
    t.diagnostic(`the lower peer ID reached a member that does not know it after ${elapsed} ms`)
    // at once: it did not wait out the grace period as the higher peer ID would have
    assert.ok(elapsed < DIAL_GRACE, `dialled after ${elapsed} ms, not at once`)
  })
})

// --- DialOrder on its own: fake events and connection manager ---

class FakeEvents extends EventTarget {
  open (remotePeer: PeerId, direction: 'inbound' | 'outbound'): void {
    this.dispatchEvent(new CustomEvent('connection:open', { detail: { remotePeer, direction, timeline: { open: Date.now() } } }))
  }
}

function fakeOrder (self: PeerId, open: PeerId[] = []): { order: DialOrder, events: FakeEvents } {
  const events = new FakeEvents()
  const cm = { getConnections: (p: PeerId) => open.some(o => o.equals(p)) ? [{ status: 'open' }] : [] }
  const order = new DialOrder(self, events as any, cm as any)
  order.start()
  return { order, events }
}

async function peerIds (n: number): Promise<PeerId[]> {
  const ids = await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  return ids.sort((x, y) => x.toString() < y.toString() ? -1 : 1)
}

/** A dial that never ends until its signal aborts. */
const pending = async (signal: AbortSignal): Promise<never> => { throw await aborted(signal) }

describe('DialOrder', () => {
  it(`runs at most ${MAX_PARALLEL_DIALS} dials at once, the others in turn`, async () => {
    const ids = await peerIds(MAX_PARALLEL_DIALS + 3)
    const { order } = fakeOrder(ids[0])
    let running = 0
    let most = 0
    const finishers: Array<() => void> = []
    const dials = ids.slice(1).map(async peer => order.dial(peer, new AbortController().signal, false, async (_signal, onProgress) => {
      // the handshake began: the dial keeps its turn however slow this machine is (DIAL_SLOT_MS)
      onProgress({ type: 'upgrader:encrypt-outbound-connection' })
      most = Math.max(most, ++running)
      await new Promise<void>(resolve => finishers.push(resolve))
      running--
    }))
    for (let done = 0; done < dials.length; done++) {
      await waitUntil(() => finishers.length > done, 5_000, 'the next dial to start')
      assert.ok(running <= MAX_PARALLEL_DIALS)
      finishers[done]()
    }
    await Promise.all(dials)
    assert.equal(most, MAX_PARALLEL_DIALS)
    order.stop()
  })

  it('a dial whose peer connected while it waited for its turn gives the turn straight back', async () => {
    const [self, ...peers] = await peerIds(MAX_PARALLEL_DIALS + 3)
    const first = peers.slice(0, MAX_PARALLEL_DIALS)
    const [late, last] = peers.slice(MAX_PARALLEL_DIALS)
    const open: PeerId[] = []
    const { order } = fakeOrder(self, open)
    const started: PeerId[] = []
    const finishers: Array<() => void> = []
    const dialTo = async (peer: PeerId): Promise<void> => await order.dial(peer, new AbortController().signal, false, async (_signal, onProgress) => {
      onProgress({ type: 'upgrader:encrypt-outbound-connection' })
      started.push(peer)
      await new Promise<void>(resolve => finishers.push(resolve))
    })
    const dials = first.map(dialTo)
    await waitUntil(() => started.length === MAX_PARALLEL_DIALS, 5_000, 'the first dials to start')
    dials.push(dialTo(late), dialTo(last)) // both wait for a turn, late first
    open.push(late) // late's peer connects meanwhile
    finishers[0]()
    // late takes the freed turn, finds its connection open and hands the turn on: last starts
    // while late and three of the first dials still run
    await waitUntil(() => started.includes(late) && started.includes(last), 5_000, 'late and last to start')
    for (const finish of finishers) finish()
    await Promise.all(dials)
    order.stop()
  })

  it('a dial whose connection has not opened is abandoned when the peer connects to us first (either side), not once our own connection opened', async () => {
    const [low, high, other] = await peerIds(3)
    for (const [self, peer] of [[high, low], [low, high]]) {
      const { order, events } = fakeOrder(self)
      let started = false
      // forced: the higher peer ID does not wait for the lower one's connection first
      const dial = order.dial(peer, new AbortController().signal, true, async signal => {
        started = true
        return await pending(signal)
      })
      await waitUntil(() => started, 5_000, 'the dial to start')
      events.open(peer, 'inbound')
      await assert.rejects(withTimeout(dial, 5_000, () => 'the dial was not abandoned'), DialSupersededError)
      order.stop()
    }

    const { order, events } = fakeOrder(high)
    let negotiated = false
    await order.dial(other, new AbortController().signal, true, async signal => {
      events.open(other, 'outbound') // our own connection opened: the stream is being negotiated
      events.open(other, 'inbound') // the peer's arrives meanwhile
      assert.equal(signal.aborted, false)
      negotiated = true
    })
    assert.equal(negotiated, true)
    order.stop()
  })

  it(`a dial whose handshake has not begun gives its turn up after ${DIAL_SLOT_MS} ms (a dead host must not hold them); one handshaking keeps it; a stream on an open connection takes none`, async () => {
    const ids = await peerIds(MAX_PARALLEL_DIALS + 4)
    const [self, connected, late, later] = ids
    const { order } = fakeOrder(self, [connected])
    const stuck = new AbortController()
    // one dial is in its handshake (it keeps its turn), the others still connecting
    const dials = ids.slice(4).map(async (peer, i) => order.dial(peer, stuck.signal, false, async (signal, onProgress) => {
      if (i === 0) onProgress({ type: 'upgrader:encrypt-outbound-connection' })
      return await pending(signal)
    }).catch(err => { if (!stuck.signal.aborted) throw err }))
    let at = Date.now()
    await order.dial(connected, new AbortController().signal, false, async () => {})
    assert.ok(Date.now() - at < DIAL_SLOT_MS / 2, 'a stream on an open connection waited for a slot')
    at = Date.now()
    await order.dial(late, new AbortController().signal, false, async () => {})
    const waited = Date.now() - at
    assert.ok(waited >= DIAL_SLOT_MS - 100 && waited < DIAL_SLOT_MS * 3, `the fifth dial started after ${waited} ms`)
    // three turns came free, the handshaking dial still holds the fourth: of four more dials, three start
    let running = 0
    const more = [later, connected, late, later].map(async peer => order.dial(peer, stuck.signal, true, async signal => {
      running++
      return await pending(signal)
    }).catch(err => { if (!stuck.signal.aborted) throw err }))
    await waitUntil(() => running === MAX_PARALLEL_DIALS - 1, 1_000, 'three more dials to start')
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(running, MAX_PARALLEL_DIALS - 1, 'the handshaking dial gave its turn up')
    stuck.abort()
    await Promise.all(more)
    await Promise.all(dials)
    order.stop()
  })

  it('the higher peer ID waits for the lower one\'s connection, then dials (riding it)', async () => {
    const [low, high] = await peerIds(2)
    const { order, events } = fakeOrder(high)
    assert.equal(order.dialsFirst(low), false)
    let dialledAt = 0
    const start = Date.now()
    const dial = order.dial(low, new AbortController().signal, false, async () => { dialledAt = Date.now() })
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(dialledAt, 0, 'dialled before the peer connected')
    events.open(low, 'inbound')
    await dial
    assert.ok(dialledAt - start < DIAL_GRACE, `dialled ${dialledAt - start} ms after the start`)
    order.stop()
  })

  it('the grace period is the one given: 0 dials at once, 300 ms waits 300 ms', async () => {
    const [low, high] = await peerIds(2)
    for (const grace of [0, 300]) {
      const events = new FakeEvents()
      const order = new DialOrder(high, events as any, { getConnections: () => [] } as any, grace)
      order.start()
      const start = Date.now()
      await order.dial(low, new AbortController().signal, false, async () => {})
      const waited = Date.now() - start
      assert.ok(waited >= grace - 20 && waited < grace + DIAL_GRACE / 2, `grace ${grace}: dialled after ${waited} ms`)
      order.stop()
    }
  })

  it(`the higher peer ID dials itself after ${DIAL_GRACE} ms without any new connection; at once with force or a connection open`, async () => {
    const [low, high, other] = await peerIds(3)
    const { order, events } = fakeOrder(high, [other])
    // the membership comes after a quiet spell: the wait still counts from its own start
    await new Promise(resolve => setTimeout(resolve, DIAL_GRACE + 50))
    const start = Date.now()
    // a connection to someone else opening midway restarts the wait
    setTimeout(() => { events.open(other, 'inbound') }, DIAL_GRACE / 2).unref()
    await order.dial(low, new AbortController().signal, false, async () => {})
    const waited = Date.now() - start
    assert.ok(waited >= DIAL_GRACE * 1.5 - 20, `dialled after ${waited} ms`)

    let at = Date.now()
    await order.dial(low, new AbortController().signal, true, async () => {})
    assert.ok(Date.now() - at < DIAL_GRACE / 2, 'force dials at once')
    at = Date.now()
    await order.dial(other, new AbortController().signal, false, async () => {})
    assert.ok(Date.now() - at < DIAL_GRACE / 2, 'an open connection is used at once')
    order.stop()
  })
})
