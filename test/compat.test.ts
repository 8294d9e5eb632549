/**
 * Version 1.1.0 next to 1.0.0: a node that speaks only 1.0.0 (channelProtocol '') and a plain
 * libp2p peer that speaks only '/consensus-net/1.0.0' still exchange the default channel with a
 * 1.1.0 node both ways; what only 1.1.0 can carry is dropped and counted, or fails at once.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { PROTOCOL, type ConsensusNet } from '../src/index.ts'
import { MAX_KIND_1_0 } from '../src/wire/frames.ts'
import { encodeFrame } from '../src/wire/encoder.ts'
import { FrameDecoder } from '../src/wire/decoder.ts'
import { counters, Log } from './channel-helpers.ts'
import { Inbox, plainNode, seq, seqOf, startNodes, stopAll, str, text, waitUntil } from './helpers.ts'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'

describe('a 1.1.0 node and a node that speaks only 1.0.0', () => {
  let nets: ConsensusNet[] = []
  before(async () => {
    const [a] = await startNodes(1)
    const [o] = await startNodes(1, { channelProtocol: '' })
    nets = [a, o]
    const membership = { a: a.getMultiaddrs().map(String), o: o.getMultiaddrs().map(String) }
    await Promise.all(nets.map(async n => n.connect(membership)))
    await Promise.all(nets.map(async n => n.waitFor(2)))
  })
  after(async () => { await stopAll(nets) })

  it('the default channel works both ways', async () => {
    const [a, o] = nets
    const [ia, io] = [new Inbox(a), new Inbox(o)]
    for (let i = 0; i < 20; i++) {
      a.send('o', seq(i))
      o.send('a', seq(i))
    }
    await ia.waitCount(20)
    await io.waitCount(20)
    assert.deepEqual(io.messages.map(m => `${m.from}:${seqOf(m.data)}`), Array.from({ length: 20 }, (_, i) => `a:${i}`))
    assert.deepEqual(ia.messages.map(m => `${m.from}:${seqOf(m.data)}`), Array.from({ length: 20 }, (_, i) => `o:${i}`))
  })

  it('channel messages to the 1.0.0 member are dropped and counted in the channel\'s dropped, on both sides, and the default channel carries on', async () => {
    const [a, o] = nets
    const av = a.channel('votes', { priority: 0 })
    const ov = o.channel('votes', { priority: 0 })
    const logs = [new Log().listen(av, 'votes').listen(a, 'default'), new Log().listen(ov, 'votes').listen(o, 'default')]
    for (let i = 0; i < 5; i++) {
      av.send('o', seq(i), i === 4 ? { key: 'k', deadline: Date.now() + 600_000 } : undefined)
      ov.send('a', seq(i))
    }
    await waitUntil(() => av.stats().members.o.dropped === 5 && ov.stats().members.a.dropped === 5, 20_000, 'channel messages to be dropped')
    assert.deepEqual(counters(av.stats().members.o), { queued: 0, sent: 0, dropped: 5, superseded: 0, expired: 0, received: 0 })
    assert.equal(a.stats().members.o.dropped, 5, 'the member stats count channel drops too')
    // written after them on the same streams: so nothing of them arrived
    a.send('o', text('after'))
    o.send('a', text('after'))
    await logs[0].waitFor('default', 1)
    await logs[1].waitFor('default', 1)
    for (const log of logs) assert.deepEqual(log.entries.map(e => `${e.tag}:${str(e.data)}`), ['default:after'])
    assert.equal(a.stats().invalidFrames + o.stats().invalidFrames, 0)
    assert.equal(a.stats().members.o.reconnects + o.stats().members.a.reconnects, 0)
  })

  it('a request to the 1.0.0 member fails with no-handler at once', async () => {
    const [a] = nets
    const blocks = a.channel('blocks', { priority: 6 })
    blocks.handle(() => text('never asked'))
    const started = Date.now()
    await assert.rejects(blocks.request('o', text('block 1'), { timeout: 30_000 }), { name: 'RequestError', code: 'no-handler' })
    assert.ok(Date.now() - started < 10_000, 'failed only after a timeout')
    assert.equal(blocks.stats().members.o.queued, 0)
  })
})

describe('a plain libp2p peer that speaks only /consensus-net/1.0.0', () => {
  let a: ConsensusNet
  let raw: Libp2p
  /** Messages the plain peer decoded with a 1.0.0 decoder, and any decoding error. */
  const received: Uint8Array[] = []
  const errors: string[] = []
  const streams: Stream[] = []

  before(async () => {
    raw = await plainNode()
    await raw.handle(PROTOCOL, (stream: Stream) => {
      streams.push(stream)
      const d = new FrameDecoder(1 << 20, (_kind, buf, start, end) => {
        received.push(buf.slice(start, end))
      }, MAX_KIND_1_0)
      stream.addEventListener('message', evt => {
        const data = evt.data
        for (const chunk of (data instanceof Uint8ArrayList ? data : [data])) if (d.push(chunk) < 0) errors.push(d.error!.message)
      })
    })
    ;[a] = await startNodes(1)
    await a.connect({ a: a.getMultiaddrs().map(String), x: raw.getMultiaddrs().map(String) })
    await a.waitFor(2)
  })
  after(async () => { await stopAll([a, raw]) })

  const receivedCount = async (n: number): Promise<void> => {
    await waitUntil(() => received.length >= n, 20_000, `the plain peer to decode ${n} messages`)
  }

  it('our stream to it negotiated 1.0.0 and carries the default channel as 1.0.0 frames', async () => {
    for (let i = 0; i < 10; i++) a.send('x', seq(i))
    await receivedCount(10)
    assert.deepEqual(received.map(seqOf), Array.from({ length: 10 }, (_, i) => i))
    assert.deepEqual(streams.map(s => s.protocol), [PROTOCOL])
    assert.deepEqual(errors, [])
  })

  it('channel messages to it are dropped and counted, never written; a request to it fails with no-handler', async () => {
    const votes = a.channel('votes', { priority: 0 })
    for (let i = 0; i < 3; i++) votes.send('x', seq(100 + i))
    votes.broadcast(seq(200))
    await assert.rejects(a.channel('blocks').request('x', text('?')), { name: 'RequestError', code: 'no-handler' })
    await waitUntil(() => votes.stats().members.x.dropped === 4, 20_000, 'channel messages to be dropped')
    a.send('x', seq(10))
    await receivedCount(11)
    assert.deepEqual(received.map(seqOf), Array.from({ length: 11 }, (_, i) => i), 'a channel frame reached the 1.0.0 peer')
    assert.deepEqual(errors, [])
    assert.equal(votes.stats().members.x.sent, 0)
  })

  it('what it sends on 1.0.0 is delivered as the default channel, from its node ID', async () => {
    const inbox = new Inbox(a)
    const s = await raw.dialProtocol(multiaddr(a.getMultiaddrs()[0]), PROTOCOL)
    assert.equal(s.protocol, PROTOCOL)
    for (let i = 0; i < 5; i++) s.send(encodeFrame(seq(i)))
    await inbox.waitCount(5)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), Array.from({ length: 5 }, (_, i) => `x:${i}`))
    assert.equal(a.stats().invalidFrames, 0)
    // a 1.0.0 writer hears nothing back on its stream (no FRAME_FLOW)
    let replies = 0
    s.addEventListener('message', () => { replies++ })
    a.send('x', seq(11))
    await receivedCount(12)
    assert.equal(replies, 0)
  })
})
