/**
 * `node benchmarks/sim-scheduler.ts`: what virtual time costs, in one process. Prints the CPU time
 * (user + system: on a shared machine wall time mostly measures the neighbours), best of five
 * rounds each, of:
 * - the event queue alone: N events, 1,000 timers pending at any time (each one, when it fires,
 *   sets the next), popped and called synchronously (no settling);
 * - the scheduler: the same through `run` (each event followed by the settling of its promise
 *   reactions); the difference with the line above is the settling step per event;
 * - for comparison, a real `setImmediate` per event (the other way to settle);
 * - streams: 90,000 deliveries of 100 B between 10 nodes over 80 ± 10 ms links (the vote
 *   round shape, without the core);
 * - 100 nodes: each opens a stream to every other (both ways at once: up to two connections per
 *   pair, as on libp2p), then one all-to-all round of 100 B (9,900 deliveries); CPU and RSS.
 */
import { EventQueue, ScheduledEvent } from '../src/testing/sim/event-queue.ts'
import { Scheduler } from '../src/testing/sim/scheduler.ts'
import { createSimulation, type SimNode, type SimNodeComponents } from '../src/testing/sim/index.ts'
import type { LinkStream } from '../src/link/transport.ts'

const N = 1_000_000
const ROUNDS = 5

const PENDING = 1000

/** CPU ms (user + system) of `run`. */
async function cpu (run: () => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage()
  await run()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
}

async function best (label: string, per: number, unit: string, run: () => Promise<void> | void): Promise<void> {
  let min = Infinity
  for (let i = 0; i < ROUNDS; i++) min = Math.min(min, await cpu(run))
  if (unit === 'run') console.log(`${label.padEnd(44)} ${min.toFixed(0).padStart(6)} ms of CPU per run`)
  else console.log(`${label.padEnd(44)} ${(min * 1e6 / per).toFixed(0).padStart(6)} ns/${unit}   ${(per / min * 1000).toFixed(0).padStart(10)} per CPU s`)
}

function queueOnly (): void {
  const queue = new EventQueue()
  let fired = 0
  let seq = 0
  let now = 0
  const fn = (): void => { if (++fired + PENDING <= N) queue.push(new ScheduledEvent(now + 1 + fired % 7, seq++, fn, undefined)) }
  for (let i = 0; i < PENDING; i++) queue.push(new ScheduledEvent(i % 10, seq++, fn, undefined))
  for (let e = queue.pop(); e !== undefined; e = queue.pop()) {
    now = e.at
    e.fn!()
  }
  if (fired !== N) throw new Error('lost events')
}

async function scheduler (): Promise<void> {
  const s = new Scheduler({ seed: 1 })
  const clock = s.clock()
  let fired = 0
  const fn = (): void => { if (++fired + PENDING <= N) clock.setTimeout(fn, 1 + fired % 7) }
  for (let i = 0; i < PENDING; i++) clock.setTimeout(fn, i % 10)
  await s.run({ until: () => fired === N, timeout: 1e9 })
}

async function immediates (): Promise<void> {
  await new Promise<void>(resolve => {
    let left = N
    const step = (): void => { if (--left === 0) resolve(); else setImmediate(step) }
    setImmediate(step)
  })
}

/** Every node sends 100 B to every other node every 80 ms, on one stream each; 1,000 rounds. */
class Voter implements SimNode {
  readonly c: SimNodeComponents
  readonly peers: string[]
  readonly streams: LinkStream[] = []
  constructor (c: SimNodeComponents, peers: string[]) {
    this.c = c
    this.peers = peers
  }

  async start (): Promise<void> {
    await this.c.transport.start(['/vote'], {
      stream: (stream, peer) => { stream.addEventListener('message', evt => { this.c.onDelivery(peer, 'votes', evt.data as Uint8Array) }) },
      connection: () => {},
      isBlocked: () => false,
      refused: () => {}
    }, { maxInboundStreams: 32 })
  }

  async stop (): Promise<void> {}
}

/** `nodes` voters, each with a stream to every other. */
async function mesh (nodes: number): Promise<{ sim: ReturnType<typeof createSimulation<Voter, undefined>>, voters: Voter[] }> {
  const names = Array.from({ length: nodes }, (_, i) => `n${i}`)
  const sim = createSimulation<Voter, undefined>({ nodes, seed: 1, link: { latency: 80, jitter: 10 }, node: (c, _, name) => new Voter(c, names.filter(n => n !== name)) })
  const voters = sim.nodes.map(name => sim.net(name))
  for (const v of voters) {
    // a signal each: thousands of listeners on one AbortSignal cost O(n) each to add
    for (const peer of v.peers) void v.c.transport.open(peer, peer, ['/vote'], { signal: new AbortController().signal, force: false }).then(s => { v.streams.push(s) })
  }
  await sim.run({ until: () => voters.every(v => v.streams.length === nodes - 1), timeout: 10_000 })
  return { sim, voters }
}

async function hundred (): Promise<void> {
  const t0 = performance.now()
  const { sim, voters } = await mesh(100)
  const vote = new Uint8Array(100)
  for (const v of voters) for (const s of v.streams) s.send(vote)
  await sim.run({ until: () => sim.deliveries === 9_900, timeout: 10_000 })
  console.log(`  (${sim.events} events, ${(performance.now() - t0).toFixed(0)} ms of wall time, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB)`)
}

async function votes (): Promise<void> {
  const t0 = performance.now()
  const { sim, voters } = await mesh(10)
  const vote = new Uint8Array(100)
  let rounds = 0
  const round = (): void => {
    for (const v of voters) for (const s of v.streams) s.send(vote)
    if (++rounds < 1000) sim.clock.setTimeout(round, 80)
  }
  round()
  await sim.run({ until: () => sim.deliveries === 90_000, timeout: 200_000 })
  const ms = performance.now() - t0
  console.log(`  (${sim.events} events, ${(sim.now / 1000).toFixed(1)} s virtual in ${ms.toFixed(0)} ms of wall time)`)
}

await best('event queue alone (push + pop + call)', N, 'event', queueOnly)
await best('scheduler run (with the settling step)', N, 'event', scheduler)
await best('a setImmediate per event (for comparison)', N, 'event', immediates)
await best('10 nodes, 90,000 deliveries of 100 B', 90_000, 'delivery', votes)
await best('100 nodes: mesh + 9,900 deliveries', 1, 'run', hundred)
