/** The resolver's Cache (src/resolver/cache.ts) on a fake clock: LRU order, the entry and byte bounds (keys counted), ttl and negativeTtl. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Cache, CACHE_MAX_BYTES, CACHE_MAX_ENTRIES, CACHE_NEGATIVE_TTL, CACHE_TTL, MISSING, type CacheOptions } from '../src/resolver/cache.ts'

/** A cache whose clock the test moves. */
function cache (options: CacheOptions = {}): { c: Cache, clock: { now: number } } {
  const clock = { now: 1_000 }
  return { c: new Cache(options, () => clock.now), clock }
}

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill)

/** Whether `key` is held (a read: it becomes the most recently used). */
function holds (c: Cache, key: string): boolean {
  return c.get(key) !== undefined
}

describe('Cache', () => {
  it('has bounded defaults and rejects options that are not non-negative integers, or ttls over 2^31-1 ms', () => {
    const c = new Cache({}, Date.now)
    assert.deepEqual([c.maxEntries, c.maxBytes, c.ttl, c.negativeTtl], [CACHE_MAX_ENTRIES, CACHE_MAX_BYTES, CACHE_TTL, CACHE_NEGATIVE_TTL])
    for (const bad of [{ maxEntries: -1 }, { maxBytes: 1.5 }, { ttl: Number.NaN }, { negativeTtl: Infinity }, { ttl: 2 ** 31 }, { negativeTtl: 2 ** 31 }]) {
      assert.throws(() => new Cache(bad, Date.now), RangeError, JSON.stringify(bad))
    }
    assert.throws(() => new Cache({ ttl: 2 ** 31 }, Date.now), /cache\.ttl must be a number of ms from 0 to 2147483647, got 2147483648/)
    assert.throws(() => new Cache(5 as CacheOptions, Date.now), /cache options must be an object, got number/)
    const longest = new Cache({ ttl: 2 ** 31 - 1, negativeTtl: 2 ** 31 - 1 }, Date.now)
    assert.deepEqual([longest.ttl, longest.negativeTtl], [2 ** 31 - 1, 2 ** 31 - 1])
  })

  it('counts keys in bytes: an entry costs its value\'s byteLength plus its key\'s length, a missing mark its key\'s', () => {
    const { c } = cache({ maxBytes: 100 })
    c.set('key', bytes(10))
    assert.equal(c.bytes, 13)
    c.setMissing('a missing key')
    assert.equal(c.bytes, 13 + 13)
    // what a memory bound is for: many entries of large keys and empty values are held in check
    for (let i = 0; i < 10; i++) c.setMissing(`${i}`.padStart(40, 'k'))
    assert.deepEqual([c.size, c.bytes], [2, 80]) // the last two marks, 40 bytes each
    // a key longer than maxBytes is not held, not even as a missing mark
    c.setMissing('k'.repeat(101))
    assert.equal(c.get('k'.repeat(101)), undefined)
    assert.ok(c.bytes <= 100)
    for (let i = 0; i < 10; i++) c.delete(`${i}`.padStart(40, 'k'))
    assert.deepEqual([c.size, c.bytes], [0, 0])
  })

  it('get answers a value, MISSING for a key known missing, or undefined', () => {
    const { c } = cache()
    c.set('v', bytes(3))
    c.setMissing('m')
    assert.deepEqual(c.get('v'), bytes(3))
    assert.equal(c.get('m'), MISSING)
    assert.equal(c.get('none'), undefined)
    assert.deepEqual([c.size, c.bytes], [2, 3 + 1 + 1])
  })

  it('evicts the least recently used beyond maxEntries; a read makes an entry the most recently used', () => {
    const { c } = cache({ maxEntries: 3 })
    for (const k of ['a', 'b', 'c']) c.set(k, bytes(1))
    assert.ok(holds(c, 'a')) // order now b, c, a
    c.set('d', bytes(1)) // evicts b
    assert.equal(c.size, 3)
    assert.equal(c.get('b'), undefined)
    c.setMissing('e') // a missing mark is an entry too: evicts c
    assert.equal(c.get('c'), undefined)
    assert.deepEqual([holds(c, 'a'), holds(c, 'd'), c.get('e')], [true, true, MISSING])
    assert.deepEqual([c.size, c.bytes], [3, 2 + 2 + 1])
  })

  it('replacing a key makes it the most recently used and counts its bytes once', () => {
    const { c } = cache({ maxEntries: 2 })
    c.set('a', bytes(5))
    c.set('b', bytes(1))
    c.set('a', bytes(2)) // order b, a
    assert.equal(c.bytes, 2 + 3)
    c.set('c', bytes(1)) // evicts b
    assert.equal(c.get('b'), undefined)
    assert.deepEqual(c.get('a'), bytes(2))
    c.setMissing('a') // a value replaced by a missing mark frees its bytes
    assert.deepEqual([c.size, c.bytes], [2, 2 + 1])
  })

  it('evicts the least recently used beyond maxBytes, and never holds an entry costing more than maxBytes', () => {
    const { c } = cache({ maxBytes: 10 })
    c.set('a', bytes(4)) // 5 bytes with its key
    c.set('b', bytes(4))
    c.get('a') // order b, a
    c.set('c', bytes(4)) // 15 bytes: evicts b
    assert.deepEqual([c.size, c.bytes], [2, 10])
    assert.equal(c.get('b'), undefined)
    c.set('big', bytes(8)) // 11 with its key
    assert.equal(c.get('big'), undefined)
    assert.deepEqual([c.size, c.bytes], [2, 10])
    // a too-large value for a key already held removes the old value
    c.set('a', bytes(10))
    assert.equal(c.get('a'), undefined)
    assert.deepEqual([c.size, c.bytes], [1, 5])
    c.set('full', bytes(6)) // exactly maxBytes with its key: held, everything else evicted
    assert.deepEqual([c.size, c.bytes], [1, 10])
  })

  it('a value expires after ttl: a read then misses and frees it', () => {
    const { c, clock } = cache({ ttl: 100 })
    c.set('a', bytes(4))
    clock.now += 99
    assert.deepEqual(c.get('a'), bytes(4)) // reading does not extend the ttl
    clock.now += 1
    assert.equal(c.get('a'), undefined)
    assert.deepEqual([c.size, c.bytes], [0, 0])
    // set again: a new ttl from now
    c.set('a', bytes(4))
    clock.now += 50
    c.set('a', bytes(4))
    clock.now += 99
    assert.deepEqual(c.get('a'), bytes(4))
  })

  it('a missing mark expires after negativeTtl, independently of ttl', () => {
    const { c, clock } = cache({ ttl: 1_000, negativeTtl: 50 })
    c.setMissing('m')
    c.set('v', bytes(1))
    clock.now += 49
    assert.equal(c.get('m'), MISSING)
    clock.now += 1
    assert.equal(c.get('m'), undefined)
    assert.deepEqual(c.get('v'), bytes(1))
    assert.equal(c.size, 1)
  })

  it('ttl 0 and negativeTtl 0 hold nothing (and drop what was held for the key)', () => {
    const { c } = cache({ ttl: 0, negativeTtl: 0 })
    c.set('v', bytes(1))
    c.setMissing('m')
    assert.deepEqual([c.size, c.bytes, c.get('v'), c.get('m')], [0, 0, undefined, undefined])
    const { c: d } = cache({ negativeTtl: 0 })
    d.set('k', bytes(2))
    d.setMissing('k') // "missing now" must not leave the old value behind
    assert.deepEqual([d.size, d.bytes, d.get('k')], [0, 0, undefined])
  })

  it('maxEntries 0 holds nothing', () => {
    const { c } = cache({ maxEntries: 0 })
    c.set('v', bytes(1))
    c.setMissing('m')
    assert.deepEqual([c.size, c.bytes], [0, 0])
  })

  it('delete removes a value or a missing mark and says whether there was one', () => {
    const { c } = cache()
    c.set('v', bytes(3))
    c.setMissing('m')
    assert.equal(c.delete('v'), true)
    assert.equal(c.delete('m'), true)
    assert.equal(c.delete('v'), false)
    assert.deepEqual([c.size, c.bytes], [0, 0])
  })

  it('expired entries never read still count against the bounds, and are evicted first when least recently used', () => {
    const { c, clock } = cache({ maxEntries: 2, ttl: 10 })
    c.set('old', bytes(1))
    clock.now += 20
    c.set('a', bytes(1))
    c.set('b', bytes(1)) // evicts the expired 'old', the least recently used
    assert.deepEqual([c.size, c.bytes], [2, 4])
    assert.deepEqual([holds(c, 'a'), holds(c, 'b')], [true, true])
  })
})
