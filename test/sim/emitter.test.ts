/** A simulated stream's listeners follow EventTarget's rules where the core can see them. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Emitter } from '../../src/testing/sim/emitter.ts'

describe('stream listeners', () => {
  it('calls a listener added twice once, honours once and signal, skips one removed during a dispatch', () => {
    const errors: unknown[] = []
    const events = new Emitter(err => { errors.push(err) })
    const calls: string[] = []
    const a = (): void => { calls.push('a') }
    const b = (): void => { calls.push('b') }
    const c = (): void => {
      calls.push('c')
      events.remove('x', d)
    }
    const d = (): void => { calls.push('d') }
    events.add('x', a)
    events.add('x', a)
    events.add('x', b, { once: true })
    const controller = new AbortController()
    events.add('x', () => { calls.push('signal') }, { signal: controller.signal })
    events.add('x', c)
    events.add('x', d)
    events.add('x', () => { throw new Error('reported, not thrown') })
    assert.equal(events.count('x'), 6)
    events.dispatch(new Event('x'))
    assert.deepEqual(calls, ['a', 'b', 'signal', 'c'])
    assert.equal((errors[0] as Error).message, 'reported, not thrown')
    controller.abort()
    calls.length = 0
    events.dispatch(new Event('x'))
    assert.deepEqual(calls, ['a', 'c'])
    assert.equal(events.count('x'), 3)
  })
})
