/**
 * A fault-injection network: N real consensus-net nodes (libp2p + Noise + Yamux + the service,
 * unchanged) in one process, over the simulated transport of transport.ts. The network owns
 * every byte between two nodes and promises, per direction of each link:
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
import { ConnectionFailedError, ListenError } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createConsensusNet, type ConsensusNet, type ConsensusNetInit, type ConsensusNetLibp2pOptions } from '../../index.ts'
import { deriveSeed, mulberry32, seededBytes } from '../random.ts'
import { Pipe, validShape, type Direction, type LinkShape, type TraceEvent } from './link.ts'
import { SimConnection, simulatedTransport, type Fabric, type SimListener } from './transport.ts'
import type { PrivateKey } from '@libp2p/interface'
import { sleep } from '../../link/backoff.ts'
import { systemClock } from '../../clock.ts'

/** Bytes of one link direction, over the connections currently open on it. */
export interface LinkStats {
  /** Delivered to the receiving node since the network started. */
  delivered: number
  /** Sent and scheduled, not yet delivered. */
  inFlight: number
  /** Sent while the direction is blackholed, held until heal. */
  held: number
  /** Connections open between the two nodes (in either direction of dialing). */
  connections: number
}

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
/** Chunk size handed to a pipe: smooth enough for bandwidth shaping, large enough to be cheap. */
const MAX_CHUNK = 16 * 1024

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

/** One connection: `from` dialed `to`; its two ends and a pipe each way. */
class Pair {
  readonly from: string
  readonly to: string
  readonly dialer: SimConnection
  readonly accepted: SimConnection
  readonly forward: Pipe
  readonly backward: Pipe

  constructor (from: string, to: string, dialer: SimConnection, accepted: SimConnection, forward: Pipe, backward: Pipe) {
    this.from = from
    this.to = to
    this.dialer = dialer
    this.accepted = accepted
    this.forward = forward
    this.backward = backward
  }

  joins (a: string, b: string): boolean {
    return (this.from === a && this.to === b) || (this.from === b && this.to === a)
  }

  /** Discards what is in flight both ways. */
  kill (): void {
    this.forward.kill()
    this.backward.kill()
  }
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
  readonly #defaultShape: Required<LinkShape>
  readonly #bufferBytes: number
  readonly #random: () => number
  readonly #nets = new Map<string, ConsensusNet>()
  readonly #listeners = new Map<string, SimListener>()
  readonly #directions = new Map<string, Direction>()
  /** Unordered pairs `a>b` (a < b) refused by a partition. */
  readonly #refused = new Set<string>()
  readonly #pairs = new Set<Pair>()
  #changeWaiters = new Set<() => void>()
  #stopped = false
  readonly #fabric: Fabric

