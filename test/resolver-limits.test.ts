/**
 * The resolver against hostile peers and careless callers (issue 14), on real nodes over TCP:
 * keys bounded by `maxKeySize` on both sides and counted in the cache's bytes, `from` limited to
 * members and stats kept for members only, arguments and options checked with the documented
 * error classes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { RequestError, ResolveError, type ConsensusNet, type Key, type ResolverOptions } from '../src/index.ts'
import { mesh, str, text, withTimeout } from './helpers.ts'

/** The error `p` rejects with (bounded in time); fails if it resolves. */
async function rejection (p: Promise<unknown>, ms = 10_000): Promise<unknown> {
  return withTimeout(p.then(() => { throw new Error('it resolved') }, (e: unknown) => e), ms, () => 'no rejection in time')
}

/** A `produce` that answers `<node>:<key>` and records the keys it was called with. */
function recording (node: string): { produce: ResolverOptions['produce'], keys: Key[] } {
  const keys: Key[] = []
  return { keys, produce: key => { keys.push(key); return text(`${node}:${typeof key === 'string' ? key : key.byteLength}`) } }
}

describe('resolver limits on two nodes', () => {
  const cleanup: ConsensusNet[] = []
  let a: ConsensusNet
  let b: ConsensusNet
  before(async () => { [a, b] = await mesh(cleanup, 2) })
  after(async () => { await Promise.all(cleanup.map(async n => n.stop())) })

  it('a member asking with a key over maxKeySize, or a malformed one, is refused with remote-error: produce and the cache never see it', async () => {
    const served = recording('b')
    const rb = b.resolver('serve-limits', { produce: served.produce, maxKeySize: 16 })
    // a asks with raw requests on the resolver's channel, as a hostile member would
    const channel = a.channel('serve-limits')
    const refused: Array<[Uint8Array, string]> = [
      [Uint8Array.of(0, ...new Uint8Array(17)), 'key too large'],
      [Uint8Array.of(1, ...text('x'.repeat(17))), 'key too large'],
      // refusals of requests this short carry no message: the answer costs no more than the request
      [new Uint8Array(0), 'the member\'s handler failed'],
      [Uint8Array.of(2, 1, 2, 3), 'the member\'s handler failed']
    ]
    for (const [request, message] of refused) {
      const err = await rejection(channel.request('b', request))
      assert.ok(err instanceof RequestError, String(err))
      assert.equal(err.code, 'remote-error')
      assert.equal(err.message, message)
    }
    const s = rb.stats()
    assert.deepEqual([s.rejected, s.served, s.producerCalls, s.producerJoined], [4, 0, 0, 0])
    assert.deepEqual(s.cache, { entries: 0, bytes: 0 })
    assert.equal(served.keys.length, 0)

    // a key of exactly maxKeySize is served, and cached with its id counted: 'b' and 2 hex digits per byte
    const answer = await channel.request('b', Uint8Array.of(0, ...new Uint8Array(16)))
    assert.equal(str(answer.subarray(1)), 'b:16')
    assert.deepEqual(rb.stats().cache, { entries: 1, bytes: 'b:16'.length + 1 + 2 * 16 })
    assert.equal(rb.stats().rejected, 4)
  })

  it('1,024 keys fetched at once with default options are all served: the member queues what it cannot produce at once', async () => {
    b.resolver('burst', { produce: async key => { await new Promise(resolve => setImmediate(resolve)); return text(String(key)) } })
    const ra = a.resolver('burst', { produce: () => undefined })
    const keys = Array.from({ length: 1024 }, (_, i) => `k${i}`)
    const values = await Promise.all(keys.map(async k => ra.fetch(k)))
    assert.deepEqual(values.map(str), keys)
    assert.deepEqual([ra.stats().timedOut, ra.stats().busy, b.channel('burst').stats().requests.rejectedBusy], [0, 0, 0])
  })

  it('maxKeySize is at most 8,191: longer key ids would all hash alike in V8', () => {
    assert.throws(() => a.resolver('too-long-keys', { produce: () => undefined, maxKeySize: 8192 }), RangeError)
    a.resolver('long-keys', { produce: () => undefined, maxKeySize: 8191 })
  })

  it('fetch of a key over maxKeySize rejects RangeError before anything is counted or sent; invalidate throws it', async () => {
    const ra = a.resolver('fetch-limits', { produce: () => undefined, maxKeySize: 16 })
    b.resolver('fetch-limits', { produce: recording('b').produce, maxKeySize: 16 })
    for (const key of [new Uint8Array(17), 'x'.repeat(17), 'é'.repeat(9)]) { // 'é' is 2 bytes of UTF-8
      const err = await rejection(ra.fetch(key))
      assert.ok(err instanceof RangeError, String(err))
      assert.match(err.message, /^key exceeds maxKeySize \(16 bytes\): (17 bytes|17 characters|18 bytes of UTF-8)$/)
      assert.throws(() => { ra.invalidate(key) }, RangeError)
    }
    const s = ra.stats()
    assert.deepEqual([s.fetches, s.misses, s.networkRequests], [0, 0, 0])
    // at the bound, as sent: 16 bytes of UTF-8
    assert.equal(str(await ra.fetch('é'.repeat(8))), `b:${'é'.repeat(8)}`)
    assert.equal(str(await ra.fetch(new Uint8Array(16))), 'b:16')

    // the 4 MiB key: refused at once, never encoded
    const huge = new Uint8Array(4 << 20)
    const hugeString = 'x'.repeat(4 << 20)
    const started = performance.now()
    assert.ok(await rejection(ra.fetch(huge)) instanceof RangeError)
    assert.ok(await rejection(ra.fetch(hugeString)) instanceof RangeError)
    // encoding it a byte at a time took about 600 ms: refusing it takes none of that
    assert.ok(performance.now() - started < 250, `${performance.now() - started} ms`)
  })

  it('arguments of the wrong type reject (never throw) with TypeError and a message naming them', async () => {
    const ra = a.resolver('arguments', { produce: () => undefined })
    const bad: Array<[() => Promise<unknown>, RegExp]> = [
      [async () => ra.fetch(123 as unknown as Key), /^key must be a string or a Uint8Array, got number$/],
      [async () => ra.fetch(null as unknown as Key), /^key must be a string or a Uint8Array, got null$/],
      [async () => ra.fetch([1, 2] as unknown as Key), /^key must be a string or a Uint8Array, got Array$/],
      [async () => ra.fetch('k', null as unknown as object), /^fetch options must be an object, got null$/],
      [async () => ra.fetch('k', { signal: {} as AbortSignal }), /^signal must be an AbortSignal, got Object$/],
      [async () => ra.fetch('k', { from: 'b' as unknown as string[] }), /^from must be an array of node IDs \(strings\), got string$/],
      [async () => ra.fetch('k', { from: ['b', 2] as unknown as string[] }), /^from must be an array of node IDs \(strings\), got one that holds number$/],
      [async () => ra.fetch('k', { from: [undefined] as unknown as string[] }), /^from must be an array of node IDs \(strings\), got one that holds undefined$/]
    ]
    for (const [call, message] of bad) {
      let p: Promise<unknown> | undefined
      assert.doesNotThrow(() => { p = call() }) // a promise-returning call rejects
      const err = await rejection(p!)
      assert.ok(err instanceof TypeError, String(err))
      assert.match(err.message, message)
    }
    assert.throws(() => { ra.invalidate(123 as unknown as Key) }, { name: 'TypeError', message: 'key must be a string or a Uint8Array, got number' })
    assert.equal(ra.stats().fetches, 0)
  })

  it('an error message shows at most 32 bytes of a long key', async () => {
    const ra = a.resolver('messages', { produce: () => undefined })
    b.resolver('messages', { produce: () => undefined })
    const err = await rejection(ra.fetch(new Uint8Array(1_000).fill(0xab)))
    assert.ok(err instanceof ResolveError && err.code === 'not-found', String(err))
    assert.equal(err.message, `1 member(s) asked: none has key 0x${'ab'.repeat(32)}... (1000 bytes)`)
    const err2 = await rejection(ra.fetch('k'.repeat(1_000)))
    assert.ok(err2 instanceof ResolveError)
    assert.equal(err2.message, `1 member(s) asked: none has "${'k'.repeat(32)}"... (1000 characters)`)
  })
})

