import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Libp2p } from 'libp2p'
import { PROTOCOL, createConsensusNet, type ConsensusNet } from '../src/index.ts'
import { bounded, FAST_RECONNECT, freePort, Inbox, membershipOf, nextEvent, plainNode, seq, seqOf, startNodes, stopAll, str, text } from './helpers.ts'
import type { Stream } from '@libp2p/interface'

/** A node that starts later at a fixed address: its key and port are chosen now. */
async function futureNode (): Promise<{ addr: string, start: (init?: object) => Promise<ConsensusNet> }> {
  const privateKey = await generateKeyPair('Ed25519')
  const port = await freePort()
  const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(privateKey).toString()}`
  return {
    addr,
    start: async (init = {}) => createConsensusNet({ privateKey, listen: [`/ip4/127.0.0.1/tcp/${port}`], reconnect: FAST_RECONNECT, ...init })
  }
}

describe('Dispatcher', () => {
  const cleanup: Array<{ stop: () => void | Promise<void> }> = []
  after(async () => { await stopAll(cleanup) })

  it('dials eagerly: a member not yet listening gets what was sent before it started', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const b = await futureNode()
    const membership = { a: a.getMultiaddrs().map(String), b: b.addr }
    await a.connect(membership)
    for (let i = 0; i < 10; i++) a.send('b', seq(i))
    assert.equal(a.stats().members.b.connected, false)
    const bNet = await b.start()
    cleanup.push(bNet)
    const inbox = new Inbox(bNet)
    await bNet.connect(membership)
    await inbox.waitCount(10)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), Array.from({ length: 10 }, (_, i) => `a:${i}`))
    assert.ok(a.stats().members.b.connected)
  })

  it('drop-oldest: with the receiver down, bufferSize + k sent, exactly the last bufferSize arrive in order and k are counted', async () => {
    const bufferSize = 50
    const k = 17
    const [a] = await startNodes(1, { sendBufferSize: bufferSize })
    cleanup.push(a)
    const b = await futureNode()
    const membership = { a: a.getMultiaddrs().map(String), b: b.addr }
    await a.connect(membership)
    for (let i = 0; i < bufferSize + k; i++) a.send('b', seq(i))
    const before = a.stats().members.b
    assert.equal(before.queued, bufferSize)
    assert.equal(before.dropped, k)
    const bNet = await b.start()
    cleanup.push(bNet)
    const inbox = new Inbox(bNet)
    await bNet.connect(membership)
    await inbox.waitCount(bufferSize)
    a.send('b', seq(9999)) // a marker: nothing else is in flight before it
    await inbox.waitCount(bufferSize + 1)
    assert.deepEqual(inbox.messages.map(m => seqOf(m.data)), [...Array.from({ length: bufferSize }, (_, i) => k + i), 9999])
    const s = a.stats().members.b
    assert.equal(s.dropped, k)
    assert.equal(s.sent, bufferSize + 1)
  })

  it('drops by bytes too: sendBufferBytes bounds the queue', async () => {
    const [a] = await startNodes(1, { sendBufferBytes: 1000, maxMessageSize: 100 })
    cleanup.push(a)
    const b = await futureNode()
    await a.connect({ a: a.getMultiaddrs().map(String), b: b.addr })
    for (let i = 0; i < 25; i++) a.send('b', seq(i, 100))
    assert.deepEqual([a.stats().members.b.queued, a.stats().members.b.dropped], [10, 15])
  })

  it('tries a member\'s addresses in turn', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const b = await futureNode()
    const deadPort = await freePort()
    const dead = b.addr.replace(/tcp\/\d+/, `tcp/${deadPort}`)
    const membership = { a: a.getMultiaddrs().map(String), b: [dead, b.addr] }
    const bNet = await b.start()
    cleanup.push(bNet)
    const inbox = new Inbox(bNet)
    // b dials nobody yet, so a reaches b only by dialling b's addresses itself
    const up = nextEvent(a, 'peer:up')
    await a.connect(membership)
    a.send('b', text('via the second address'))
    await up
    await bNet.connect(membership) // promotes a: what b held arrives
    await inbox.waitCount(1)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${str(m.data)}`), ['a:via the second address'])
  })

  it('re-dials a member that moved to a new address at once, cutting its backoff short', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    // a waits a minute between attempts: only the membership update can make it dial again in time
    const [a] = await startNodes(1, { reconnect: { initialDelay: 60_000, maxDelay: 60_000 } })
    cleanup.push(a)
    let b = await createConsensusNet({ privateKey, reconnect: FAST_RECONNECT })
    const m1 = { a: a.getMultiaddrs().map(String), b: b.getMultiaddrs().map(String) }
    await Promise.all([a.connect(m1), b.connect(m1)])
    await a.waitFor(2)
    const down = nextEvent(a, 'peer:down')
    await b.stop()
    await down
    b = await createConsensusNet({ privateKey, reconnect: FAST_RECONNECT }) // same key, new port
    cleanup.push(b)
    const m2 = { a: m1.a, b: b.getMultiaddrs().map(String) }
    assert.notDeepEqual(m2.b, m1.b)
    const inbox = new Inbox(b)
    a.send('b', text('queued while b moved'))
    // b dials nobody yet, so a reaches b only at the address the new membership gives
    const up = nextEvent(a, 'peer:up')
    await a.connect(m2)
    await up
    await b.connect(m2)
    await inbox.waitCount(1)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${str(m.data)}`), ['a:queued while b moved'])
  })
})

describe('a restarted member', () => {
  const cleanup: Array<{ stop: () => void | Promise<void> }> = []
  after(async () => { await stopAll(cleanup) })

  // Issue 14, item 8: the member's own connection opened at once, but our stream to it waited out
  // our reconnect backoff. Here the backoff is a minute: only the member's connection can end it
  // within the test's bounded wait.
  for (const waiting of ['lower', 'higher'] as const) {
    it(`its connection to us ends our reconnect backoff at once: our stream reopens (we have the ${waiting} peer ID)`, async (t) => {
      const keys = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
      keys.sort((x, y) => peerIdFromPrivateKey(x).toString() < peerIdFromPrivateKey(y).toString() ? -1 : 1)
      const [ourKey, theirKey] = waiting === 'lower' ? keys : [keys[1], keys[0]]
      const port = await freePort()
      const we = await createConsensusNet({ privateKey: ourKey, reconnect: { initialDelay: 60_000, maxDelay: 60_000, factor: 1, jitter: 0 } })
      cleanup.push(we)
      const startThem = async (): Promise<ConsensusNet> => {
        const net = await createConsensusNet({ privateKey: theirKey, listen: [`/ip4/127.0.0.1/tcp/${port}`], reconnect: FAST_RECONNECT })
        cleanup.push(net)
        return net
      }
      let them = await startThem()
      const membership = { we: we.getMultiaddrs().map(String), them: `/ip4/127.0.0.1/tcp/${port}/p2p/${them.peerId.toString()}` }
      await Promise.all([we.connect(membership), them.connect(membership)])
      await Promise.all([we.waitFor(2, bounded()), them.waitFor(2, bounded())])

      const down = nextEvent(we, 'peer:down', (d: { node: string }) => d.node === 'them')
      await them.stop()
      await down // our Dispatcher now sleeps its backoff: a minute
      them = await startThem() // same key, same address
      const inbox = new Inbox(them)
      const start = Date.now()
      const up = nextEvent(we, 'peer:up', (d: { node: string }) => d.node === 'them', 15_000)
      await them.connect(membership)
      await up
      t.diagnostic(`our stream reopened ${Date.now() - start} ms after the member restarted (backoff 60,000 ms)`)
      we.send('them', text('after the restart'))
      await inbox.waitCount(1)
      assert.deepEqual(inbox.messages.map(m => `${m.from}:${str(m.data)}`), ['we:after the restart'])
      assert.equal(we.stats().members.them.reconnects, 1)
    })
  }
})

describe('a stalled member', () => {
  let nets: ConsensusNet[] = []
  let stalled: Libp2p | undefined
  after(async () => { await stopAll([...nets, ...(stalled != null ? [stalled] : [])]) })

  it('does not delay delivery to the other members', async () => {
    nets = await startNodes(3)
    // d accepts the stream and never reads: its receive window fills, then a's writes to d wait
    const streams: Stream[] = []
    stalled = await plainNode()
    await stalled.handle(PROTOCOL, (stream) => {
      stream.pause()
      streams.push(stream)
    })
    const membership = { ...membershipOf(nets), d: stalled.getMultiaddrs().map(String) }
    await Promise.all(nets.map(async n => n.connect(membership)))
    // d never dials: members with a higher peer ID than d's reach it after the dial grace
    await Promise.all(nets.map(async n => n.waitFor(4, bounded())))
    const [a] = nets
    const inboxes = nets.slice(1).map(n => new Inbox(n))

    // 8 MiB to each member: far beyond what d's window and socket buffers absorb
    const count = 8192
    const payload = new Uint8Array(1024)
    for (let i = 0; i < count; i++) {
      payload.fill(i & 0xff)
      const m = payload.slice()
      a.send('b', m)
      a.send('c', m)
      a.send('d', m)
    }
    await Promise.all(inboxes.map(async inbox => inbox.waitCount(count)))
    const s = a.stats().members
    // b and c got everything while d's backlog was still waiting
    assert.equal(s.b.sent, count)
    assert.equal(s.c.sent, count)
    assert.ok(s.d.queued > 0, `d's queue should still hold messages, has ${s.d.queued}`)
    assert.ok(s.d.sent < count)
    assert.equal(streams.length, 3) // one from each of a, b, c
    for (const inbox of inboxes) assert.equal(inbox.messages.length, count)
  })
})
