/**
 * The deterministic simulation: the library's core on a simulated network in virtual time, every
 * run replayable from its seed. See simulation.ts.
 */
export { createSimulation, Simulation } from './simulation.ts'
export type { SimNode, SimNodeComponents, SimNodeFactory, SimulationInit } from './simulation.ts'
export { SimulationError, Scheduler, VirtualClock } from './scheduler.ts'
export type { RunOptions } from './scheduler.ts'
export { SimNetwork } from './network.ts'
export type { Link, LinkStats } from './network.ts'
export { SimTransport, parseSimAddress } from './transport.ts'
export { SimStream } from './stream.ts'