describe('resolver: from and per-peer stats hold members only', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await Promise.all(cleanup.map(async n => n.stop())) })

  it('from: node IDs that are not members are ignored; none left is no-members at once, and no stats are kept for them', async () => {
    const nets = await mesh(cleanup, 3)
    const r = nets.map((net, i) => net.resolver('from', { produce: recording('abc'[i]).produce, hedge: false, timeout: 10_000 }))
    const err = await rejection(r[0].fetch('k', { from: ['not-a-member'] }), 2_000)
    assert.ok(err instanceof ResolveError && err.code === 'no-members', String(err))
    assert.equal(r[0].stats().networkRequests, 0)
    assert.equal(Object.hasOwn(r[0].stats().peers, 'not-a-member'), false)

    assert.equal(str(await r[0].fetch('k', { from: ['not-a-member', '__proto__', 'b'] })), 'b:k')
    let s = r[0].stats()
    assert.deepEqual(Object.keys(s.peers), ['b'])
    assert.equal(s.networkRequests, 1)

    // a member that leaves the membership leaves the stats
    await r[0].fetch('k2', { from: ['c'] })
    assert.deepEqual(Object.keys(r[0].stats().peers).sort(), ['b', 'c'])
    const addrs = (net: ConsensusNet): string[] => net.getMultiaddrs().map(String)
    await nets[0].connect({ a: addrs(nets[0]), b: addrs(nets[1]) })
    s = r[0].stats()
    assert.deepEqual(Object.keys(s.peers), ['b'])
    assert.equal(s.peers.b.found, 1)
    // and is not asked
    const err2 = await rejection(r[0].fetch('k3', { from: ['c'] }), 2_000)
    assert.ok(err2 instanceof ResolveError && err2.code === 'no-members', String(err2))
    // stats stay readable once the node has stopped (the membership no longer is)
    await nets[0].stop()
    assert.deepEqual(Object.keys(r[0].stats().peers), ['b'])
  })
})

