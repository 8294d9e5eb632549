import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { type ConsensusNet } from '../src/index.ts'
import { Inbox, NAMES, memoryPair, membershipOf, nextEvent, startNodes, stopAll, str, text } from './helpers.ts'

describe('four-node full mesh', () => {
  let nets: ConsensusNet[] = []
  after(async () => { await stopAll(nets) })

  it('every ordered pair delivers exactly once with the right from, the empty message included, self too', async () => {
    nets = await startNodes(4)
    const names = NAMES.slice(0, 4)
    const membership = membershipOf(nets)
    const inboxes = nets.map(n => new Inbox(n))
    await Promise.all(nets.map(async n => n.connect(membership)))
    await Promise.all(nets.map(async n => n.waitFor(4)))

    nets.forEach((net, i) => {
      for (const to of names) net.send(to, text(`${names[i]}->${to}`))
      net.send(names[(i + 1) % 4], new Uint8Array(0))
    })
    // 4 named messages each (one from itself), plus one empty message
    await Promise.all(inboxes.map(async inbox => inbox.waitCount(5)))
    inboxes.forEach((inbox, r) => {
      const got = inbox.messages.filter(m => m.data.byteLength > 0).map(m => `${m.from}:${str(m.data)}`).sort()
      assert.deepEqual(got, names.map(from => `${from}:${from}->${names[r]}`).sort())
      const empty = inbox.messages.filter(m => m.data.byteLength === 0)
      assert.deepEqual(empty.map(m => m.from), [names[(r + 3) % 4]])
    })
    // nothing more arrives: a final round trip on every pair comes after everything above
    nets.forEach((net, i) => { for (const to of names) net.send(to, text(`fin ${names[i]}`)) })
    await Promise.all(inboxes.map(async inbox => inbox.waitCount(9)))
    for (const inbox of inboxes) assert.equal(inbox.messages.length, 9)
    const sa = nets[0].stats()
    assert.deepEqual(Object.keys(sa.members).sort(), names)
    assert.equal(sa.members.a.connected, true)
    assert.equal(sa.members.a.received, 2) // its own two messages
    assert.equal(sa.members.b.received, 2)
  })

  it('broadcast reaches every member except the sender', async () => {
    const inboxes = nets.map(n => new Inbox(n))
    nets[2].broadcast(text('from c'))
    await Promise.all([0, 1, 3].map(async i => inboxes[i].waitCount(1)))
    for (const i of [0, 1, 3]) assert.deepEqual(inboxes[i].messages.map(m => `${m.from}:${str(m.data)}`), ['c:from c'])
    // c itself gets nothing: its own next direct message is the first thing it sees
    nets[2].send('c', text('self'))
    await inboxes[2].waitCount(1)
    assert.deepEqual(inboxes[2].messages.map(m => str(m.data)), ['self'])
  })
})

describe('peer:up / peer:down and waitFor', () => {
  let nets: ConsensusNet[] = []
  after(async () => { await stopAll(nets) })

  it('emits peer:up when a member\'s outgoing stream opens and peer:down when it closes', async () => {
    nets = await startNodes(2)
    const [a, b] = nets
    const up = nextEvent<{ node: string }>(a, 'peer:up')
    await a.connect(membershipOf(nets))
    assert.deepEqual(await up, { node: 'b' })
    await a.waitFor(2)
    const down = nextEvent<{ node: string }>(a, 'peer:down')
    await b.stop()
    assert.deepEqual(await down, { node: 'b' })
    assert.equal(a.stats().members.b.connected, false)
  })

  it('waitFor counts this node itself, and honours an abort signal', async () => {
    const [a] = nets
    await a.waitFor(1) // only itself is connected now
    const ac = new AbortController()
    const pending = a.waitFor(2, { signal: ac.signal })
    ac.abort(new Error('gave up'))
    await assert.rejects(pending, /gave up/)
  })
})

describe('as a libp2p service on any transport', () => {
  it('two nodes on the in-memory transport exchange messages through node.services', async () => {
    const { nodes, nets: [a, b] } = await memoryPair()
    try {
      const inbox = new Inbox(b)
      a.send('b', text('over memory'))
      await inbox.waitCount(1)
      assert.deepEqual(inbox.messages.map(m => `${m.from}:${str(m.data)}`), ['a:over memory'])
      // stopping the node stops the service
      await nodes[0].stop()
      assert.throws(() => { a.send('b', text('x')) }, { name: 'NotStartedError' })
    } finally {
      await stopAll(nodes)
    }
  })
})
