/**
 * Determinism: a scenario with jitter, bandwidth, random traffic and every kind of fault, run
 * twice with one seed, gives the same trace, the same events and the same digest; another seed
 * gives another run.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { probes, type Probe } from './helpers.ts'
import type { LinkStream } from '../../src/link/transport.ts'

interface Outcome {
  digest: string
  deliveries: number
  events: number
  trace: string[]
  resets: number
}

async function scenario (seed: number): Promise<Outcome> {
  const trace: string[] = []
  const sim = probes({
    nodes: 4,
    seed,
    link: { latency: 20, jitter: 15, bandwidth: 200_000 },
    trace: e => { trace.push(`${e.from}>${e.to} ${e.bytes} ${e.jitter} ${e.delay}`) }
  })
  const { clock } = sim
  const pick = (from: readonly string[]): string => from[Math.floor(sim.random() * from.length)]
  const streams = new Map<string, { net: Probe, stream: LinkStream }>()
  const opening = new Set<string>()
  let resets = 0
  let sent = 0

  const tick = (): void => {
    clock.setTimeout(tick, 1 + sim.random() * 8)
    const from = pick(sim.nodes)
    const to = pick(sim.nodes.filter(n => n !== from))
    if (!sim.isUp(from)) return
    const net = sim.net(from)
    const key = `${from}>${to}`
    const known = streams.get(key)
    if (known?.net === net && known.stream.writeStatus === 'writable') {
      const data = new Uint8Array(1 + Math.floor(sim.random() * 3000))
      data[0] = sent++ & 0xff
      for (let i = 1; i < data.length; i += 97) data[i] = Math.floor(sim.random() * 256)
      known.stream.send(data)
    } else if (!opening.has(key)) {
      opening.add(key)
      const controller = new AbortController()
      clock.setTimeout(() => { controller.abort(new Error('open timeout')) }, 300)
      net.open(to, { signal: controller.signal }).then(stream => {
        streams.set(key, { net, stream })
        net.read(stream, to)
        stream.addEventListener('close', evt => { if (evt.error !== undefined) resets++ })
      }, () => {}).finally(() => { opening.delete(key) })
    }
  }
  clock.setTimeout(tick, 0)

  const at = (ms: number, fault: () => void): void => { clock.setTimeout(fault, ms + sim.random() * 100) }
  at(300, () => { sim.cut('n0', 'n1') })
  at(600, () => { sim.blackhole('n1', 'n2') })
  at(900, () => { sim.heal('n1', 'n2') })
  at(1_200, () => { sim.crash('n3') })
  at(1_500, () => { sim.restart('n3') })
  at(1_800, () => { sim.partition(['n0', 'n1'], ['n2', 'n3']) })
  at(2_100, () => { sim.healAll() })
  at(2_200, () => { sim.link('n2', 'n0').set({ latency: 5, jitter: 50 }, 'n2') })
  await sim.run({ for: 3_000 })
  const outcome = { digest: sim.digest(), deliveries: sim.deliveries, events: sim.events, trace, resets }
  sim.stop()
  return outcome
}

describe('simulation determinism', () => {
  it('the same seed replays the same run, delivery for delivery; another seed does not', async () => {
    const first = await scenario(11)
    const again = await scenario(11)
    assert.ok(first.deliveries > 300, `deliveries: ${first.deliveries}`)
    assert.ok(first.resets > 0, 'the faults reset streams')
    assert.equal(again.digest, first.digest)
    assert.equal(again.deliveries, first.deliveries)
    assert.equal(again.events, first.events)
    assert.deepEqual(again.trace, first.trace)
    const other = await scenario(12)
    assert.notEqual(other.digest, first.digest)
    assert.notDeepEqual(other.trace, first.trace)
  })

  it('the digest covers time, ends, channel and bytes, in order', async () => {
    const sim = probes({ nodes: 2, seed: 3 })
    const empty = sim.digest()
    assert.match(empty, /^[0-9a-f]{64}$/)
    const components = sim.net('n0').c
    components.onDelivery('n1', 'votes', Uint8Array.of(1))
    const one = sim.digest()
    assert.notEqual(one, empty)
    assert.equal(sim.digest(), one, 'reading it changes nothing')
    assert.equal(sim.deliveries, 1)
    // each part of a delivery changes the digest: one fresh run per change, from the same seed
    const digestOf = async (deliver: (sim: ReturnType<typeof probes>) => Promise<void> | void): Promise<string> => {
      const s = probes({ nodes: 2, seed: 3 })
      await deliver(s)
      return s.digest()
    }
    const variants = {
      same: await digestOf(s => { s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(1)) }),
      channel: await digestOf(s => { s.net('n0').c.onDelivery('n1', 'blocks', Uint8Array.of(1)) }),
      bytes: await digestOf(s => { s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(2)) }),
      from: await digestOf(s => { s.net('n0').c.onDelivery('n0', 'votes', Uint8Array.of(1)) }),
      to: await digestOf(s => { s.net('n1').c.onDelivery('n1', 'votes', Uint8Array.of(1)) }),
      time: await digestOf(async s => {
        await s.run({ for: 1 })
        s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(1))
      }),
      ab: await digestOf(s => {
        s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(1))
        s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(2))
      }),
      ba: await digestOf(s => {
        s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(2))
        s.net('n0').c.onDelivery('n1', 'votes', Uint8Array.of(1))
      })
    }
    assert.equal(variants.same, one, 'the same delivery in the same run gives the same digest')
    assert.equal(new Set(Object.values(variants)).size, Object.keys(variants).length, JSON.stringify(variants))
  })
})
