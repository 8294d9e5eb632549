/** The lean receive path: net.onMessage / channel.onMessage next to the 'message' event. */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { mesh, seq, seqOf, stopAll, waitUntil } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

describe('onMessage handlers', () => {
  const nets: ConsensusNet[] = []
  before(async () => { await mesh(nets, 2) })
  after(async () => { await stopAll(nets) })

  it('a handler alone receives every message in order, with the sender; removing it stops delivery to it', async () => {
    const [a, b] = nets
    const got: string[] = []
    b.onMessage((from, data) => { got.push(`${from}:${seqOf(data)}`) })
    for (let i = 0; i < 1000; i++) a.send('b', seq(i))
    await waitUntil(() => got.length >= 1000, 20_000, '1000 messages')
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => `a:${i}`))
    b.onMessage(undefined)
    const events: number[] = []
    const listener = (e: CustomEvent<{ data: Uint8Array }>): void => { events.push(seqOf(e.detail.data)) }
    b.addEventListener('message', listener)
    a.send('b', seq(5000))
    await waitUntil(() => events.length === 1, 20_000, 'the event')
    b.removeEventListener('message', listener)
    assert.equal(got.length, 1000)
    assert.equal(b.stats().members.a.received, 1001)
  })

  it('with both, the handler runs before the listeners, for the default channel and a channel, self included', async () => {
    const [a, b] = nets
    const order: string[] = []
    const votesA = a.channel('votes')
    const votesB = b.channel('votes')
    b.onMessage((from, data) => { order.push(`handler:${from}:${seqOf(data)}`) })
    const listener = (e: CustomEvent<{ from: string, data: Uint8Array }>): void => { order.push(`event:${e.detail.from}:${seqOf(e.detail.data)}`) }
    b.addEventListener('message', listener)
    votesB.onMessage((from, data) => { order.push(`votes handler:${from}:${seqOf(data)}`) })
    votesB.addEventListener('message', e => { order.push(`votes event:${e.detail.from}:${seqOf(e.detail.data)}`) })
    a.send('b', seq(1))
    votesA.send('b', seq(2))
    b.send('b', seq(3))
    votesB.send('b', seq(4))
    await waitUntil(() => order.length === 8, 20_000, 'eight deliveries')
    for (const [first, second] of [['handler:a:1', 'event:a:1'], ['votes handler:a:2', 'votes event:a:2'], ['handler:b:3', 'event:b:3'], ['votes handler:b:4', 'votes event:b:4']]) {
      assert.ok(order.indexOf(first) >= 0 && order.indexOf(first) + 1 === order.indexOf(second), `${first} right before ${second} in ${order.join(', ')}`)
    }
    b.onMessage(undefined)
    b.removeEventListener('message', listener)
    votesB.onMessage(undefined)
  })
})
