/**
 * A fault-injection network: N real consensus-net nodes (libp2p + Noise + Yamux + the service,
 * unchanged) in one process, over the simulated transport of transport.ts. A TestNetwork runs the
 * nodes (create, crash, restart, stop) and is the face of the faults, which its links carry out
 * (links.ts). The network owns every byte between two nodes and promises, per direction of each
 * link:
 *
 * - FIFO per connection: a chunk is delivered at `max(previous delivery on that connection,
 *   end of its transmission + latency + jitter)`, where transmission is serialised per link
 *   direction at `bandwidth` bytes/s (all connections of the direction share it) and jitter is
 *   drawn uniformly from [0, jitter) ms. So latency is a lower bound on every delivery.
 * - backpressure: a connection may have `bufferBytes` undelivered before its writes report
 *   "wait for drain" (a TCP socket buffer); bytes are never dropped by shaping.
 * - blackhole: nothing is delivered and nothing closes (not even a FIN or RST sent meanwhile);
 *   what was sent is held, and released in order on heal. Dials across it wait until heal.
 * - cut: every connection between the two nodes is reset at once, at both ends, and what was
 *   in flight is discarded; new connections are allowed at once. A partition is a cut plus a
 *   refusal of new connections between the sets, until heal.
 * - crash: the node's connections are reset from its side (its peers see the reset after the
 *   link's latency, unless the link holds it) and the node is stopped; restart: a new node with
 *   the same key on the same address.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createConsensusNet, type ConsensusNet, type ConsensusNetInit, type ConsensusNetLibp2pOptions } from '../../index.ts'
import { deriveSeed, mulberry32, seededBytes } from '../random.ts'
import { validShape, type LinkShape, type TraceEvent } from '../links.ts'
import { Links } from './links.ts'
import { type Link } from '../links.ts'
import { simulatedTransport } from './transport.ts'
import type { PrivateKey } from '@libp2p/interface'

export interface TestNetworkInit {
  /** How many nodes (named n0, n1, ...), or their names (letters, digits, `.`, `_`, `-`). */
  nodes: number | string[]
  /** Seeds the keys, the jitter and `random()`. Default: a random one, readable as `tn.seed`. */
  seed?: number
  /** Options of every node's consensus net, or a function giving each node's. */
  init?: ConsensusNetInit | ((node: string) => ConsensusNetInit)
  /**
   * libp2p options of every node (as `createConsensusNet({ libp2p })`), except the transport and
   * addresses, which are the network's. E.g. `{ connectionMonitor: { enabled: false } }`.
   */
  libp2p?: Omit<ConsensusNetLibp2pOptions, 'transports' | 'addresses'>
  /** The shape every link direction starts with. Default: no latency, no jitter, unbounded. */
  link?: LinkShape
  /** Undelivered bytes per connection direction before writes wait for drain. Default 1 MiB. */
  bufferBytes?: number
  /** Called for every chunk scheduled (not for chunks held by a blackhole until their release). */
  trace?: (event: TraceEvent) => void
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/
const DEFAULT_BUFFER_BYTES = 1 << 20

/**
 * Creates and starts a network of nodes (not yet connected: see `connectAll`). Every node is a
 * real `createConsensusNet` node on the simulated transport, listening on `/memory/<name>`.
 */
