import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Inbox, membershipOf, startNodes, stopAll, str, text } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

describe('two nodes', () => {
  let nets: ConsensusNet[] = []
  after(async () => { await stopAll(nets) })

  it('each connects to both; waitFor(2) resolves; a->b arrives once with from = a', async () => {
    nets = await startNodes(2)
    const [a, b] = nets
    const membership = membershipOf(nets)
    await Promise.all([a.connect(membership), b.connect(membership)])
    await Promise.all([a.waitFor(2), b.waitFor(2)])
    const inbox = new Inbox(b)
    a.send('b', text('hello b'))
    await inbox.waitCount(1)
    assert.equal(inbox.messages[0].from, 'a')
    assert.equal(str(inbox.messages[0].data), 'hello b')
    // exactly once: a second message proves nothing more of the first was in flight
    a.send('b', text('second'))
    await inbox.waitCount(2)
    assert.deepEqual(inbox.messages.map(m => str(m.data)), ['hello b', 'second'])
    assert.equal(a.stats().members.b.sent, 2)
    assert.equal(b.stats().members.a.received, 2)
  })
})
