import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { createConsensusNet, InvalidMembershipError, MessageTooLargeError, NotStartedError, UnknownNodeError, type ConsensusNet, type CreateConsensusNetInit } from '../src/index.ts'
import { Inbox, membershipOf, startNodes, stopAll, str, text } from './helpers.ts'

describe('errors', () => {
  let nets: ConsensusNet[] = []
  after(async () => { await stopAll(nets) })

  it('send before connect and to a non-member throws UnknownNodeError', async () => {
    nets = await startNodes(2, { maxMessageSize: 1024 })
    const [a] = nets
    assert.throws(() => { a.send('b', text('x')) }, (err: any) => err instanceof UnknownNodeError && err.name === 'UnknownNodeError' && err.node === 'b')
    await a.connect(membershipOf(nets))
    assert.throws(() => { a.send('zz', text('x')) }, { name: 'UnknownNodeError' })
  })

  it('send or broadcast of a message over maxMessageSize throws MessageTooLargeError and queues nothing', async () => {
    const [a, b] = nets
    await b.connect(membershipOf(nets))
    await a.waitFor(2)
    const inbox = new Inbox(b)
    assert.throws(() => { a.send('b', new Uint8Array(1025)) }, (err: any) => err instanceof MessageTooLargeError && err.name === 'MessageTooLargeError')
    assert.throws(() => { a.broadcast(new Uint8Array(1025)) }, { name: 'MessageTooLargeError' })
    assert.equal(a.stats().members.b.queued, 0)
    a.send('b', new Uint8Array(1024).fill(1)) // exactly the limit is fine
    await inbox.waitCount(1)
    assert.equal(inbox.messages[0].data.byteLength, 1024)
    assert.equal(a.stats().members.b.sent, 1)
  })

  it('an invalid membership rejects with InvalidMembershipError naming the entry; the previous one stays in force', async () => {
    const [a, b] = nets
    const good = membershipOf(nets)
    await assert.rejects(a.connect({ ...good, b: '/ip4/127.0.0.1/tcp/1' }), (err: any) =>
      err instanceof InvalidMembershipError && err.name === 'InvalidMembershipError' && err.node === 'b')
    await assert.rejects(a.connect({ a: good.a, c: good.b, b: good.b }), { name: 'InvalidMembershipError', node: 'b' })
    assert.equal(a.stats().members.b.connected, true)
    const inbox = new Inbox(b)
    a.send('b', text('still here'))
    await inbox.waitCount(1)
    assert.deepEqual(inbox.messages.map(m => `${m.from}:${str(m.data)}`), ['a:still here'])
  })

  it('every call after stop() throws or rejects with NotStartedError, a pending waitFor included', async () => {
    const [a] = nets
    const pending = assert.rejects(a.waitFor(10), NotStartedError)
    await a.stop()
    await pending
    assert.throws(() => { a.send('b', text('x')) }, NotStartedError)
    assert.throws(() => { a.broadcast(text('x')) }, NotStartedError)
    assert.throws(() => a.stats(), NotStartedError)
    assert.throws(() => a.getMultiaddrs(), NotStartedError)
    await assert.rejects(a.connect({}), NotStartedError)
    await assert.rejects(a.waitFor(1), NotStartedError)
    await a.stop() // stopping twice is harmless
  })

  it('rejects inconsistent options at construction', async () => {
    await assert.rejects(createConsensusNet({ sendBufferBytes: 100, maxMessageSize: 200 }), RangeError)
    await assert.rejects(createConsensusNet({ sendBufferSize: 0 }), RangeError)
    await assert.rejects(createConsensusNet({ tentativeBufferBytes: 100, maxMessageSize: 200 }), RangeError)
    await assert.rejects(createConsensusNet({ reconnect: { initialDelay: 0 } }), RangeError)
    await assert.rejects(createConsensusNet({ reconnect: { initialDelay: 100, maxDelay: 10 } }), RangeError)
    await assert.rejects(createConsensusNet({ reconnect: { jitter: 2 } }), RangeError)
  })

  it('rejects delays a timer cannot wait (over 2^31-1 ms, Infinity, NaN) at construction, naming the option; accepts 2^31-1', async () => {
    // Node fires a longer timeout after 1 ms: a backoff of 'forever' would become a busy redial loop
    const cases: Array<[CreateConsensusNetInit, string]> = [
      [{ reconnect: { maxDelay: 2 ** 31 } }, 'reconnect.maxDelay'],
      [{ reconnect: { maxDelay: Infinity } }, 'reconnect.maxDelay'],
      [{ reconnect: { initialDelay: 2 ** 31, maxDelay: 2 ** 31 } }, 'reconnect.initialDelay'],
      [{ reconnect: { initialDelay: Infinity } }, 'reconnect.initialDelay'],
      [{ reconnect: { initialDelay: NaN } }, 'reconnect.initialDelay'],
      [{ deadLinkTimeout: 2 ** 31 }, 'deadLinkTimeout'],
      [{ deadLinkTimeout: Infinity }, 'deadLinkTimeout'],
      [{ deadLinkTimeout: -1 }, 'deadLinkTimeout'],
      [{ dialGrace: 2 ** 31 }, 'dialGrace'],
      [{ dialGrace: Infinity }, 'dialGrace'],
      [{ dialGrace: -1 }, 'dialGrace'],
      [{ dialGrace: NaN }, 'dialGrace']
    ]
    for (const [init, name] of cases) {
      await assert.rejects(createConsensusNet(init), (err: any) => err instanceof RangeError && err.message.includes(name), `${JSON.stringify(init)} was accepted`)
    }
    for (const dialGrace of [0, 2 ** 31 - 1]) {
      const net = await createConsensusNet({ reconnect: { initialDelay: 2 ** 31 - 1, maxDelay: 2 ** 31 - 1 }, deadLinkTimeout: 2 ** 31 - 1, dialGrace })
      await net.stop()
    }
  })
})
