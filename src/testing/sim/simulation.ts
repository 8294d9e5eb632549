/**
 * A deterministic simulation: N nodes, each the library's core on a simulated transport, on one
 * virtual clock, with the fault controls of the libp2p testing network. Everything random is drawn
 * from the seed: each link direction's jitter, each node's own stream (backoff jitter, request
 * ids, sessions; a new one per restart) and `random()`, each a stream of its own, so traffic on one
 * never shifts the numbers another sees. The same program and seed give the same run, event for
 * event, and the same `digest()` of every delivery; print the seed when a test fails and replay it.
 *
 * Nodes are created and started by `createSimulation` (and `restart`): `start()` is called at
 * once, and the transport's start completes synchronously, so a node's start has settled by the
 * first event of the first `run` (a run settles promise reactions before it takes any event).
 * Its start failing fails that run.
 */
import { createHash, randomInt, type Hash } from 'node:crypto'
import { format } from 'node:util'
import { deriveSeed, mulberry32 } from '../random.ts'
import { validShape, type LinkShape, type TraceEvent } from '../links.ts'
import { Scheduler, type RunOptions } from './scheduler.ts'
import { NODE_NAME, SimNetwork, type Link } from './network.ts'
import { SimTransport } from './transport.ts'
import { Net } from '../../net/net.ts'
import type { ConsensusNetInit } from '../../config.ts'
import type { Clock, Random } from '../../clock.ts'
import type { Log, Transport } from '../../link/transport.ts'

/** What the simulation needs of a node's network: the core's lifecycle. */
export interface SimNode {
  start: () => Promise<void>
  stop: () => Promise<void>
}

/** What a node's network is built from in a simulation. */
export interface SimNodeComponents {
  readonly transport: Transport
  readonly clock: Clock
  readonly random: Random
  readonly log: Log
  /** The core calls it for every message it delivers to the application ('' is the default channel). */
  readonly onDelivery: (from: string, channel: string, data: Uint8Array) => void
}

/** Builds a node's network (`init` as given to the simulation for this node). */
export type SimNodeFactory<N extends SimNode, I> = (components: SimNodeComponents, init: I | undefined, node: string) => N

export interface SimulationInit<N extends SimNode, I> {
  /** How many nodes (named n0, n1, ...), or their names (1-64 letters, digits, '.', '_' or '-'). */
  nodes: number | string[]
  /** Seeds everything random. Default: a random one, readable as `sim.seed`. */
  seed?: number
  /** The shape every link direction starts with. Default: no latency, no jitter, unbounded. */
  link?: LinkShape
  /** Options of every node's network, or a function giving each node's. */
  init?: I | ((node: string) => I)
  /** Undelivered bytes per connection direction before a stream's `send` returns false. Default 1 MiB. */
  bufferBytes?: number
  /** Called for every chunk scheduled on a link (not for chunks held by a blackhole until their release). */
  trace?: (event: TraceEvent) => void
  /** Where the nodes' logs go (formatted); default: nowhere. */
  log?: (node: string, time: number, line: string) => void
  /** Events at one virtual instant before a run fails as a livelock. Default 1,000,000. */
  maxEventsPerInstant?: number
  /** Builds each node's network. Default: the library's core. */
  node?: SimNodeFactory<N, I>
}

const DEFAULT_BUFFER_BYTES = 1 << 20

/** The one place that knows the core: a node's network is the library's own Net. */
function createNode (components: SimNodeComponents, init: ConsensusNetInit | undefined): Net {
  return new Net(components, init)
}

/** Creates a simulation and starts its nodes (see the file's comment); nothing runs until `run`. */
export function createSimulation<N extends SimNode = Net, I = ConsensusNetInit> (init: SimulationInit<N, I>): Simulation<N> {
  return new Simulation(init)
}

interface Incarnation<N> {
  readonly transport: SimTransport
  readonly net: N
}

export class Simulation<N extends SimNode = Net> {
  /** The seed: print it with a failure, pass it back to replay the run. */
  readonly seed: number
  /** Node names, in the order given. */
  readonly nodes: readonly string[]
  /** Node name -> its address (`/sim/<name>`), valid across restarts: what to `connect` to. */
  readonly membership: Readonly<Record<string, string>>
  /** Virtual time, for the test and the engine: `now()` is `sim.now`. */
  readonly clock: Clock
  readonly #scheduler: Scheduler
  readonly #network: SimNetwork
  readonly #init: SimulationInit<N, any>
  readonly #factory: SimNodeFactory<N, any>
  readonly #random: Random
  readonly #up = new Map<string, Incarnation<N>>()
  readonly #boots = new Map<string, number>()
  readonly #digest: Hash = createHash('sha256')
  #deliveries = 0

