/**
 * Virtual time: events in (time, sequence) order, jumps over idle time, promise reactions settled
 * between events, and runs that fail clearly (stall, timeout, livelock, a throwing event), naming
 * the seed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Scheduler, SimulationError } from '../../src/testing/sim/index.ts'

describe('scheduler', () => {
  it('runs events by time, then in the order they were scheduled; soon goes after what is already due', async () => {
    const s = new Scheduler({ seed: 1 })
    const clock = s.clock()
    const order: string[] = []
    clock.setTimeout(() => { order.push('b@10') }, 10)
    clock.setTimeout(() => { order.push('a@5') }, 5)
    clock.setTimeout(() => {
      order.push('c@10')
      clock.soon(() => { order.push(`soon@${clock.now()}`) })
      clock.setTimeout(() => { order.push('zero@10') }, 0)
    }, 10)
    clock.setTimeout(() => { order.push('d@10') }, 10)
    clock.setTimeout(() => { order.push('frac@7.5') }, 7.5)
    await s.run({ for: 20 })
    assert.deepEqual(order, ['a@5', 'frac@7.5', 'b@10', 'c@10', 'd@10', 'soon@10', 'zero@10'])
    assert.equal(s.now, 20)
  })

  it('jumps over idle time: an hour of timers takes no wall time', async () => {
    const s = new Scheduler({ seed: 1 })
    const clock = s.clock()
    let fired = 0
    const tick = (): void => {
      fired++
      clock.setTimeout(tick, 60_000)
    }
    clock.setTimeout(tick, 60_000)
    const t0 = performance.now()
    await s.run({ for: 3_600_000 })
    assert.equal(fired, 60)
    assert.equal(s.now, 3_600_000)
    assert.ok(performance.now() - t0 < 1_000)
  })

  it('clearTimeout cancels; a cancelled or unknown timer is ignored', async () => {
    const s = new Scheduler({ seed: 1 })
    const clock = s.clock()
    let fired = false
    const timer = clock.setTimeout(() => { fired = true }, 5)
    clock.clearTimeout(timer)
    clock.clearTimeout(timer)
    clock.clearTimeout(undefined)
    clock.clearTimeout(42)
    await s.run({ for: 10 })
    assert.equal(fired, false)
  })

  it('settles every promise reaction of an event before the next event runs', async () => {
    const s = new Scheduler({ seed: 1 })
    const clock = s.clock()
    const log: string[] = []
    clock.setTimeout(() => {
      void (async () => {
        for (let i = 0; i < 100; i++) await Promise.resolve()
        log.push('deep chain done')
        await new Promise<void>(resolve => { queueMicrotask(resolve) })
        log.push('and its queueMicrotask')
      })()
    }, 1)
    clock.setTimeout(() => { log.push('next event') }, 1)
    await s.run({ for: 1 })
    assert.deepEqual(log, ['deep chain done', 'and its queueMicrotask', 'next event'])
  })

  it('sleep resolves in virtual time and rejects with the signal reason', async () => {
    const s = new Scheduler({ seed: 1 })
    const clock = s.clock()
    const woke: number[] = []
    void clock.sleep(250).then(() => { woke.push(clock.now()) })
    const controller = new AbortController()
    const aborted = clock.sleep(1_000, { signal: controller.signal }).catch(err => err)
    clock.setTimeout(() => { controller.abort(new Error('enough')) }, 100)
    await s.run({ for: 2_000 })
    assert.deepEqual(woke, [250])
    assert.equal(((await aborted) as Error).message, 'enough')
  })

  it('run until resolves once the condition holds, at the time of the event that made it so', async () => {
    const s = new Scheduler({ seed: 1 })
    const clock = s.clock()
    let n = 0
    const tick = (): void => {
      n++
      clock.setTimeout(tick, 10)
    }
    clock.setTimeout(tick, 10)
    await s.run({ until: () => n === 5, timeout: 1_000 })
    assert.equal(s.now, 50)
  })

  it('fails a run at its virtual deadline, naming the time and the seed', async () => {
    const s = new Scheduler({ seed: 7 })
    const clock = s.clock()
    const tick = (): void => { clock.setTimeout(tick, 100) }
    tick()
    await assert.rejects(s.run({ until: () => false, timeout: 1_234 }), (err: SimulationError) => {
      assert.ok(err instanceof SimulationError)
      assert.equal(err.reason, 'timeout')
      assert.equal(err.seed, 7)
      assert.match(err.message, /^timeout at t=1234 ms \(seed 7\)/)
      return true
    })
    assert.equal(s.now, 1_234)
  })

  it('fails a run that stalls (no event left, condition false), naming the time and the seed', async () => {
    const s = new Scheduler({ seed: 7 })
    s.clock().setTimeout(() => {}, 1_234)
    await assert.rejects(s.run({ until: () => false, timeout: 60_000 }),
      /^SimulationError: stalled at t=1234 ms \(seed 7\): no event left/)
  })

  it('fails a livelock (events without time advancing) instead of spinning forever', async () => {
    const s = new Scheduler({ seed: 3, maxEventsPerInstant: 1_000 })
    const clock = s.clock()
    const spin = (): void => { clock.soon(spin) }
    clock.setTimeout(spin, 5)
    await assert.rejects(s.run({ for: 10 }), /^SimulationError: livelock at t=5 ms \(seed 3\): 1000 events/)
  })

  it('fails a run with what an event threw, and the run after goes on', async () => {
    const s = new Scheduler({ seed: 9 })
    const clock = s.clock()
    let later = false
    clock.setTimeout(() => { throw new Error('boom') }, 3)
    clock.setTimeout(() => { later = true }, 4)
    await assert.rejects(s.run({ for: 10 }), (err: SimulationError) => {
      assert.match(err.message, /^failure at t=3 ms \(seed 9\): an event failed: boom/)
      assert.equal((err.cause as Error).message, 'boom')
      return true
    })
    await s.run({ for: 10 })
    assert.equal(later, true)
  })

  it("an owner's timers never fire once it is dead", async () => {
    const s = new Scheduler({ seed: 1 })
    const owner = { alive: true }
    const clock = s.clock(owner)
    const fired: number[] = []
    clock.setTimeout(() => { fired.push(1) }, 1)
    clock.setTimeout(() => { fired.push(2) }, 2)
    s.clock().setTimeout(() => { owner.alive = false }, 1.5)
    await s.run({ for: 5 })
    assert.deepEqual(fired, [1])
  })

  it('rejects bad options and a second run at once', async () => {
    const s = new Scheduler({ seed: 1 })
    await assert.rejects(s.run({ for: -1 }), RangeError)
    await assert.rejects(s.run({ until: () => true, timeout: Infinity }), RangeError)
    const first = s.run({ for: 1 })
    await assert.rejects(s.run({ for: 1 }), /already under way/)
    await first
  })

  it('stop drops every event and fails a run under way', async () => {
    const s = new Scheduler({ seed: 5 })
    const clock = s.clock()
    clock.setTimeout(() => { s.stop() }, 10)
    clock.setTimeout(() => { assert.fail('ran after stop') }, 20)
    await assert.rejects(s.run({ for: 100 }), /^SimulationError: stopped at t=10 ms \(seed 5\)/)
  })
})
