/**
 * The Resolver (issue 7) on real nodes over TCP: each "behaviour that must hold" of the issue is a
 * test here. Producers that must stay pending wait on a gate the test opens, never on a timer; the
 * only timers are the backends a test makes slow on purpose and the cache's own expiry.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ResolveError, type ConsensusNet, type Key, type ProduceContext, type Resolver, type ResolverOptions } from '../src/index.ts'
import { mesh, NAMES, str, text, waitUntil, withTimeout } from './helpers.ts'
import { aborted, deferred, type Deferred } from './request-helpers.ts'

const keyText = (key: Key): string => typeof key === 'string' ? key : `0x${Buffer.from(key).toString('hex')}`

/** Opens a resolver named `name` on every net; `options(node)` gives each node's options. */
function open (nets: ConsensusNet[], name: string, options: (node: string) => ResolverOptions): Record<string, Resolver> {
  return Object.fromEntries(nets.map((net, i) => [NAMES[i], net.resolver(name, options(NAMES[i]))]))
}

/** A producer per node that answers `<node>:<key>` and records every call; `hold` gates keys on nodes. */
class Backend {
  readonly calls: Array<{ node: string, key: string, signal: AbortSignal }> = []
  readonly gates = new Map<string, Deferred>()
  #waiters: Array<{ until: () => boolean, resolve: () => void }> = []

  /** `produce` of node `node`; `answer` overrides the default answer (undefined: missing). */
  produce (node: string, answer: (key: string) => Uint8Array | undefined = key => text(`${node}:${key}`)): ResolverOptions['produce'] {
    return async (key: Key, { signal }: ProduceContext) => {
      const k = keyText(key)
      this.calls.push({ node, key: k, signal })
      this.#waiters = this.#waiters.filter(w => {
        if (!w.until()) return true
        w.resolve()
        return false
      })
      const gate = this.gates.get(`${node}/${k}`)
      if (gate !== undefined) await gate.promise
      return answer(k)
    }
  }

  /** Makes node's produce of `key` wait until `open(node, key)`. */
  hold (node: string, key: string): void {
    this.gates.set(`${node}/${key}`, deferred())
  }

  open (node: string, key: string): void {
    this.gates.get(`${node}/${key}`)?.resolve()
  }

  of (node?: string, key?: string): number {
    return this.calls.filter(c => (node === undefined || c.node === node) && (key === undefined || c.key === key)).length
  }

  /** Resolves once `n` calls (of `node`, of `key`) have been made. */
  async reached (n: number, node?: string, key?: string, ms = 10_000): Promise<void> {
    if (this.of(node, key) >= n) return
    await withTimeout(new Promise<void>(resolve => { this.#waiters.push({ until: () => this.of(node, key) >= n, resolve }) }), ms,
      () => `${this.of(node, key)} of ${n} produce calls (${node ?? 'any'}, ${key ?? 'any key'})`)
  }

  signal (node: string, key: string): AbortSignal {
    const c = this.calls.find(c => c.node === node && c.key === key)
    assert.ok(c, `no produce call of ${key} on ${node}`)
    return c.signal
  }
}

/** The ResolveError `p` rejects with, checked to have `code`. */
async function rejectsWith (p: Promise<unknown>, code: string): Promise<ResolveError> {
  const err = await withTimeout(p.then(() => { throw new Error('the fetch succeeded') }, (e: unknown) => e), 10_000, () => `the fetch did not fail with ${code} in time`)
  assert.ok(err instanceof ResolveError, `expected a ResolveError (${code}), got ${String(err)}`)
  assert.equal(err.name, 'ResolveError')
  assert.equal(err.code, code, err.message)
  return err
}

/** Resolves true if `p` is still pending after a full request round trip on another resolver of the same nets (so any frame sent before has been handled). */
async function stillPendingAfterRoundTrip (p: Promise<unknown>, probe: Resolver, key: string, from: string): Promise<boolean> {
  let settled = false
  p.then(() => { settled = true }, () => { settled = true })
  await probe.fetch(key, { from: [from] })
  return !settled
}

describe('resolver: API', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await Promise.all(cleanup.map(async n => n.stop())) })

  it('members() lists the membership with this node, nodeId names it; one resolver per name; options are checked', async () => {
    const [a] = await mesh(cleanup, 2)
    assert.deepEqual(a.members().sort(), ['a', 'b'])
    assert.equal(a.nodeId, 'a')
    const produce = (): undefined => undefined
    a.resolver('api', { produce })
    assert.throws(() => a.resolver('api', { produce }), RangeError)
    assert.throws(() => a.resolver('api2', {} as ResolverOptions), RangeError)
    assert.throws(() => a.resolver('api3', { produce, group: k => k }), /group and pick/)
    assert.throws(() => a.resolver('api4', { produce, timeout: 0 }), RangeError)
    assert.throws(() => a.resolver('api5', { produce, hedge: -1 }), RangeError)
    assert.throws(() => a.resolver('api6', { produce, maxPendingFetches: 1.5 }), RangeError)
    assert.throws(() => a.resolver('api7', { produce, cache: { ttl: -1 } }), RangeError)
  })

  it('string and byte keys travel as such and never collide', async () => {
    const [a, b] = cleanup
    const seen: Key[] = []
    const produce = (key: Key): Uint8Array => {
      seen.push(key)
      return text(typeof key === 'string' ? `string ${key}` : `bytes ${Buffer.from(key).toString('hex')}`)
    }
    const ra = a.resolver('keys', { produce, hedge: false })
    b.resolver('keys', { produce, hedge: false })
    assert.equal(str(await ra.fetch('k')), 'string k')
    assert.equal(str(await ra.fetch(text('k'))), 'bytes 6b')
    assert.equal(str(await ra.fetch(new Uint8Array(0))), 'bytes ')
    assert.equal(ra.stats().networkRequests, 3)
    assert.deepEqual(seen.map(k => typeof k === 'string' ? k : [...k]), ['k', [0x6b], []])
  })
})