  /** Use `createSimulation`. */
  constructor (init: SimulationInit<N, any>) {
    const names = typeof init.nodes === 'number' ? Array.from({ length: init.nodes }, (_, i) => `n${i}`) : [...init.nodes]
    if (typeof init.nodes === 'number' && !(Number.isSafeInteger(init.nodes) && init.nodes >= 1)) throw new RangeError(`nodes must be a positive integer or a list of names, got ${init.nodes}`)
    if (names.length === 0) throw new RangeError('a simulation needs at least one node')
    for (const name of names) if (typeof name !== 'string' || !NODE_NAME.test(name)) throw new RangeError(`node names are 1-64 letters, digits, '.', '_' or '-': got "${name}"`)
    if (new Set(names).size !== names.length) throw new RangeError('node names must be unique')
    const seed = init.seed ?? randomInt(0, 2 ** 32)
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`)
    const bufferBytes = init.bufferBytes ?? DEFAULT_BUFFER_BYTES
    if (!(Number.isSafeInteger(bufferBytes) && bufferBytes >= 1)) throw new RangeError(`bufferBytes must be a positive integer, got ${bufferBytes}`)
    this.seed = seed
    this.nodes = Object.freeze(names)
    this.membership = Object.freeze(Object.fromEntries(names.map(name => [name, `/sim/${name}`])))
    this.#init = init
    this.#factory = init.node ?? (createNode as unknown as SimNodeFactory<N, any>)
    this.#scheduler = new Scheduler({ seed, maxEventsPerInstant: init.maxEventsPerInstant })
    this.clock = this.#scheduler.clock()
    this.#random = mulberry32(deriveSeed(seed, 'random'))
    const link = validShape({ latency: 0, jitter: 0, bandwidth: Infinity }, init.link ?? {})
    this.#network = new SimNetwork({ scheduler: this.#scheduler, seed, nodes: names, link, bufferBytes, trace: init.trace })
    for (const name of names) this.#boot(name)
  }

  /** Virtual ms since the start. */
  get now (): number {
    return this.#scheduler.now
  }

  /** Messages delivered to the nodes' applications so far. */
  get deliveries (): number {
    return this.#deliveries
  }

  /** Events run so far. */
  get events (): number {
    return this.#scheduler.events
  }

  /** The test's own random numbers in [0, 1), from the seed: use them to schedule faults. */
  random (): number {
    return this.#random()
  }

  /** The current network of `node` (a new one after each restart). Throws while it is crashed. */
  net (node: string): N {
    const up = this.#up.get(this.#network.check(node))
    if (up === undefined) throw new Error(`${node} is crashed: restart it first`)
    return up.net
  }

  /** Whether `node` is up (not crashed). */
  isUp (node: string): boolean {
    return this.#up.has(this.#network.check(node))
  }

  /** The link between `a` and `b` (both directions; `from` picks one where it matters). */
  link (a: string, b: string): Link {
    return this.#network.link(a, b)
  }

  /** Resets every connection between `a` and `b`, at both ends, now; they may reconnect at once. */
  cut (a: string, b: string): void {
    this.#network.cut(a, b)
  }

  /** Delivers nothing between `a` and `b` (only what `from` sends, if given) and closes nothing; opens across it wait. Until heal. */
  blackhole (a: string, b: string, from?: string): void {
    this.#network.blackhole(a, b, from)
  }

  /** Nodes in different groups can no longer talk: their connections are cut and new ones refused, until heal or healAll. */
  partition (...groups: string[][]): void {
    this.#network.partition(...groups)
  }

  /** Ends blackholes and partition refusals between `a` and `b`: what was held is released, in order. Shapes stay. */
  heal (a: string, b: string): void {
    this.#network.heal(a, b)
  }

  /** Ends every blackhole and partition. Shapes stay. */
  healAll (): void {
    this.#network.healAll()
  }

  /**
   * Stops `node` abruptly: nothing of it runs any more (its timers never fire, its streams say
   * nothing), each of its connections is reset from its side. Its network's `stop` is not called.
   */
  crash (node: string): void {
    const up = this.#up.get(this.#network.check(node))
    if (up === undefined) return
    this.#up.delete(node)
    up.transport.crash()
  }

  /** Starts `node` again, same identity, empty state, no membership yet; returns its new network. Throws if it is up. */
  restart (node: string): N {
    if (this.#up.has(this.#network.check(node))) throw new Error(`${node} is up: crash it first`)
    return this.#boot(node)
  }

  /** Runs the simulation: `{ for: ms }` of virtual time, or `{ until, timeout }`. Rejects with a SimulationError naming the seed. */
  async run (options: RunOptions): Promise<void> {
    await this.#scheduler.run(options)
  }

  /** A hex SHA-256 of every delivery so far, in order: (virtual time, from, to, channel, bytes). */
  digest (): string {
    return this.#digest.copy().digest('hex')
  }

  /** Abandons every node (their `stop` is not called) and every event; a run under way fails. */
  stop (): void {
    for (const up of this.#up.values()) up.transport.crash()
    this.#up.clear()
    this.#network.stop()
    this.#scheduler.stop()
  }

  #boot (name: string): N {
    const boots = this.#boots.get(name) ?? 0
    this.#boots.set(name, boots + 1)
    const transport = new SimTransport({ name, network: this.#network, scheduler: this.#scheduler })
    const custom = this.#init.init
    const init = typeof custom === 'function' ? custom(name) : custom
    const net = this.#factory({
      transport,
      clock: transport.clock,
      random: mulberry32(deriveSeed(this.seed, 'node', name, String(boots))),
      log: this.#log(name),
      onDelivery: (from, channel, data) => { if (transport.alive) this.#deliver(from, name, channel, data) }
    }, init, name)
    this.#up.set(name, { transport, net })
    net.start().catch(err => { this.#scheduler.fail(err) })
    return net
  }

  #deliver (from: string, to: string, channel: string, data: Uint8Array): void {
    this.#deliveries++
    this.#digest.update(`${this.#scheduler.now}\0${from}\0${to}\0${channel}\0${data.byteLength}\0`)
    this.#digest.update(data)
  }

  #log (node: string): Log {
    const sink = this.#init.log
    const write = (level: string) => (formatter: string, ...args: any[]): void => {
      sink?.(node, this.#scheduler.now, level + format(formatter, ...args))
    }
    return Object.assign(write(''), { error: write('error: ') })
  }
}
