/**
 * Dead-link detection (issue 8, part 2) over real libp2p nodes (TCP on 127.0.0.1): a link whose
 * bytes stop while its sockets stay open (a userspace TCP proxy blackholing it, see
 * fixtures/tcp-proxy.ts) is declared down after `deadLinkTimeout`, not before, and redialled;
 * reliable messages written into it arrive after the redial, once. Busy and idle healthy links
 * are never declared dead.
 *
 * Timing: `deadLinkTimeout` is 600 ms here, so a heartbeat every 300 ms. On this shared 2-core
 * machine only lower bounds are asserted tightly ('peer:down' no earlier than the timeout minus
 * a margin: it is the detector, not a socket closing); upper bounds are generous timeouts, and
 * the measured delays are printed.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Log } from './channel-helpers.ts'
import { Inbox, mesh, nextEvent, plainNode, seq, seqOf, startNodes, stopAll, waitUntil } from './helpers.ts'
import { proxiedPair } from './fixtures/proxied-pair.ts'
import { HEARTBEATS_PER_TIMEOUT } from '../src/link/dispatcher.ts'
import { CHANNEL_PROTOCOL, type ConsensusNet, type CreateConsensusNetInit } from '../src/index.ts'

const TIMEOUT = 600
const HEARTBEAT = TIMEOUT / HEARTBEATS_PER_TIMEOUT
/** 'peer:down' earlier than this after the blackhole began would not be the detector. */
const EARLIEST = TIMEOUT - 150
const INIT: CreateConsensusNetInit = { deadLinkTimeout: TIMEOUT }

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

const delay = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Direct connections, no proxy: a healthy link. Connected, both streams open. */
async function directPair (): Promise<[ConsensusNet, ConsensusNet]> {
  const [a, b] = await mesh(cleanup, 2, INIT)
  return [a, b]
}

const downOf = async (net: ConsensusNet, node: string, ms = 10_000): Promise<unknown> =>
  nextEvent(net, 'peer:down', (d: { node: string }) => d.node === node, ms)
const upOf = async (net: ConsensusNet, node: string): Promise<unknown> =>
  nextEvent(net, 'peer:up', (d: { node: string }) => d.node === node)

/** Fails if `net` emits 'peer:down' within `ms`: a window of observation, nothing to wait for. */
async function noDownFor (net: ConsensusNet, ms: number): Promise<void> {
  let downs = 0
  const onDown = (): void => { downs++ }
  net.addEventListener('peer:down', onDown)
  try {
    await delay(ms)
  } finally {
    net.removeEventListener('peer:down', onDown)
  }
  assert.equal(downs, 0, `'peer:down' ${downs} times on a healthy link`)
}

