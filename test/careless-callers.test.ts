/**
 * Careless callers: every public call checks its arguments before it does anything and throws
 * (or, returning a promise, rejects) with the documented class and a message naming the argument.
 * Nothing is queued or counted by a call that failed; the bounds stay what they were.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { InvalidMembershipError, type ConsensusNet } from '../src/index.ts'
import { bounded, Inbox, mesh, seq, stopAll, text } from './helpers.ts'

describe('careless callers', () => {
  const cleanup: ConsensusNet[] = []
  let a: ConsensusNet, b: ConsensusNet
  before(async () => { [a, b] = await mesh(cleanup, 2, { sendBufferBytes: 1 << 20, maxMessageSize: 1 << 16 }) })
  after(async () => { await stopAll(cleanup) })

  const notBytes: unknown[] = ['a string', new ArrayBuffer(4), [1, 2, 3], 7, null, undefined, new DataView(new ArrayBuffer(2))]

  it('send and broadcast of anything but a Uint8Array throw TypeError at once, naming it; nothing is queued or counted', () => {
    const ch = a.channel('votes')
    for (const data of notBytes) {
      assert.throws(() => { a.send('b', data as Uint8Array) }, /^TypeError: data must be a Uint8Array/, String(data))
      assert.throws(() => { a.broadcast(data as Uint8Array) }, TypeError)
      assert.throws(() => { ch.send('b', data as Uint8Array) }, TypeError)
      assert.throws(() => { ch.broadcast(data as Uint8Array) }, TypeError)
    }
    const s = a.stats().members.b
    assert.deepEqual([s.queued, s.dropped], [0, 0])
    const c = ch.stats().members.b
    assert.deepEqual([c.queued, c.dropped, c.expired], [0, 0, 0])
  })

  it('a Buffer is a Uint8Array: it is sent', async () => {
    const inbox = new Inbox(b)
    a.send('b', Buffer.from('buffer'))
    await inbox.waitCount(1)
  })

  it('request payloads: request() rejects, requestStream() throws, TypeError; the write they would have shared is not corrupted', async () => {
    b.channel('echo').handle(data => data)
    const ch = a.channel('echo')
    const inbox = new Inbox(b)
    for (let i = 0; i < 10; i++) a.send('b', seq(i))
    await assert.rejects(ch.request('b', 'a string' as unknown as Uint8Array), TypeError)
    assert.throws(() => ch.requestStream('b', 'a string' as unknown as Uint8Array), TypeError)
    await assert.rejects(ch.request(42 as unknown as string, seq(1)), TypeError)
    await inbox.waitCount(10)
    assert.equal(ch.stats().requests.sent, 0)
    assert.deepEqual(await ch.request('b', seq(1)), seq(1))
  })

  it('send options: a key that is not a string or over 1,024 characters, a deadline that is not a number or NaN', () => {
    const ch = a.channel('keyed')
    assert.throws(() => { ch.send('b', seq(1), { key: 7 as unknown as string }) }, TypeError)
    assert.throws(() => { ch.send('b', seq(1), { key: 'k'.repeat(1025) }) }, RangeError)
    ch.send('b', seq(1), { key: 'k'.repeat(1024) })
    assert.throws(() => { ch.send('b', seq(1), { deadline: Number.NaN }) }, RangeError)
    assert.throws(() => { ch.send('b', seq(1), { deadline: '1' as unknown as number }) }, TypeError)
    assert.throws(() => { ch.send('b', seq(1), 'key' as never) }, TypeError)
    assert.equal(ch.stats().members.b.expired, 0)
  })

  it('timeouts a timer cannot wait (2^31 ms or more, Infinity, NaN, 0) are refused, not cut to 1 ms', async () => {
    const ch = a.channel('timeouts')
    for (const timeout of [2 ** 31, Infinity, Number.NaN, 0, -1]) {
      await assert.rejects(ch.request('b', seq(1), { timeout }), RangeError, String(timeout))
      assert.throws(() => a.channel(`t${String(timeout)}`, { requestTimeout: timeout }), RangeError)
    }
    await assert.rejects(ch.request('b', seq(1), { signal: 'soon' as unknown as AbortSignal }), TypeError)
    assert.equal(ch.stats().requests.sent, 0)
  })

  it('channel names: not a string, empty, over 64 bytes, or with a lone surrogate (it would go out as U+FFFD)', () => {
    assert.throws(() => a.channel(7 as unknown as string), TypeError)
    assert.throws(() => a.channel(''), RangeError)
    assert.throws(() => a.channel('n'.repeat(65)), RangeError)
    assert.throws(() => a.channel('votes\uD800'), RangeError)
    assert.throws(() => a.channel('ok', 'priority' as never), TypeError)
    assert.equal(a.channel('\u{1F600}').name, '\u{1F600}')
  })

  it('handlers: onMessage and handle take a function or undefined', () => {
    const ch = a.channel('handlers')
    assert.throws(() => { ch.onMessage('nope' as never) }, TypeError)
    assert.throws(() => { ch.handle({} as never) }, TypeError)
    assert.throws(() => { a.onMessage(1 as never) }, TypeError)
    ch.handle(undefined)
    a.onMessage(undefined)
  })

  it('waitFor takes a count and an options object', async () => {
    await assert.rejects(a.waitFor(-1), RangeError)
    await assert.rejects(a.waitFor(1.5), RangeError)
    await assert.rejects(a.waitFor(1, { signal: {} as AbortSignal }), TypeError)
    await a.waitFor(2, bounded())
  })

  it('a membership given as an array is refused, not read as node IDs "0", "1", ...', async () => {
    const addrs = a.getMultiaddrs().map(String)
    await assert.rejects(a.connect([addrs] as never), InvalidMembershipError)
    assert.deepEqual(a.members().sort(), ['a', 'b'])
  })

  it('a node ID "__proto__" is a member like any other, in stats too', async () => {
    const members = JSON.parse(`{ "a": ${JSON.stringify(a.getMultiaddrs().map(String))}, "__proto__": ${JSON.stringify(b.getMultiaddrs().map(String))} }`)
    await a.connect(members)
    await a.waitFor(2, bounded())
    assert.deepEqual(Object.keys(a.stats().members).sort(), ['__proto__', 'a'])
    const proto = '__proto__'
    assert.equal(a.stats().members[proto].connected, true) // an own property: it shadows the accessor
    assert.ok(Object.prototype.hasOwnProperty.call(a.channel('votes').stats().members, '__proto__'))
    a.send('__proto__', text('hi'))
    assert.equal(a.stats().members[proto].queued + a.stats().members[proto].sent, 1)
    await a.connect({ a: a.getMultiaddrs().map(String), b: b.getMultiaddrs().map(String) })
  })
})
