import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { backoffDelay, sleep } from '../src/link/backoff.ts'
import { systemClock } from '../src/clock.ts'

const o = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 }

describe('backoff', () => {
  it('grows by the factor and stops at the cap', () => {
    const mid = (): number => 0.5 // no jitter
    assert.deepEqual([0, 1, 2, 3, 4, 10, 1000].map(a => backoffDelay(a, o, mid)), [100, 200, 400, 800, 1000, 1000, 1000])
  })
  it('jitters within ±jitter and never past the cap', () => {
    assert.equal(backoffDelay(0, o, () => 0), 50)
    assert.equal(backoffDelay(0, o, () => 1), 150)
    assert.equal(backoffDelay(20, o, () => 1), 1000)
  })
  it('sleep ends at once when aborted, leaving no timer', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
    const before = timers()
    const ac = new AbortController()
    const p = sleep(systemClock, 60_000, ac.signal)
    assert.equal(timers(), before + 1)
    ac.abort()
    await p
    assert.equal(timers(), before)
    await sleep(systemClock, 60_000, ac.signal) // already aborted: returns at once, sets no timer
    assert.equal(timers(), before)
  })
})