describe('dead links', () => {
  it('an idle link blackholed (bytes held, sockets open) is declared down by its heartbeat after deadLinkTimeout, not before; after the heal it is redialled and messages flow', async (t) => {
    // Routing: through both proxies (proxiedPair), both blackholed both ways: nothing is sent, so
    // only the heartbeat can notice. b's own detector waits longer: were it first, its abort would
    // close the sockets through the proxies, and a would see that close, not its detector's verdict
    const { a, b, toA, toB } = await proxiedPair(INIT, cleanup, { deadLinkTimeout: TIMEOUT * 4 })
    const inbox = new Inbox(b)
    const down = downOf(a, 'b')
    // the detector, not a closing socket: the blackholed connection is still open through the
    // proxies when 'peer:down' is dispatched (read then: the detector aborts the connection, and
    // the proxies see that close a moment later)
    let open = -1
    a.addEventListener('peer:down', () => { open = toA.connections + toB.connections }, { once: true })
    const start = Date.now()
    toA.blackhole('both', 'hold')
    toB.blackhole('both', 'hold')
    await down
    const detected = Date.now() - start
    // heal before the redial (its backoff is a timer; this runs on the event's microtask), so the new connection's handshake passes
    toA.heal()
    toB.heal()
    t.diagnostic(`declared down after ${detected} ms (timeout ${TIMEOUT}, heartbeat ${HEARTBEAT})`)
    assert.ok(detected >= EARLIEST, `'peer:down' after ${detected} ms: before the timeout, so not the detector`)
    assert.ok(open >= 1, 'the blackholed connection closed: the link was not silent')

    await upOf(a, 'b')
    for (let i = 0; i < 10; i++) a.send('b', seq(i))
    await inbox.waitCount(10)
    assert.deepEqual(inbox.from('a').map(seqOf), Array.from({ length: 10 }, (_, i) => i))
    assert.ok(a.stats().members.b.reconnects >= 1)
  })

  for (const mode of ['drop', 'hold'] as const) {
    it(`reliable messages written into a blackholed link (${mode === 'drop' ? 'bytes discarded' : 'bytes held, then released'}) are delivered exactly once, in order, after the link is declared dead and redialled`, async (t) => {
      // Routing: through both proxies, both blackholed both ways while a writes. 'drop': the
      // written bytes are gone, only the replay brings them. 'hold': they reach b on the old
      // connection at the heal too, and whichever copy comes second is suppressed.
      const { a, b, toA, toB } = await proxiedPair(INIT, cleanup)
      const ra = a.channel('r', { reliable: true })
      const log = new Log().listen(b.channel('r', { reliable: true }), 'r')
      for (let i = 1; i <= 10; i++) ra.send('b', seq(i))
      await log.waitFor('r', 10)
      await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have 1..10 acknowledged')

      const down = downOf(a, 'b')
      const start = Date.now()
      toA.blackhole('both', mode)
      toB.blackhole('both', mode)
      for (let i = 11; i <= 30; i++) ra.send('b', seq(i)) // written into the dead link
      await waitUntil(() => ra.stats().members.b.unacked === 20, 5_000, 'the 20 messages to be written')
      await down
      const detected = Date.now() - start
      toA.heal()
      toB.heal()
      t.diagnostic(`declared down after ${detected} ms (timeout ${TIMEOUT})`)
      assert.ok(detected >= EARLIEST, `'peer:down' after ${detected} ms: before the timeout, so not the detector`)

      await upOf(a, 'b')
      for (let i = 31; i <= 40; i++) ra.send('b', seq(i))
      await log.waitFor('r', 40)
      await waitUntil(() => ra.stats().members.b.unacked === 0, 20_000, 'a to have everything acknowledged')
      const got = log.of('r').map(e => seqOf(e.data))
      assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i + 1))
      const sent = ra.stats().members.b
      const received = b.channel('r').stats().members.a
      t.diagnostic(`retransmitted ${sent.retransmitted}, duplicatesSuppressed ${received.duplicatesSuppressed}, discarded by the proxies ${toA.discarded.forward + toA.discarded.backward + toB.discarded.forward + toB.discarded.backward} B`)
      assert.equal(sent.dropped, 0)
      assert.ok(sent.retransmitted >= 20, `retransmitted ${sent.retransmitted}`)
      assert.equal(received.received, 40)
      if (mode === 'drop') assert.equal(received.duplicatesSuppressed, 0) // the first copies never arrived
      else assert.ok(received.duplicatesSuppressed <= sent.retransmitted)
    })
  }

  it('a member that reads but never reports consumption: each dead link closes its connection, so they do not pile up', async (t) => {
    // Routing: direct. The member is a plain libp2p node that accepts our stream and reads it, but
    // writes no FLOW: every link to it is declared dead after the timeout and redialled on a new
    // connection. Issue 14, item 7: the old connection stayed open, one more per timeout.
    const peer = await plainNode()
    cleanup.push(peer)
    let streams = 0
    await peer.handle(CHANNEL_PROTOCOL, stream => {
      streams++
      stream.addEventListener('message', () => {})
    })
    const [a] = await startNodes(1, { ...INIT, dialGrace: 0 })
    cleanup.push(a)
    await a.connect({ a: a.getMultiaddrs().map(String), p: peer.getMultiaddrs().map(String) })
    const PERIODS = 5
    for (let i = 0; i < PERIODS; i++) await downOf(a, 'p')
    const connections = peer.getConnections(a.peerId).length
    t.diagnostic(`after ${PERIODS} dead links: ${streams} streams accepted, ${connections} connections open at the member`)
    assert.ok(streams >= PERIODS, `only ${streams} streams: the member was not redialled after each dead link`)
    // the one being redialled, and the last dead one if its reset has not reached the member yet
    assert.ok(connections <= 2, `${connections} connections open: dead ones were left open`)
  })

  it('a busy link is never declared dead: steady traffic over five timeouts, no \'peer:down\', everything delivered', async () => {
    // Routing: direct, a healthy link.
    const [a, b] = await directPair()
    const inbox = new Inbox(b)
    const payload = new Uint8Array(1024)
    const watch = noDownFor(a, 5 * TIMEOUT)
    const watchB = noDownFor(b, 5 * TIMEOUT)
    let sent = 0
    const end = Date.now() + 5 * TIMEOUT
    // 100 messages of 1 KiB every 10 ms (~10 MB/s), for at most 5 timeouts and 100,000 messages
    while (Date.now() < end && sent < 100_000) {
      for (let i = 0; i < 100; i++) {
        const m = payload.slice()
        new DataView(m.buffer).setUint32(0, sent++)
        a.send('b', m)
      }
      await delay(10)
    }
    await Promise.all([watch, watchB])
    await inbox.waitCount(sent)
    assert.equal(inbox.messages.length, sent)
    assert.equal(a.stats().members.b.reconnects, 0)
    assert.equal(a.stats().members.b.dropped, 0)
  })

  it('an idle link stays up: heartbeats keep it alive over five timeouts, and it still delivers at once', async () => {
    // Routing: direct, a healthy link with nothing to send.
    const [a, b] = await directPair()
    await Promise.all([noDownFor(a, 5 * TIMEOUT), noDownFor(b, 5 * TIMEOUT)])
    assert.equal(a.stats().members.b.reconnects, 0)
    assert.equal(b.stats().members.a.reconnects, 0)
    const inbox = new Inbox(b)
    a.send('b', seq(1))
    await inbox.waitCount(1, 2_000)
  })
})