  /** Use `createTestNetwork`. */
  constructor (names: string[], seed: number, keys: ReadonlyMap<string, PrivateKey>, init: TestNetworkInit, bufferBytes: number) {
    this.nodes = Object.freeze([...names])
    this.seed = seed
    this.#keys = keys
    this.#init = init
    this.#bufferBytes = bufferBytes
    this.#defaultShape = validShape({ latency: 0, jitter: 0, bandwidth: Infinity }, init.link ?? {})
    this.#random = mulberry32(deriveSeed(seed, 'random'))
    this.membership = Object.freeze(Object.fromEntries(names.map(name =>
      [name, [`/memory/${name}/p2p/${peerIdFromPrivateKey(keys.get(name)!).toString()}`]])))
    this.#fabric = {
      listen: (name, listener) => {
        if (this.#listeners.has(name) || !this.#keys.has(name)) throw new ListenError(`cannot listen on /memory/${name}: taken, or not a node of this network`)
        this.#listeners.set(name, listener)
      },
      unlisten: (name, listener) => {
        if (this.#listeners.get(name) === listener) this.#listeners.delete(name)
      },
      dial: async (from, to, signal) => this.#dial(from, to, signal)
    }
  }

  /** The current consensus net of `node` (a new one after each restart). Throws while it is crashed. */
  net (node: string): ConsensusNet {
    const net = this.#nets.get(this.#check(node))
    if (net == null) throw new Error(`${node} is crashed: restart it first`)
    return net
  }

  /** Whether `node` is running (not crashed). */
  isUp (node: string): boolean {
    return this.#nets.has(this.#check(node))
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
    this.#checkPair(a, b)
    const one = (from: string): Direction => this.#directionsOf(a, b, this.#check(from))[0]
    const link: Link = {
      a,
      b,
      set: (shape, from) => {
        for (const dir of this.#directionsOf(a, b, from == null ? undefined : this.#check(from))) {
          const next = validShape(dir, shape)
          dir.latency = next.latency
          dir.jitter = next.jitter
          dir.bandwidth = next.bandwidth
        }
        return link
      },
      shape: from => {
        const dir = one(from)
        return { latency: dir.latency, jitter: dir.jitter, bandwidth: dir.bandwidth }
      },
      stats: from => {
        const dir = one(from)
        let inFlight = 0
        let held = 0
        for (const pipe of dir.pipes) {
          inFlight += pipe.inFlight
          held += pipe.held
        }
        let connections = 0
        for (const pair of this.#pairs) if (pair.joins(a, b)) connections++
        return { delivered: dir.delivered, inFlight, held, connections }
      }
    }
    return link
  }

  /** Resets every connection between `a` and `b`, at both ends, now; they may reconnect at once. */
  cut (a: string, b: string): void {
    this.#checkPair(a, b)
    const err = Object.assign(new Error(`connection reset: the test network cut ${a} <-> ${b}`), { code: 'ECONNRESET' })
    for (const pair of [...this.#pairs]) {
      if (!pair.joins(a, b)) continue
      this.#pairs.delete(pair)
      pair.kill()
      pair.dialer.abort(err)
      pair.accepted.abort(err)
    }
    this.#changed()
  }

  /**
   * Stops delivering bytes between `a` and `b` (only those sent by `from`, if given), without
   * closing anything; what is sent meanwhile is held. New dials across the link wait. Until heal.
   */
  blackhole (a: string, b: string, from?: string): void {
    this.#checkPair(a, b)
    for (const dir of this.#directionsOf(a, b, from)) dir.blackholed = true
    this.#changed()
  }

  /** Ends blackholes and partition refusals between `a` and `b`: held bytes are released, in order. Shapes stay. */
  heal (a: string, b: string): void {
    this.#checkPair(a, b)
    this.#refused.delete(pairKey(a, b))
    for (const dir of this.#directionsOf(a, b)) this.#release(dir)
    this.#changed()
  }

  /**
   * Nodes in different groups can no longer talk: their connections are cut and new ones
   * refused (as by a firewall rejecting them), until `heal` of the pair or `healAll`.
   */
  partition (...groups: string[][]): void {
    const seen = new Set<string>()
    for (const group of groups) {
      for (const node of group) {
        this.#check(node)
        if (seen.has(node)) throw new RangeError(`${node} is in more than one group`)
        seen.add(node)
      }
    }
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]) {
          for (const b of groups[j]) {
            this.#refused.add(pairKey(a, b))
            this.cut(a, b)
          }
        }
      }
    }
  }

  /** Ends every blackhole and partition. Shapes stay. */
  healAll (): void {
    this.#refused.clear()
    for (const dir of this.#directions.values()) this.#release(dir)
    this.#changed()
  }

  /**
   * Stops `node` abruptly: it stops accepting and dialing, each of its connections is reset from
   * its side, then its libp2p node is stopped. Resolves once stopped; a crashed node stays
   * crashed until `restart`.
   */
  async crash (node: string): Promise<void> {
    const net = this.#nets.get(this.#check(node))
    if (net == null) return
    this.#nets.delete(node)
    const listener = this.#listeners.get(node)
    if (listener != null) this.#listeners.delete(node)
    const err = new Error(`${node} crashed`)
    for (const pair of [...this.#pairs]) {
      if (pair.from !== node && pair.to !== node) continue
      // the crashed node's end resets (its RST travels to the peer); what travels to it is lost
      const [mine, toMe] = pair.from === node ? [pair.dialer, pair.backward] : [pair.accepted, pair.forward]
      toMe.kill()
      mine.abort(err)
    }
    this.#changed()
    await net.stop().catch(() => {})
  }

  /**
   * Starts `node` again (or for the first time) as a new libp2p node with the same private key
   * on the same address, and resolves with its new consensus net: started, with no membership
   * yet (call `connect(tn.membership)` once your listeners are on). Rejects if it is running.
   */
  async restart (node: string): Promise<ConsensusNet> {
    this.#check(node)
    if (this.#stopped) throw new Error('the test network is stopped')
    if (this.#nets.has(node)) throw new Error(`${node} is running: crash it first`)
    const custom = this.#init.init
    const init = typeof custom === 'function' ? custom(node) : custom
    const net = await createConsensusNet({
      ...init,
      privateKey: this.#keys.get(node),
      listen: [`/memory/${node}`],
      libp2p: { ...this.#init.libp2p, transports: [simulatedTransport(this.#fabric, node)] }
    })
    if (this.#stopped) {
      await net.stop()
      throw new Error('the test network was stopped during restart')
    }
    this.#nets.set(node, net)
    this.#changed()
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
    for (const pair of this.#pairs) pair.kill()
    this.#changed()
    await Promise.all(nets.map(async net => { await net.stop().catch(() => {}) }))
    for (const pair of this.#pairs) {
      pair.dialer.abort(new Error('test network stopped'))
      pair.accepted.abort(new Error('test network stopped'))
    }
    this.#pairs.clear()
  }

  async #dial (from: string, to: string, signal: AbortSignal): Promise<SimConnection> {
    let handshaken = false
    for (;;) {
      signal.throwIfAborted()
      if (this.#stopped) throw new ConnectionFailedError('the test network is stopped')
      if (!this.#nets.has(from)) throw new ConnectionFailedError(`${from} is crashed`)
      const listener = this.#listeners.get(to)
      if (listener == null || !this.#nets.has(to)) throw new ConnectionFailedError(`connection refused: nothing listens on /memory/${to}`)
      if (this.#refused.has(pairKey(from, to))) throw new ConnectionFailedError(`connection refused: ${from} and ${to} are partitioned`)
      const out = this.#direction(from, to)
      const back = this.#direction(to, from)
      if (out.blackholed || back.blackholed) {
        await this.#nextChange(signal) // a blackhole swallows the handshake: wait for heal (or the dial's timeout)
        continue
      }
      const rtt = out.latency + back.latency
      if (!handshaken && rtt > 0) {
        handshaken = true
        await sleep(systemClock, rtt, signal)
        signal.throwIfAborted()
        continue // the link may have changed meanwhile
      }
      return this.#open(from, to, listener)
    }
  }

  #open (from: string, to: string, listener: SimListener): SimConnection {
    const log = listener.log
    const dialer = new SimConnection({
      remote: to,
      direction: 'outbound',
      remoteAddr: multiaddr(this.membership[to][0]),
      log: log.newScope(`${from}->${to}`),
      maxMessageSize: MAX_CHUNK
    })
    const fromPeer = this.membership[from][0].split('/p2p/')[1]
    const accepted = new SimConnection({
      remote: from,
      direction: 'inbound',
      remoteAddr: multiaddr(`/memory/${from}/p2p/${fromPeer}`),
      log: log.newScope(`${to}<-${from}`),
      maxMessageSize: MAX_CHUNK
    })
    const pair = new Pair(from, to, dialer, accepted,
      new Pipe(this.#direction(from, to), dialer, accepted, this.#bufferBytes, this.#init.trace, log),
      new Pipe(this.#direction(to, from), accepted, dialer, this.#bufferBytes, this.#init.trace, log))
    dialer.out = pair.forward
    accepted.out = pair.backward
    this.#pairs.add(pair)
    const onClose = (): void => {
      if (dialer.status === 'open' || accepted.status === 'open') return
      if (!this.#pairs.delete(pair)) return
      // both ends are gone: whatever is still in flight (a FIN, a RST) has no reader left
      pair.kill()
    }
    dialer.addEventListener('close', onClose)
    accepted.addEventListener('close', onClose)
    listener.accept(accepted)
    return dialer
  }

  #direction (from: string, to: string): Direction {
    const key = `${from}>${to}`
    let dir = this.#directions.get(key)
    if (dir == null) {
      const shape = this.#defaultShape
      dir = {
        from,
        to,
        latency: shape.latency,
        jitter: shape.jitter,
        bandwidth: shape.bandwidth,
        blackholed: false,
        busyUntil: 0,
        rng: mulberry32(deriveSeed(this.seed, 'jitter', from, to)),
        pipes: new Set(),
        delivered: 0
      }
      this.#directions.set(key, dir)
    }
    return dir
  }

  #release (dir: Direction): void {
    if (!dir.blackholed) return
    dir.blackholed = false
    for (const pipe of dir.pipes) pipe.release()
  }

  #directionsOf (a: string, b: string, from?: string): Direction[] {
    if (from == null) return [this.#direction(a, b), this.#direction(b, a)]
    if (from !== a && from !== b) throw new RangeError(`from must be ${a} or ${b}, got ${from}`)
    return [from === a ? this.#direction(a, b) : this.#direction(b, a)]
  }

  /** Wakes dials waiting for the network to change. */
  #changed (): void {
    const waiters = this.#changeWaiters
    this.#changeWaiters = new Set()
    for (const wake of waiters) wake()
  }

  async #nextChange (signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#changeWaiters.delete(wake)
        reject(signal.reason)
      }
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      this.#changeWaiters.add(wake)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  #check (node: string): string {
    if (!this.#keys.has(node)) throw new RangeError(`no node named "${node}" in this test network`)
    return node
  }

  #checkPair (a: string, b: string): void {
    this.#check(a)
    this.#check(b)
    if (a === b) throw new RangeError(`a link joins two different nodes, got ${a} twice`)
  }
}

/** The link between two nodes: its shape per direction and what is on it. */
export interface Link {
  readonly a: string
  readonly b: string
  /**
   * Changes the shape of both directions, or only of what `from` sends. Chunks already scheduled
   * keep their delivery time; later ones follow the new shape (and still never overtake them).
   */
  set: (shape: LinkShape, from?: string) => Link
  /** The current shape of what `from` sends. */
  shape: (from: string) => Required<LinkShape>
  /** Bytes of what `from` sends on this link. */
  stats: (from: string) => LinkStats
}

function pairKey (a: string, b: string): string {
  return a < b ? `${a}>${b}` : `${b}>${a}`
}
