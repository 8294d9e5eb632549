/**
 * Messages lost with a dying stream are counted (issue 14, item 9), over real libp2p nodes (TCP on
 * 127.0.0.1) through TCP proxies that reset every connection of the pair every 400 ms while a
 * sends a few thousand messages a second on the default channel, on a channel that is not
 * reliable and on a reliable one. What a user relies on: on the channels that are not reliable,
 * nothing is lost uncounted (sent - received <= lost, the rest counted `lost` by the sender; it
 * may count a few that arrived); on the reliable channel everything arrives and nothing is `lost`.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Inbox, bounded, seq, stopAll, waitUntil } from './helpers.ts'
import { proxiedPair } from './fixtures/proxied-pair.ts'

const cleanup: Array<{ stop: () => void | Promise<void> }> = []
after(async () => { await stopAll(cleanup) })

/** Every TICK ms, BATCH messages on each channel: 2,000/s per channel, 6,000/s in all. */
const TICK = 5
const BATCH = 10
const SENDING_MS = 3_000
const CUT_EVERY = 400
/** One byte: the last message of a channel, written after the cuts ended. */
const MARKER = Uint8Array.of(0xff)

describe('messages lost with a dying stream', () => {
  it('are counted: on channels that are not reliable sent - received <= lost; on a reliable one all arrive and none is lost', async (t) => {
    const { a, b, toA, toB } = await proxiedPair({}, cleanup)
    const plainA = a.channel('plain')
    const reliableA = a.channel('reliable', { reliable: true })
    const plainB = b.channel('plain')
    const reliableB = b.channel('reliable', { reliable: true })
    const inbox = new Inbox(b) // the default channel
    let plainMarker = false
    plainB.onMessage((_from, data) => { if (data.byteLength === 1) plainMarker = true })

    let count = 0
    const sender = setInterval(() => {
      for (let i = 0; i < BATCH; i++) {
        const m = seq(count++, 32)
        a.send('b', m)
        plainA.send('b', m)
        reliableA.send('b', m)
      }
    }, TICK)
    const cutter = setInterval(() => { toA.cut(); toB.cut() }, CUT_EVERY)
    await new Promise(resolve => setTimeout(resolve, SENDING_MS)) // the run: a window of traffic and faults
    // a run whose resets all fell between writes (a loaded machine) tested nothing: it goes on,
    // a few more cuts at most, until one caught a write in flight
    for (let i = 0; i < 20 && a.stats().members.b.lost === 0; i++) await new Promise(resolve => setTimeout(resolve, CUT_EVERY))
    clearInterval(cutter)
    clearInterval(sender)

    // the link is left alone: a's stream to b reopens, and a marker written on it last arrives
    // after everything written before it on that stream (FIFO per channel)
    await a.waitFor(2, bounded())
    a.send('b', MARKER)
    plainA.send('b', MARKER)
    await inbox.wait(() => inbox.messages.some(m => m.data.byteLength === 1), 20_000, 'the default channel\'s marker')
    await waitUntil(() => plainMarker, 20_000, 'the plain channel\'s marker')
    await waitUntil(() => reliableA.stats().members.b.unacked === 0 && reliableA.stats().members.b.queued === 0, 20_000, 'the reliable channel to settle')

    const p = plainA.stats().members.b
    const plain = { sent: p.sent, dropped: p.dropped, lost: p.lost, received: plainB.stats().members.a.received }
    const rel = { sent: reliableA.stats().members.b, received: reliableB.stats().members.a.received }
    const node = a.stats().members.b
    // the default channel: the node's totals less the named channels'
    const dflt = {
      sent: node.sent - plain.sent - rel.sent.sent,
      dropped: node.dropped - plain.dropped - rel.sent.dropped,
      lost: node.lost - plain.lost - rel.sent.lost,
      received: inbox.messages.length
    }
    t.diagnostic(`${count} messages per channel, ${toA.cuts + toB.cuts} connections reset, ${node.reconnects} reconnects; ` +
      `default: sent ${dflt.sent}, received ${dflt.received}, lost ${dflt.lost}; plain: sent ${plain.sent}, received ${plain.received}, lost ${plain.lost}; ` +
      `reliable: received ${rel.received}, retransmitted ${rel.sent.retransmitted}, lost ${rel.sent.lost}`)
    assert.ok(toA.cuts + toB.cuts > 0 && node.reconnects > 0, 'no connection was reset: the run tested nothing')
    for (const [name, c] of [['default', dflt], ['plain', plain]] as const) {
      assert.equal(c.sent + c.dropped, count + 1, `${name}: messages neither written nor counted dropped`) // dropped: in a write a closing stream refused
      assert.ok(c.received <= c.sent, `${name}: received ${c.received} > sent ${c.sent}`)
      assert.ok(c.sent - c.received <= c.lost, `${name}: ${c.sent - c.received} lost, ${c.lost} counted`)
    }
    assert.ok(dflt.lost + plain.lost > 0, 'nothing was counted lost: no reset caught a write in flight, so the run tested nothing')
    assert.equal(rel.received, count)
    assert.equal(rel.sent.dropped, 0)
    assert.equal(rel.sent.lost, 0)
  })
})
