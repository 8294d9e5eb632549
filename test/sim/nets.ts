/**
 * Test helpers for the library's core (Net) on the simulation: a meshed simulation, what a node
 * receives and which peer events it sees (each stamped with virtual time), and `settle`, which runs
 * the simulation until a promise of the core settles. No libp2p is loaded.
 */
import { createSimulation, type Simulation, type SimulationInit } from '../../src/testing/sim/index.ts'
import type { ConsensusNetInit } from '../../src/config.ts'
import type { Net } from '../../src/net/net.ts'

/** Reconnects within a few hundred virtual ms. */
export const RECONNECT = { initialDelay: 20, maxDelay: 200, factor: 2, jitter: 0.2 }

type NetSimulationInit = SimulationInit<Net, ConsensusNetInit>

/** A simulation of Nets, reconnecting fast unless `init.init` says otherwise. */
export function nets (init: NetSimulationInit): Simulation {
  const own = init.init
  return createSimulation({ ...init, init: typeof own === 'function' ? own : { reconnect: RECONNECT, ...own } })
}

/** A simulation of Nets, each connected to the whole membership, run until every node has an open stream to every other. */
export async function meshed (init: NetSimulationInit, timeout = 10_000): Promise<Simulation> {
  const sim = nets(init)
  await connectAll(sim, timeout)
  return sim
}

/** Connects every node that is up to the whole membership (again), and runs until all of them reach all. */
export async function connectAll (sim: Simulation, timeout = 10_000): Promise<void> {
  const up = sim.nodes.filter(node => sim.isUp(node))
  for (const node of up) await sim.net(node).connect(sim.membership)
  for (const node of up) await settle(sim, sim.net(node).waitFor(sim.nodes.length), timeout)
}

/** Runs the simulation until `promise` settles (failing `timeout` virtual ms from now); returns its value or throws its error. */
export async function settle<T> (sim: Simulation, promise: Promise<T>, timeout = 10_000): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined
  promise.then(value => { outcome = { value } }, (error: unknown) => { outcome = { error } })
  await sim.run({ until: () => outcome !== undefined, timeout })
  if (outcome === undefined) throw new Error('unreachable: the run ended before the promise settled')
  if ('error' in outcome) throw outcome.error
  return outcome.value
}

export interface Received {
  readonly from: string
  readonly data: Uint8Array
  /** Virtual ms. */
  readonly at: number
}

/** What one incarnation of a node receives on the default channel ('message' events), in order. */
export class Inbox {
  readonly messages: Received[] = []

  constructor (net: Net) {
    net.addEventListener('message', evt => { this.messages.push({ from: evt.detail.from, data: evt.detail.data, at: net.clock.now() }) })
  }

  /** The payloads from `node`, in order. */
  from (node: string): Uint8Array[] {
    return this.messages.filter(m => m.from === node).map(m => m.data)
  }
}

/** A node's 'peer:up' / 'peer:down' events, as '<virtual ms> <type> <node>'. */
export function peerEvents (net: Net): string[] {
  const log: string[] = []
  for (const type of ['peer:up', 'peer:down'] as const) net.addEventListener(type, evt => { log.push(`${net.clock.now()} ${type} ${evt.detail.node}`) })
  return log
}

/** `data` is numbered `i` (4 bytes, big-endian), padded to `size`. */
export function seq (i: number, size = 4): Uint8Array {
  const b = new Uint8Array(size)
  new DataView(b.buffer).setUint32(0, i)
  return b
}

export const seqOf = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0)

/** 0, 1, ..., n - 1. */
export const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i)

const encoder = new TextEncoder()
const decoder = new TextDecoder()
export const text = (s: string): Uint8Array => encoder.encode(s)
export const str = (b: Uint8Array): string => decoder.decode(b)