describe('resolver options', () => {
  const cleanup: ConsensusNet[] = []
  let net: ConsensusNet
  before(async () => { [net] = await mesh(cleanup, 1, { maxMessageSize: 512 }) })
  after(async () => { await Promise.all(cleanup.map(async n => n.stop())) })

  it('timeouts, hedge and bounds out of range are a RangeError at construction', () => {
    const produce = (): undefined => undefined
    let i = 0
    const open = (options: Partial<ResolverOptions>): unknown => net.resolver(`options-${i++}`, { produce, ...options })
    const bad: Array<[Partial<ResolverOptions>, RegExp?]> = [
      // a timer fires after 1 ms for 2^31 ms or more
      [{ timeout: 2 ** 31 }, /timeout must be a number of ms from 1 to 2147483647, got 2147483648/],
      [{ timeout: Infinity }],
      [{ timeout: Number.NaN }],
      [{ timeout: 1.5 }],
      [{ hedge: Infinity }, /hedge must be false or a number of ms from 0 to 2147483647, got Infinity \(to never hedge, pass false\)/],
      [{ hedge: 2 ** 31 }],
      [{ hedge: Number.NaN }],
      [{ hedge: -1 }],
      [{ hedge: true as unknown as false }],
      [{ maxKeySize: 0 }],
      [{ maxKeySize: 1.5 }],
      // a request is the type byte and the key, within maxMessageSize
      [{ maxKeySize: 512 }, /maxKeySize must not exceed 511 \(maxMessageSize - 1/],
      [{ attempts: 0 }, /attempts must be a positive integer/],
      [{ maxPendingFetches: Infinity }, /maxPendingFetches/],
      [{ maxWaitersPerKey: -1 }, /maxWaitersPerKey/],
      [{ maxConcurrentProduce: 0 }, /maxConcurrentProduce must be a positive integer/],
      [{ priority: 8 }, /priority/],
      [{ validate: 'yes' as unknown as ResolverOptions['validate'] }, /validate must be a function, got string/],
      [{ cache: { ttl: 2 ** 31 } }, /cache\.ttl/],
      [{ cache: { negativeTtl: Infinity } }, /cache\.negativeTtl/],
      [{ cache: 5 as unknown as ResolverOptions['cache'] }, /cache options must be an object/]
    ]
    for (const [options, message] of bad) {
      assert.throws(() => open(options), e => e instanceof RangeError && (message === undefined || message.test(e.message)), JSON.stringify(options))
    }
    // the limits themselves are accepted
    for (const options of [{ timeout: 2 ** 31 - 1, hedge: 2 ** 31 - 1 }, { hedge: 0 }, { hedge: false as const }, { maxKeySize: 511 }, { cache: { ttl: 2 ** 31 - 1, negativeTtl: 2 ** 31 - 1 } }]) {
      assert.doesNotThrow(() => open(options), JSON.stringify(options))
    }
  })

  it('the default maxKeySize is 1,024 bytes, or maxMessageSize - 1 if smaller', async () => {
    const r = net.resolver('default-key-size', { produce: () => undefined })
    // this node alone: a key that fits is looked for (and no member is there to ask)
    const fits = await rejection(r.fetch(new Uint8Array(511)))
    assert.ok(fits instanceof ResolveError && fits.code === 'no-members', String(fits))
    assert.ok(await rejection(r.fetch(new Uint8Array(512))) instanceof RangeError)
  })
})
