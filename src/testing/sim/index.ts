/**
 * The deterministic simulation: the library's core on a simulated network in virtual time, every
 * run replayable from its seed (simulation.ts). Identity is the node's name, vouched for by the
 * simulation: there is no Noise handshake. A failing run's error names its seed; the pattern:
 *
 *   const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 32))
 *   const sim = createSimulation({ seed, nodes: 4, link: { latency: 80, jitter: 10 } })
 *   ... // on failure the SimulationError says "(seed N)": rerun with SEED=N to replay it exactly
 *
 * Code under simulation must take time and chance only from its components (`clock`, `random`)
 * and must not wait on real I/O: a run does not wait for it, so where it lands is not replayable.
 */
export { createSimulation, Simulation } from './simulation.ts'
export type { SimNode, SimNodeComponents, SimNodeFactory, SimulationInit } from './simulation.ts'
export { SimulationError, Scheduler, VirtualClock } from './scheduler.ts'
export type { RunOptions } from './scheduler.ts'
export { SimNetwork } from './network.ts'
export type { Link, LinkStats } from './network.ts'
export { SimTransport, parseSimAddress } from './transport.ts'
export { SimStream } from './stream.ts'
