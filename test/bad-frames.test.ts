import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { PROTOCOL, type ConsensusNet } from '../src/index.ts'
import { encodeFrame } from '../src/wire/encoder.ts'
import { Inbox, membershipOf, plainNode, seq, seqOf, startNodes, stopAll, waitUntil, withTimeout } from './helpers.ts'
import type { StreamCloseEvent } from '@libp2p/interface'

const MAX = 1024

/** Each kind of bad input, after one good frame (which must not be lost either). */
const BAD: Array<[string, Uint8Array[], boolean]> = [
  ['a frame longer than maxMessageSize', [Uint8Array.of(0x82, 0x08, 0)], false], // length 1025 + 1 = 1026
  ['a malformed varint', [Uint8Array.of(0x81, 0x80, 0x00)], false],
  ['a varint that never ends', [new Uint8Array(16).fill(0xff)], false],
  ['an empty frame (no kind byte)', [Uint8Array.of(0)], false],
  ['an unknown frame kind', [Uint8Array.of(3, 9, 1, 2)], false],
  ['a truncated frame', [Uint8Array.of(10, 0, 1, 2)], true] // then the writer closes its side
]

describe('bad input from a plain libp2p node', () => {
  let nets: ConsensusNet[] = []
  let raw: Libp2p
  before(async () => {
    // blockDuration 0: one peer breaks the format again and again here, and must not be blocked for it
    nets = await startNodes(2, { maxMessageSize: MAX, blockDuration: 0 })
    raw = await plainNode()
    const membership = membershipOf(nets)
    await Promise.all(nets.map(async n => n.connect(membership)))
    await Promise.all(nets.map(async n => n.waitFor(2)))
  })
  after(async () => { await stopAll([...nets, raw]) })

  for (const [i, [what, chunks, closeWrite]] of BAD.entries()) {
    it(`${what}: its stream is reset and counted, members carry on`, async () => {
      const [a, b] = nets
      const inbox = new Inbox(b)
      const before = b.stats().invalidFrames
      const stream = await raw.dialProtocol(multiaddr(b.getMultiaddrs()[0]), PROTOCOL)
      const closed = new Promise<StreamCloseEvent>(resolve => { stream.addEventListener('close', resolve, { once: true }) })
      stream.send(encodeFrame(Uint8Array.of(i)))
      for (const c of chunks) stream.send(c)
      if (closeWrite) await stream.close()
      // members keep talking while the bad stream is dealt with
      for (let k = 0; k < 100; k++) a.send('b', seq(k))
      const evt = await withTimeout(closed, 20_000, () => 'bad stream was not closed')
      assert.equal(stream.status, 'reset', `expected a reset, got ${stream.status} (${evt.error?.name})`)
      assert.equal(b.stats().invalidFrames, before + 1)
      await inbox.waitCount(100)
      assert.deepEqual(inbox.messages.map(m => `${m.from}:${seqOf(m.data)}`), Array.from({ length: 100 }, (_, k) => `a:${k}`))
      // the good frame before the bad one was held (raw is not a member), not emitted
      assert.equal(b.stats().tentative.buffered, i + 1)
    })
  }

  it('a stream reset by its sender, or closed because its member left, mid-frame, is not counted invalid', async () => {
    const [, b] = nets
    const peer = await plainNode()
    try {
      const before = b.stats().invalidFrames
      const s1 = await peer.dialProtocol(multiaddr(b.getMultiaddrs()[0]), PROTOCOL)
      s1.send(Uint8Array.of(10, 0, 1, 2)) // 3 of 10 bytes
      s1.abort(new Error('sender gives up'))
      // b is told by a reset; the next stream shows b is past it
      const s2 = await peer.dialProtocol(multiaddr(b.getMultiaddrs()[0]), PROTOCOL)
      await b.connect({ ...membershipOf(nets), x: peer.getMultiaddrs().map(String) })
      const closed = new Promise(resolve => { s2.addEventListener('close', resolve, { once: true }) })
      s2.send(Uint8Array.of(10, 0, 1, 2))
      await waitUntil(() => b.stats().members.x != null)
      await b.connect(membershipOf(nets)) // x leaves while its frame is half-read
      await withTimeout(closed, 20_000, () => 'x\'s stream was not closed')
      assert.equal(b.stats().invalidFrames, before)
    } finally {
      await peer.stop()
    }
  })

  it('a member that sends a bad frame is reset and counted too, and its next stream works', async () => {
    const [a, b] = nets
    const bad = await plainNode()
    try {
      await b.connect({ ...membershipOf(nets), x: bad.getMultiaddrs().map(String) })
      const inbox = new Inbox(b)
      const before = b.stats().invalidFrames
      const s1 = await bad.dialProtocol(multiaddr(b.getMultiaddrs()[0]), PROTOCOL)
      const closed = new Promise(resolve => { s1.addEventListener('close', resolve, { once: true }) })
      s1.send(encodeFrame(Uint8Array.of(1)))
      s1.send(Uint8Array.of(0))
      await withTimeout(closed, 20_000, () => 'bad stream was not closed')
      assert.equal(s1.status, 'reset')
      assert.equal(b.stats().invalidFrames, before + 1)
      const s2 = await bad.dialProtocol(multiaddr(b.getMultiaddrs()[0]), PROTOCOL)
      s2.send(encodeFrame(Uint8Array.of(2)))
      await inbox.waitCount(2)
      assert.deepEqual(inbox.messages.map(m => `${m.from}:${m.data[0]}`), ['x:1', 'x:2'])
      a.send('b', seq(7))
      await inbox.waitCount(3)
      assert.equal(inbox.messages[2].from, 'a')
    } finally {
      await bad.stop()
    }
  })
})
