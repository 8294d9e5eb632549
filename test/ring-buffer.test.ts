import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RingBuffer } from '../src/queue/ring-buffer.ts'

const msg = (i: number, size = 1): Uint8Array => new Uint8Array(size).fill(i)

describe('RingBuffer', () => {
  it('is FIFO across growth and wrap-around', () => {
    const r = new RingBuffer(1000, Infinity)
    let next = 0
    let expect = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7; i++) r.push(msg(next++ % 256))
      for (let i = 0; i < 5; i++) assert.equal(r.shift()![0], expect++ % 256)
    }
    while (r.length > 0) assert.equal(r.shift()![0], expect++ % 256)
    assert.equal(expect, next)
    assert.equal(r.bytes, 0)
  })

  it('drops the oldest when the count bound is reached, and says how many', () => {
    const r = new RingBuffer(3, Infinity)
    assert.equal(r.push(msg(1)), 0)
    assert.equal(r.push(msg(2)), 0)
    assert.equal(r.push(msg(3)), 0)
    assert.equal(r.push(msg(4)), 1)
    assert.deepEqual([r.peek(0)![0], r.peek(1)![0], r.peek(2)![0]], [2, 3, 4])
    assert.equal(r.peek(3), undefined)
  })

  it('drops as many of the oldest as the byte bound needs', () => {
    const r = new RingBuffer(100, 10)
    r.push(msg(1, 4))
    r.push(msg(2, 4))
    assert.equal(r.push(msg(3, 6)), 1) // 4 + 6 fits once the first is gone
    assert.equal(r.bytes, 10)
    assert.equal(r.push(msg(4, 9)), 2)
    assert.equal(r.length, 1)
    assert.equal(r.shift()![0], 4)
  })

  it('keeps a single item larger than the byte bound, alone', () => {
    const r = new RingBuffer(10, 4)
    r.push(msg(1, 2))
    assert.equal(r.push(msg(2, 8)), 1)
    assert.equal(r.length, 1)
    assert.equal(r.push(msg(3, 1)), 1)
    assert.equal(r.shift()![0], 3)
  })

  it('counts zero-length items against the count bound', () => {
    const r = new RingBuffer(2, 0)
    r.push(new Uint8Array(0))
    r.push(new Uint8Array(0))
    assert.equal(r.push(new Uint8Array(0)), 1)
    assert.equal(r.length, 2)
  })

  it('clear() reports what it discarded', () => {
    const r = new RingBuffer(10, Infinity)
    for (let i = 0; i < 6; i++) r.push(msg(i))
    assert.equal(r.clear(), 6)
    assert.equal(r.length, 0)
    assert.equal(r.shift(), undefined)
  })

  it('rejects a non-positive count bound', () => {
    assert.throws(() => new RingBuffer(0, 10), RangeError)
  })
})