describe('resolver on four nodes', () => {
  const cleanup: ConsensusNet[] = []
  let nets: ConsensusNet[] = []
  before(async () => { nets = await mesh(cleanup, 4) })
  after(async () => { await Promise.all(cleanup.map(async n => n.stop())) })

  describe('1. de-duplication', () => {
    it('N concurrent fetches of a key on one node: one network request, one produce call, the same answer for all', async () => {
      const backend = new Backend()
      for (const n of ['b', 'c', 'd']) backend.hold(n, 'k')
      const r = open(nets, 'dedup', node => ({ produce: backend.produce(node), hedge: false }))
      const fetches = Array.from({ length: 10 }, async () => r.a.fetch('k'))
      await backend.reached(1)
      assert.equal(r.a.stats().networkRequests, 1)
      for (const n of ['b', 'c', 'd']) backend.open(n, 'k')
      const values = (await Promise.all(fetches)).map(str)
      assert.equal(new Set(values).size, 1)
      assert.match(values[0], /^[bcd]:k$/)
      assert.equal(backend.calls.length, 1)
      const s = r.a.stats()
      assert.equal(s.fetches, 10)
      assert.equal(s.deduped, 9)
      assert.equal(s.networkRequests, 1)
      assert.equal(s.misses, 10)
      assert.equal(s.hedged, 0)
    })

    it('several members asking one server for a key at once share one produce call', async () => {
      const backend = new Backend()
      backend.hold('a', 'k')
      const r = open(nets, 'dedup-serve', node => ({ produce: backend.produce(node), hedge: false }))
      const fetches = ['b', 'c', 'd'].map(async n => r[n].fetch('k', { from: ['a'] }))
      // no event says a request arrived: the server's counters do
      await waitUntil(() => r.a.stats().producerCalls + r.a.stats().producerJoined === 3, 10_000, 'three requests at a')
      backend.open('a', 'k')
      assert.deepEqual((await Promise.all(fetches)).map(str), ['a:k', 'a:k', 'a:k'])
      assert.equal(backend.of('a', 'k'), 1)
      const s = r.a.stats()
      assert.equal(s.producerCalls, 1)
      assert.equal(s.producerJoined, 2)
      assert.equal(s.served, 3)
      for (const n of ['b', 'c', 'd']) assert.equal(r[n].stats().networkRequests, 1)
    })
  })

  describe('2. cache and negative cache', () => {
    it('a value is served from the cache until its ttl, on the fetching and the serving side; invalidate forgets it', async () => {
      const ttl = 150
      const backend = new Backend()
      const r = open(nets, 'cache', node => ({ produce: backend.produce(node), hedge: false, cache: { ttl } }))
      assert.equal(str(await r.a.fetch('k', { from: ['b'] })), 'b:k')
      const fetchedAt = Date.now()
      assert.equal(str(await r.a.fetch('k', { from: ['b'] })), 'b:k')
      let s = r.a.stats()
      assert.deepEqual([s.fetches, s.hits, s.misses, s.networkRequests], [2, 1, 1, 1])
      assert.deepEqual(s.cache, { entries: 1, bytes: 3 + 2 }) // the value 'b:k' and its key's id 'sk'
      // b produced it once and serves it from its cache
      assert.equal(str(await r.c.fetch('k', { from: ['b'] })), 'b:k')
      assert.equal(backend.of('b', 'k'), 1)
      assert.equal(r.b.stats().served, 2)

      // expiry has no event: wait on the clock, bounded
      await waitUntil(() => Date.now() > fetchedAt + ttl, 2_000, 'the ttl to pass')
      assert.equal(str(await r.a.fetch('k', { from: ['b'] })), 'b:k')
      s = r.a.stats()
      assert.deepEqual([s.hits, s.misses, s.networkRequests], [1, 2, 2])
      assert.equal(backend.of('b', 'k'), 2) // b's copy, cached earlier than a's, had expired too

      r.a.invalidate('k')
      assert.equal(r.a.stats().cache.entries, 0)
      await r.a.fetch('k', { from: ['b'] })
      s = r.a.stats()
      assert.deepEqual([s.hits, s.misses, s.networkRequests], [1, 3, 3])
    })

    it('a key every member answered missing is not asked again until negativeTtl; invalidate forgets that too', async () => {
      const negativeTtl = 150
      const backend = new Backend()
      const r = open(nets, 'negative', node => ({ produce: backend.produce(node, () => undefined), hedge: false, cache: { negativeTtl } }))
      const err = await rejectsWith(r.a.fetch('gone'), 'not-found')
      assert.match(err.message, /3 member/)
      let s = r.a.stats()
      assert.deepEqual([s.networkRequests, s.notFound, s.misses, s.negativeHits], [3, 1, 1, 0])
      for (const n of ['b', 'c', 'd']) assert.equal(s.peers[n].missing, 1)

      await rejectsWith(r.a.fetch('gone'), 'not-found')
      await rejectsWith(r.a.fetch('gone'), 'not-found')
      s = r.a.stats()
      assert.deepEqual([s.networkRequests, s.negativeHits, s.misses], [3, 2, 1])
      assert.equal(backend.calls.length, 3)

      r.a.invalidate('gone')
      await rejectsWith(r.a.fetch('gone'), 'not-found')
      const markedAt = Date.now()
      s = r.a.stats()
      assert.deepEqual([s.networkRequests, s.negativeHits, s.misses, s.notFound], [6, 2, 2, 2])

      await waitUntil(() => Date.now() > markedAt + negativeTtl, 2_000, 'the negativeTtl to pass')
      await rejectsWith(r.a.fetch('gone'), 'not-found')
      s = r.a.stats()
      assert.deepEqual([s.networkRequests, s.negativeHits, s.misses, s.notFound], [9, 2, 3, 3])
    })

    it('the cache stays within maxEntries and maxBytes, evicting the least recently used', async () => {
      const backend = new Backend()
      const r = open(nets, 'cache-bounds', node => ({ produce: backend.produce(node), hedge: false, cache: { maxEntries: 3, maxBytes: 1_000 } }))
      for (const k of ['k1', 'k2', 'k3']) await r.a.fetch(k, { from: ['b'] })
      await r.a.fetch('k1', { from: ['b'] }) // a hit: k1 is now the most recently used
      await r.a.fetch('k4', { from: ['b'] }) // evicts k2
      assert.deepEqual(r.a.stats().cache, { entries: 3, bytes: 3 * (4 + 3) }) // values 'b:kN' and key ids 'skN'
      const before = r.a.stats().networkRequests
      for (const k of ['k1', 'k3', 'k4']) await r.a.fetch(k, { from: ['b'] })
      assert.equal(r.a.stats().networkRequests, before)
      await r.a.fetch('k2', { from: ['b'] })
      assert.equal(r.a.stats().networkRequests, before + 1)
      assert.ok(r.b.stats().cache.entries <= 3)
    })

    it('a cached value holds only its own bytes, not the receive buffer it arrived in', async () => {
      const r = open(nets, 'cache-copy', node => ({ produce: () => text(`${node} value`), hedge: false }))
      const value = await r.a.fetch('k', { from: ['b'] })
      assert.equal(str(value), 'b value')
      // a view would keep the whole network chunk alive while maxBytes counts only its bytes
      assert.equal(value.buffer.byteLength, value.byteLength)
    })
  })

  describe('3. get parent', () => {
    it('fetching k1 and then its sibling k2 costs one network request: the group is fetched, cached and picked from', async () => {
      const backend = new Backend()
      // "h1/0".."h1/2" belong to group "h1", whose value lists its members' values
      const answer = (node: string) => (key: string): Uint8Array => text(key.includes('/') ? `${node} single ${key}` : [0, 1, 2].map(i => `${node} ${key}/${i}`).join(','))
      const validated: string[] = []
      const r = open(nets, 'parent', node => ({
        produce: backend.produce(node, answer(node)),
        hedge: false,
        group: key => typeof key === 'string' && key.includes('/') ? key.split('/')[0] : undefined,
        pick: (_group, value, key) => {
          const part = str(value).split(',')[Number((key as string).split('/')[1])]
          return part === undefined ? undefined : text(part)
        },
        validate: (key, _value, from) => { validated.push(`${keyText(key)}@${from}`); return true }
      }))
      assert.equal(str(await r.a.fetch('h1/0', { from: ['b'] })), 'b h1/0')
      assert.equal(str(await r.a.fetch('h1/1', { from: ['b'] })), 'b h1/1')
      assert.equal(str(await r.a.fetch('h1/2')), 'b h1/2')
      let s = r.a.stats()
      assert.equal(s.networkRequests, 1)
      assert.deepEqual([s.fetches, s.hits, s.misses], [3, 2, 1])
      assert.deepEqual(backend.calls.map(c => `${c.node}:${c.key}`), ['b:h1'])
      assert.deepEqual(validated, ['h1@b']) // validate sees the key asked on the network

      // a sibling the group's value does not hold is asked for itself
      assert.equal(str(await r.a.fetch('h1/7', { from: ['b'] })), 'b single h1/7')
      s = r.a.stats()
      assert.equal(s.networkRequests, 2)
      assert.deepEqual(backend.calls.map(c => `${c.node}:${c.key}`), ['b:h1', 'b:h1/7'])
      // invalidating a key forgets its group too
      r.a.invalidate('h1/0')
      await r.a.fetch('h1/1', { from: ['b'] })
      assert.equal(r.a.stats().networkRequests, 3)
    })
  })

  describe('4. peer selection', () => {
    it('members are tried by a moving average of response time, a failure counting as a full timeout', async () => {
      const timeout = 2_000
      const backend = new Backend()
      const invalidFromC = new Set(['bad'])
      const r = open(nets, 'order', node => ({
        produce: async (key, context) => {
          const value = await backend.produce(node)(key, context)
          if (node === 'b') await new Promise(resolve => setTimeout(resolve, 100)) // b is the slower backend
          return value
        },
        validate: (key, _value, from) => !(from === 'c' && invalidFromC.has(keyText(key))),
        hedge: false,
        timeout
      }))
      await r.a.fetch('w1', { from: ['b'] })
      await r.a.fetch('w2', { from: ['c'] })
      let peers = r.a.stats().peers
      assert.ok(peers.b.latency >= 100, `b: ${peers.b.latency}`)
      assert.ok(peers.c.latency < peers.b.latency, `c ${peers.c.latency} < b ${peers.b.latency}`)
      // the order of `from` does not matter: c, the faster, is asked
      assert.equal(str(await r.a.fetch('x', { from: ['b', 'c'] })), 'c:x')

      // c's value fails validation: counted against c, as a sample of the full timeout
      const cBefore = r.a.stats().peers.c.latency
      const err = await rejectsWith(r.a.fetch('bad', { from: ['c'] }), 'invalid')
      assert.match(err.message, /failed validation/)
      peers = r.a.stats().peers
      assert.equal(peers.c.invalid, 1)
      assert.ok(Math.abs(peers.c.latency - (0.8 * cBefore + 0.2 * timeout)) < 1e-6, `latency = 0.8 * ${cBefore} + 0.2 * ${timeout}, got ${peers.c.latency}`)
      assert.equal(r.a.stats().invalid, 1)
      // now b is the faster on average
      assert.equal(str(await r.a.fetch('y', { from: ['c', 'b'] })), 'b:y')
      assert.equal(r.a.stats().peers.c.requests, 3)
    })

    it('an attempt that times out moves to the next member when its timeout ends', async () => {
      const timeout = 300
      const backend = new Backend()
      backend.hold('b', 'k')
      const r = open(nets, 'next-timeout', node => ({ produce: backend.produce(node), hedge: false, timeout }))
      const started = Date.now()
      assert.equal(str(await r.a.fetch('k', { from: ['b', 'c'] })), 'c:k')
      const elapsed = Date.now() - started
      assert.ok(elapsed >= timeout && elapsed < timeout + 1_500, `${elapsed} ms`)
      const s = r.a.stats()
      assert.equal(s.peers.b.failures, 1)
      assert.equal(s.peers.c.found, 1)
      assert.equal(s.networkRequests, 2)
      // the timed-out request was cancelled at b: its producer's signal fired
      await withTimeout(aborted(backend.signal('b', 'k')), 5_000, () => 'b\'s producer was not aborted')
      backend.open('b', 'k')
    })

    it('an attempt answered missing or invalid moves to the next member at once', async () => {
      const timeout = 10_000 // a fallback to the timeout would fail the test's bound
      const backend = new Backend()
      // fresh resolvers: no samples yet, so b, first in `from`, is asked first
      const missing = open(nets, 'next-missing', node => ({
        produce: backend.produce(node, key => node === 'b' ? undefined : text(`${node}:${key}`)),
        hedge: false,
        timeout
      }))
      const validated: string[] = []
      const invalid = open(nets, 'next-invalid', node => ({
        produce: backend.produce(node),
        validate: (_key, value, from) => { validated.push(from); return str(value).startsWith('c:') },
        hedge: false,
        timeout
      }))
      const started = Date.now()
      assert.equal(str(await missing.a.fetch('k', { from: ['b', 'c'] })), 'c:k')
      assert.equal(str(await invalid.a.fetch('k', { from: ['b', 'c'] })), 'c:k')
      assert.ok(Date.now() - started < 2_000, `${Date.now() - started} ms`)
      let s = missing.a.stats()
      assert.deepEqual([s.peers.b.missing, s.peers.b.failures, s.peers.c.found, s.networkRequests, s.notFound], [1, 0, 1, 2, 0])
      s = invalid.a.stats()
      assert.deepEqual(validated, ['b', 'c'])
      assert.deepEqual([s.peers.b.invalid, s.peers.b.failures, s.peers.c.found, s.networkRequests], [1, 0, 1, 2])
      assert.equal(s.invalid, 0) // the fetch succeeded: only b's value was invalid
    })

    it('a busy member is skipped at once when another member has the value', async () => {
      const backend = new Backend()
      backend.hold('b', 'hold')
      const r = open(nets, 'next-busy', node => ({ produce: backend.produce(node), hedge: false, timeout: 10_000, maxConcurrentProduce: 1, maxQueuedProduce: 0 }))
      const held = r.a.fetch('hold', { from: ['b'] })
      await backend.reached(1, 'b', 'hold')
      // b has no sample yet (its one request is pending) and comes first in `from`
      const started = Date.now()
      assert.equal(str(await r.a.fetch('k', { from: ['b', 'c'] })), 'c:k')
      assert.ok(Date.now() - started < 2_000)
      assert.equal(r.a.stats().peers.b.failures, 1)
      assert.equal(r.b.stats().producerCalls, 1)
      backend.open('b', 'hold')
      await held
    })

    it('the fetch fails not-found, timeout, invalid or no-members only when no member asked has a valid value', async () => {
      const backend = new Backend()
      for (const n of ['b', 'c', 'd']) backend.hold(n, 'slow')
      const r = open(nets, 'codes', node => ({
        produce: backend.produce(node, key => key === 'none' ? undefined : text(`${node}:${key}`)),
        validate: key => key !== 'bad',
        hedge: false,
        timeout: 200
      }))
      await rejectsWith(r.a.fetch('none'), 'not-found')
      await rejectsWith(r.a.fetch('bad'), 'invalid')
      await rejectsWith(r.a.fetch('slow'), 'timeout')
      await rejectsWith(r.a.fetch('k', { from: [] }), 'no-members')
      await rejectsWith(r.a.fetch('k', { from: ['a'] }), 'no-members') // itself is never asked
      const s = r.a.stats()
      assert.deepEqual([s.notFound, s.invalid, s.timedOut], [1, 1, 1])
      for (const n of ['b', 'c', 'd']) assert.deepEqual([s.peers[n].missing, s.peers[n].invalid, s.peers[n].failures], [1, 1, 1])
      // one member with a value is enough
      assert.match(str(await r.a.fetch('k')), /^[bcd]:k$/)
      for (const n of ['b', 'c', 'd']) backend.open(n, 'slow')
      // `attempts` caps the members asked
      const r1 = open(nets, 'codes-attempts', node => ({ produce: backend.produce(node, () => undefined), hedge: false, attempts: 2 }))
      await rejectsWith(r1.a.fetch('none'), 'not-found')
      assert.equal(r1.a.stats().networkRequests, 2)
    })
  })

  describe('5. hedging', () => {
    /** b answered fast before (low p90, ordered first), c slowly; now b is stuck on `k`. */
    async function warmed (name: string, hedge: false | undefined): Promise<{ r: Record<string, Resolver>, backend: Backend }> {
      const backend = new Backend()
      let cSlow = true
      const r = open(nets, name, node => ({
        produce: async (key, context) => {
          if (node === 'c' && cSlow) await new Promise(resolve => setTimeout(resolve, 60))
          return backend.produce(node)(key, context)
        },
        ...(hedge === undefined ? {} : { hedge })
      }))
      for (const k of ['w1', 'w2', 'w3']) await r.a.fetch(k, { from: ['b'] })
      await r.a.fetch('w4', { from: ['c'] })
      cSlow = false
      const peers = r.a.stats().peers
      assert.ok(peers.b.latency < peers.c.latency, `b ${peers.b.latency} < c ${peers.c.latency}`)
      backend.hold('b', 'k')
      return { r, backend }
    }

    it('by default a slow first member is hedged: the fetch resolves while it is still pending, and its request is cancelled', async () => {
      const { r, backend } = await warmed('hedge', undefined)
      const value = await withTimeout(r.a.fetch('k', { from: ['b', 'c'] }), 5_000, () => 'the hedged fetch did not resolve while b was stuck')
      assert.equal(str(value), 'c:k')
      assert.equal(backend.of('b', 'k'), 1) // b was asked first, and is still producing
      const s = r.a.stats()
      assert.equal(s.hedged, 1)
      assert.equal(s.networkRequests, 4 + 2)
      // the other request is cancelled: b's producer, whose only waiter it was, is aborted
      await withTimeout(aborted(backend.signal('b', 'k')), 5_000, () => 'b\'s producer was not aborted')
      backend.open('b', 'k')
    })

    it('with hedge: false the slow member sets the fetch latency', async () => {
      const { r, backend } = await warmed('no-hedge', false)
      const fetch = r.a.fetch('k', { from: ['b', 'c'] })
      await backend.reached(1, 'b', 'k')
      // a whole round trip later (on another key, to c), it still waits on b
      assert.equal(await stillPendingAfterRoundTrip(fetch, r.a, 'probe', 'c'), true)
      backend.open('b', 'k')
      assert.equal(str(await fetch), 'b:k')
      assert.equal(backend.of('c', 'k'), 0)
      assert.equal(r.a.stats().hedged, 0)
    })
  })

  describe('6. abort', () => {
    it('an aborted caller rejects with its reason; the shared request is cancelled only when every caller has aborted', async () => {
      const backend = new Backend()
      backend.hold('b', 'k')
      const r = open(nets, 'abort', node => ({ produce: backend.produce(node), hedge: false }))
      const [ac1, ac2] = [new AbortController(), new AbortController()]
      const f1 = r.a.fetch('k', { from: ['b'], signal: ac1.signal })
      const f2 = r.a.fetch('k', { from: ['b'], signal: ac2.signal })
      await backend.reached(1, 'b', 'k')
      const signal = backend.signal('b', 'k')

      const reason1 = new Error('caller 1 gave up')
      ac1.abort(reason1)
      await assert.rejects(f1, e => e === reason1)
      // a cancel would travel ahead of a later request to b: after its round trip, none came
      assert.equal(await stillPendingAfterRoundTrip(f2, r.a, 'probe', 'b'), true)
      assert.equal(signal.aborted, false)

      const reason2 = new Error('caller 2 gave up')
      ac2.abort(reason2)
      await assert.rejects(f2, e => e === reason2)
      await withTimeout(aborted(signal), 5_000, () => 'the producer was not aborted once every caller had')
      backend.open('b', 'k')

      // a caller whose signal is already aborted is rejected with it, and starts nothing
      const requests = r.a.stats().networkRequests
      const reason3 = new Error('already aborted')
      await assert.rejects(r.a.fetch('k', { signal: AbortSignal.abort(reason3) }), e => e === reason3)
      assert.equal(r.a.stats().networkRequests, requests)
      // the next fetch of k starts a new request
      assert.equal(str(await r.a.fetch('k', { from: ['b'] })), 'b:k')
      assert.equal(r.a.stats().networkRequests, requests + 1)
    })

    it('a caller without a signal keeps the shared request alive when the others abort', async () => {
      const backend = new Backend()
      backend.hold('b', 'k')
      const r = open(nets, 'abort-mixed', node => ({ produce: backend.produce(node), hedge: false }))
      const ac = new AbortController()
      const f1 = r.a.fetch('k', { from: ['b'], signal: ac.signal })
      const f2 = r.a.fetch('k', { from: ['b'] })
      await backend.reached(1, 'b', 'k')
      ac.abort(new Error('gave up'))
      await assert.rejects(f1, /gave up/)
      backend.open('b', 'k')
      assert.equal(str(await f2), 'b:k')
      assert.equal(backend.signal('b', 'k').aborted, false)
    })
  })

  describe('7. bounds', () => {
    it('pending fetches and waiters per key are bounded: one more fails busy, nothing grows', async () => {
      const backend = new Backend()
      for (const k of ['k1', 'k2']) backend.hold('b', k)
      const r = open(nets, 'bounds', node => ({ produce: backend.produce(node), hedge: false, maxPendingFetches: 2, maxWaitersPerKey: 3 }))
      const waiting = [r.a.fetch('k1', { from: ['b'] }), r.a.fetch('k2', { from: ['b'] }), r.a.fetch('k1', { from: ['b'] }), r.a.fetch('k1', { from: ['b'] })]
      await rejectsWith(r.a.fetch('k3', { from: ['b'] }), 'busy')
      await rejectsWith(r.a.fetch('k1', { from: ['b'] }), 'busy')
      // k2 has one waiter: a second is welcome
      waiting.push(r.a.fetch('k2', { from: ['b'] }))
      let s = r.a.stats()
      assert.deepEqual([s.busy, s.networkRequests, s.deduped], [2, 2, 3])
      await backend.reached(2, 'b')
      for (const k of ['k1', 'k2']) backend.open('b', k)
      assert.deepEqual((await Promise.all(waiting)).map(str), ['b:k1', 'b:k2', 'b:k1', 'b:k1', 'b:k2'])
      // the bounds count what is in flight: with the flights done, k3 is fetched
      assert.equal(str(await r.a.fetch('k3', { from: ['b'] })), 'b:k3')
      s = r.a.stats()
      assert.deepEqual([s.busy, s.networkRequests], [2, 3])
    })

    it('concurrent produce calls per member are bounded: past maxConcurrentProduce and maxQueuedProduce, one more is answered busy by the channel', async () => {
      const backend = new Backend()
      for (const k of ['k1', 'k2']) backend.hold('b', k)
      const r = open(nets, 'bounds-produce', node => ({ produce: backend.produce(node), hedge: false, maxConcurrentProduce: 2, maxQueuedProduce: 0 }))
      const held = [r.a.fetch('k1', { from: ['b'] }), r.a.fetch('k2', { from: ['b'] })]
      await backend.reached(2, 'b')
      await rejectsWith(r.a.fetch('k3', { from: ['b'] }), 'timeout') // b alone, and busy
      // another member's requests have their own bound
      const fromC = r.c.fetch('k3', { from: ['b'] })
      assert.equal(str(await fromC), 'b:k3')
      assert.equal(r.b.channel.stats().requests.rejectedBusy, 1)
      assert.equal(backend.of('b'), 3)
      for (const k of ['k1', 'k2']) backend.open('b', k)
      await Promise.all(held)
    })
  })
})

describe('resolver: a stopped member', () => {
  const cleanup: ConsensusNet[] = []
  after(async () => { await Promise.all(cleanup.map(async n => n.stop())) })

  it('is skipped at once: the fetch is answered by a member that is up', async () => {
    const nets = await mesh(cleanup, 3)
    const backend = new Backend()
    const r = open(nets, 'stopped', node => ({ produce: backend.produce(node), hedge: false, timeout: 10_000 }))
    const down = new Promise<void>(resolve => { nets[0].addEventListener('peer:down', () => { resolve() }, { once: true }) })
    await nets[1].stop()
    await withTimeout(down, 10_000, () => 'a did not see b go down')
    const started = Date.now()
    assert.equal(str(await withTimeout(r.a.fetch('k', { from: ['b', 'c'] }), 12_000, () => 'the fetch did not resolve')), 'c:k')
    const elapsed = Date.now() - started
    assert.ok(elapsed < 2_000, `the fetch took ${elapsed} ms: it waited for the stopped member's timeout`)
    // b, not connected, comes after c, which had the value: b was not asked
    assert.equal(r.a.stats().peers.b, undefined)
    assert.equal(r.a.stats().networkRequests, 1)
  })
})