export async function createTestNetwork (init: TestNetworkInit): Promise<TestNetwork> {
  const names = typeof init.nodes === 'number' ? Array.from({ length: init.nodes }, (_, i) => `n${i}`) : [...init.nodes]
  if (names.length === 0) throw new RangeError('a test network needs at least one node')
  for (const name of names) if (!NAME.test(name)) throw new RangeError(`node names are 1-64 letters, digits, '.', '_' or '-': got "${name}"`)
  if (new Set(names).size !== names.length) throw new RangeError('node names must be unique')
  const seed = init.seed ?? Math.floor(Math.random() * 2 ** 32)
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`)
  const bufferBytes = init.bufferBytes ?? DEFAULT_BUFFER_BYTES
  if (!Number.isSafeInteger(bufferBytes) || bufferBytes < 1) throw new RangeError(`bufferBytes must be a positive integer, got ${bufferBytes}`)
  const keys = new Map<string, PrivateKey>()
  for (const name of names) keys.set(name, await generateKeyPairFromSeed('Ed25519', seededBytes(32, seed, 'key', name)))
  const network = new TestNetwork(names, seed, keys, init, bufferBytes)
  try {
    await Promise.all(names.map(async name => network.restart(name)))
  } catch (err) {
    await network.stop()
    throw err
  }
  return network
}

export class TestNetwork {
  /** Node names, in the order given. */
  readonly nodes: readonly string[]
  /** The seed: print it with a failure, pass it back to replay. */
  readonly seed: number
  /** Node name -> its address (`/memory/<name>/p2p/<peerId>`), valid across restarts. */
  readonly membership: Readonly<Record<string, string[]>>

  readonly #keys: ReadonlyMap<string, PrivateKey>
  readonly #init: TestNetworkInit
  readonly #random: () => number
  readonly #nets = new Map<string, ConsensusNet>()
  readonly #links: Links
  #stopped = false

  /** Use `createTestNetwork`. */
  constructor (names: string[], seed: number, keys: ReadonlyMap<string, PrivateKey>, init: TestNetworkInit, bufferBytes: number) {
    this.nodes = Object.freeze([...names])
    this.seed = seed
    this.#keys = keys
    this.#init = init
    const shape = validShape({ latency: 0, jitter: 0, bandwidth: Infinity }, init.link ?? {})
    this.#random = mulberry32(deriveSeed(seed, 'random'))
    this.membership = Object.freeze(Object.fromEntries(names.map(name =>
      [name, [`/memory/${name}/p2p/${peerIdFromPrivateKey(keys.get(name)!).toString()}`]])))
    this.#links = new Links({ membership: this.membership, running: this.#nets, seed, shape, bufferBytes, trace: init.trace })
  }

  /** The current consensus net of `node` (a new one after each restart). Throws while it is crashed. */
  net (node: string): ConsensusNet {
    const net = this.#nets.get(this.#links.check(node))
    if (net == null) throw new Error(`${node} is crashed: restart it first`)
    return net
  }

  /** Whether `node` is running (not crashed). */
  isUp (node: string): boolean {
    return this.#nets.has(this.#links.check(node))
  }

  /**
   * Every running node applies `membership` (all nodes), then this resolves once every running
   * node has an open stream to every other running node. A fault in the way keeps it waiting:
   * give a `signal` to bound it.
   */
  async connectAll (options: { signal?: AbortSignal } = {}): Promise<void> {
    const up = [...this.#nets.values()]
    for (const net of up) await net.connect(this.membership)
    await Promise.all(up.map(async net => net.waitFor(up.length, options)))
  }

  /** The link between `a` and `b` (both directions; `from` picks one where it matters). */
  link (a: string, b: string): Link {
    return this.#links.link(a, b)
  }

  /** Resets every connection between `a` and `b`, at both ends, now; they may reconnect at once. */
  cut (a: string, b: string): void {
    this.#links.cut(a, b)
  }

  /**
   * Stops delivering bytes between `a` and `b` (only those sent by `from`, if given), without
   * closing anything; what is sent meanwhile is held. New dials across the link wait. Until heal.
   */
  blackhole (a: string, b: string, from?: string): void {
    this.#links.blackhole(a, b, from)
  }

  /** Ends blackholes and partition refusals between `a` and `b`: held bytes are released, in order. Shapes stay. */
  heal (a: string, b: string): void {
    this.#links.heal(a, b)
  }

  /**
   * Nodes in different groups can no longer talk: their connections are cut and new ones
   * refused (as by a firewall rejecting them), until `heal` of the pair or `healAll`.
   */
  partition (...groups: string[][]): void {
    this.#links.partition(groups)
  }

  /** Ends every blackhole and partition. Shapes stay. */
  healAll (): void {
    this.#links.healAll()
  }

  /**
   * Stops `node` abruptly: it stops accepting and dialing, each of its connections is reset from
   * its side, then its libp2p node is stopped. Resolves once stopped; a crashed node stays
   * crashed until `restart`.
   */
  async crash (node: string): Promise<void> {
    const net = this.#nets.get(this.#links.check(node))
    if (net == null) return
    this.#nets.delete(node)
    this.#links.crash(node)
    await net.stop().catch(() => {})
  }

  /**
   * Starts `node` again (or for the first time) as a new libp2p node with the same private key
   * on the same address, and resolves with its new consensus net: started, with no membership
   * yet (call `connect(tn.membership)` once your listeners are on). Rejects if it is running.
   */
  async restart (node: string): Promise<ConsensusNet> {
    this.#links.check(node)
    if (this.#stopped) throw new Error('the test network is stopped')
    if (this.#nets.has(node)) throw new Error(`${node} is running: crash it first`)
    const custom = this.#init.init
    const init = typeof custom === 'function' ? custom(node) : custom
    const net = await createConsensusNet({
      ...init,
      privateKey: this.#keys.get(node),
      listen: [`/memory/${node}`],
      libp2p: { ...this.#init.libp2p, transports: [simulatedTransport(this.#links, node)] }
    })
    if (this.#stopped) {
      await net.stop()
      throw new Error('the test network was stopped during restart')
    }
    this.#nets.set(node, net)
    this.#links.changed()
    return net
  }

  /** The test's own random numbers in [0, 1), from the seed: use them to schedule faults. */
  random (): number {
    return this.#random()
  }

  /** Stops every node and discards every byte in flight. */
  async stop (): Promise<void> {
    this.#stopped = true
    const nets = [...this.#nets.values()]
    this.#nets.clear()
    this.#links.stop()
    await Promise.all(nets.map(async net => { await net.stop().catch(() => {}) }))
    this.#links.closeAll()
  }
}
