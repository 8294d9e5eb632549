/**
 * The simulated network: who listens under which name, the connections between nodes, the link
 * directions they ride, and the faults, with the names and semantics of the libp2p testing
 * network (../libp2p/network.ts):
 *
 * - an open rides the oldest connection its node has with the peer and thinks open (it cannot
 *   know that the peer died behind a blackhole: a stream opened there waits, as on TCP), unless
 *   `force`. A new connection opens one link round trip after it is asked for (the handshake),
 *   unless the link is blackholed (it waits for heal, or the opener's signal) or the pair is
 *   partitioned or nobody listens (it fails at once). Both ends are asked `isBlocked` (the opener
 *   before the handshake, the other end after it); a refusal calls `refused()` at that end and
 *   fails the open. `connection` is reported at both ends when it opens. Concurrent opens from
 *   one node to another share one handshake, as libp2p's dial queue does.
 * - cut: every connection between the two nodes is reset at once, at both ends, and what was in
 *   flight is discarded; new connections are allowed at once. partition: a cut between every
 *   two nodes of different groups, and new connections between them refused until heal/healAll.
 * - blackhole: nothing is delivered and nothing closes (not even a RST sent meanwhile); what was
 *   sent is held and released in order on heal.
 * - a node that crashes resets each of its connections from its side: what it had not put on the
 *   wire is lost, its peers see the reset after the link's delay, unless the link holds it; what
 *   travels to it is lost.
 */
import { deriveSeed, mulberry32 } from '../random.ts'
import { Changes, pairKey, pairsAcross, pipeTotals, validShape, type LinkShape, type TraceEvent } from '../links.ts'
import { Direction } from './link.ts'
import { SimConnection, type ConnectionEnd, type Endpoint } from './connection.ts'
import { namedError } from './stream.ts'
import type { Clock } from '../../clock.ts'
import type { Link, LinkStats } from '../links.ts'
import type { Scheduler } from './scheduler.ts'

export type { Link, LinkStats }

/** Node names: 1-64 letters, digits, '.', '_' or '-'. */
export const NODE_NAME = /^[A-Za-z0-9._-]{1,64}$/

/** A node's transport as the network sees it. */
export interface NetworkNode extends Endpoint {
  /** Started, and neither stopped nor crashed. */
  readonly running: boolean
  /** The node's clock (its timers die with it). */
  readonly clock: Clock
  isBlocked: (peer: string) => boolean
  refused: () => void
  connected: (peer: string) => void
}

export interface SimNetworkInit {
  readonly scheduler: Scheduler
  readonly seed: number
  readonly nodes: readonly string[]
  /** The shape every link direction starts with. */
  readonly link: Required<LinkShape>
  /** Undelivered bytes per connection direction before sends report "wait for drain". */
  readonly bufferBytes: number
  readonly trace?: ((event: TraceEvent) => void) | undefined
}

/** Passes through a network change (a heal, a crash...) a dial waits at most, before it gives up. */
const MAX_DIAL_PASSES = 10_000

/** One handshake, shared by the opens that wait for it; it gives up when all of them have. */
interface SharedDial {
  readonly promise: Promise<ConnectionEnd>
  /** Ends the handshake (the last waiter gave up with `reason`); later opens start a new one. */
  readonly abandon: (reason: unknown) => void
  waiters: number
}

export class SimNetwork {
  readonly nodes: readonly string[]
  readonly #init: SimNetworkInit
  readonly #names: ReadonlySet<string>
  /** Who listens under each name. */
  readonly #listening = new Map<string, NetworkNode>()
  readonly #directions = new Map<string, Direction>()
  /** By unordered pair, oldest first; a connection leaves once both its ends are closed. */
  readonly #connections = new Map<string, SimConnection[]>()
  readonly #refused = new Set<string>()
  readonly #dials = new WeakMap<NetworkNode, Map<string, SharedDial>>()
  readonly #changes = new Changes()
  #connectionIds = 0
  #stopped = false

  constructor (init: SimNetworkInit) {
    this.#init = init
    this.nodes = Object.freeze([...init.nodes])
    this.#names = new Set(init.nodes)
  }

  /** Whether `name` is a node of this network. */
  has (name: string): boolean {
    return this.#names.has(name)
  }

  /** `node` accepts connections under its name from now on. */
  listen (node: NetworkNode): void {
    const current = this.#listening.get(node.name)
    if (current !== undefined && current !== node) throw new Error(`${node.name} is already running: crash it first`)
    this.#listening.set(this.check(node.name), node)
    this.#changed()
  }

  /** `node` stops accepting; each of its connections is reset from its side (`silent`: its own streams say nothing, it is dead). */
  unlisten (node: NetworkNode, err: Error, silent: boolean): void {
    if (this.#listening.get(node.name) === node) this.#listening.delete(node.name)
    for (const end of this.endsOf(node)) end.abort(err, silent)
    this.#changed()
  }

  /** The ends of `node`'s open connections (to `peer` only, if given), oldest first. */
  endsOf (node: NetworkNode, peer?: string): ConnectionEnd[] {
    const ends: ConnectionEnd[] = []
    const lists = peer === undefined ? this.#connections.values() : [this.#connections.get(pairKey(node.name, peer)) ?? []]
    for (const list of lists) {
      for (const connection of list) {
        const end = connection.endOf(node)
        if (end !== undefined && !end.closed) ends.push(end)
      }
    }
    return ends.sort((a, b) => a.connection.id - b.connection.id)
  }

  /**
   * A connection from `from` to the node named `to`: the oldest open one unless `force`, else a
   * new one (see the file's comment). Rejects with an Error named 'ConnectionFailedError'.
   */
  async dial (from: NetworkNode, to: string, signal: AbortSignal, force: boolean): Promise<ConnectionEnd> {
    signal.throwIfAborted()
    if (to === from.name) throw namedError('ConnectionFailedError', `${to} cannot open a connection to itself`)
    if (force) return await this.#connect(from, to, signal)
    // open as far as `from` knows: a peer that died behind a blackhole leaves it a zombie, as on TCP
    for (const connection of this.#connections.get(pairKey(from.name, to)) ?? []) {
      const end = connection.endOf(from)
      if (end !== undefined && !end.closed) return end
    }
    let dials = this.#dials.get(from)
    if (dials === undefined) this.#dials.set(from, dials = new Map())
    let shared = dials.get(to)
    if (shared === undefined) {
      const controller = new AbortController()
      const forget = (): void => { if (dials.get(to) === created) dials.delete(to) }
      const created: SharedDial = {
        promise: this.#connect(from, to, controller.signal).finally(forget),
        abandon: reason => {
          forget()
          controller.abort(reason)
        },
        waiters: 0
      }
      dials.set(to, shared = created)
    }
    return await join(shared, signal)
  }

  /** The link between `a` and `b`: its shape per direction and what is on it. */
  link (a: string, b: string): Link {
    this.#checkPair(a, b)
    const one = (from: string): Direction => this.#directionsOf(a, b, this.check(from))[0]
    const link: Link = {
      a,
      b,
      set: (shape, from) => {
        const dirs = this.#directionsOf(a, b, from === undefined ? undefined : this.check(from))
        for (const dir of dirs) validShape(dir, shape) // all or nothing
        for (const dir of dirs) dir.set(shape)
        return link
      },
      shape: from => one(from).shape,
      stats: from => {
        const dir = one(from)
        const { inFlight, held } = pipeTotals(dir.pipes)
        const connections = this.#connections.get(pairKey(a, b))?.length ?? 0
        return { delivered: dir.delivered, inFlight, held, connections }
      }
    }
    return link
  }

  /** Resets every connection between `a` and `b`, at both ends, now; they may reconnect at once. */
  cut (a: string, b: string): void {
    this.#checkPair(a, b)
    const err = namedError('StreamResetError', `connection reset: the simulation cut ${a} <-> ${b}`)
    for (const connection of [...this.#connections.get(pairKey(a, b)) ?? []]) connection.cut(err)
    this.#changed()
  }

  /** Delivers nothing between `a` and `b` (only what `from` sends, if given) and closes nothing, until heal. */
  blackhole (a: string, b: string, from?: string): void {
    this.#checkPair(a, b)
    for (const dir of this.#directionsOf(a, b, from)) dir.blackholed = true
    this.#changed()
  }

  /** Ends blackholes and partition refusals between `a` and `b`: held bytes are released, in order. Shapes stay. */
  heal (a: string, b: string): void {
    this.#checkPair(a, b)
    this.#refused.delete(pairKey(a, b))
    for (const dir of this.#directionsOf(a, b)) release(dir)
    this.#changed()
  }

  /** Cuts every two nodes of different groups and refuses new connections between them, until heal. */
  partition (...groups: string[][]): void {
    for (const [a, b] of pairsAcross(groups, node => { this.check(node) })) {
      this.#refused.add(pairKey(a, b))
      this.cut(a, b)
    }
  }

  /** Ends every blackhole and partition. Shapes stay. */
  healAll (): void {
    this.#refused.clear()
    for (const dir of this.#directions.values()) release(dir)
    this.#changed()
  }

  /** Discards everything in flight; nothing opens any more. */
  stop (): void {
    this.#stopped = true
    for (const list of this.#connections.values()) {
      for (const connection of list) {
        connection.dialer.out.kill()
        connection.listener.out.kill()
      }
    }
    this.#connections.clear()
    this.#listening.clear()
    this.#changed()
  }

  check (node: string): string {
    if (!this.#names.has(node)) throw new RangeError(`no node named "${node}" in this simulation`)
    return node
  }

  async #connect (from: NetworkNode, to: string, signal: AbortSignal): Promise<ConnectionEnd> {
    let handshaken = false
    for (let pass = 0; pass < MAX_DIAL_PASSES; pass++) {
      signal.throwIfAborted()
      if (this.#stopped || !from.running) throw namedError('ConnectionFailedError', `${from.name} is not running`)
      const target = this.#listening.get(to)
      if (target === undefined || !target.running) throw namedError('ConnectionFailedError', `connection refused: nothing listens on /sim/${to}`)
      if (this.#refused.has(pairKey(from.name, to))) throw namedError('ConnectionFailedError', `connection refused: ${from.name} and ${to} are partitioned`)
      const out = this.#direction(from.name, to)
      const back = this.#direction(to, from.name)
      if (out.blackholed || back.blackholed) {
        await this.#changes.next(signal) // a blackhole swallows the handshake: wait for heal (or the signal)
        continue
      }
      if (!handshaken) {
        if (from.isBlocked(to)) {
          from.refused()
          throw namedError('ConnectionFailedError', `${from.name} blocks ${to}`)
        }
        handshaken = true
        await from.clock.sleep(out.latency + back.latency, { signal })
        continue // the network may have changed meanwhile
      }
      if (target.isBlocked(from.name)) {
        target.refused()
        throw namedError('ConnectionFailedError', `connection refused: ${to} blocks ${from.name}`)
      }
      const connection = new SimConnection({
        id: this.#connectionIds++,
        scheduler: this.#init.scheduler,
        bufferBytes: this.#init.bufferBytes,
        trace: this.#init.trace,
        onClosed: closed => { this.#forget(closed) }
      }, from, target, out, back)
      const key = pairKey(from.name, to)
      this.#connections.set(key, [...this.#connections.get(key) ?? [], connection])
      target.connected(from.name)
      from.connected(to)
      return connection.dialer
    }
    throw namedError('ConnectionFailedError', `gave up dialing ${to} after ${MAX_DIAL_PASSES} network changes`)
  }

  #forget (connection: SimConnection): void {
    const key = pairKey(connection.dialer.node.name, connection.listener.node.name)
    const list = this.#connections.get(key)?.filter(c => c !== connection) ?? []
    if (list.length > 0) this.#connections.set(key, list)
    else this.#connections.delete(key)
  }

  #direction (from: string, to: string): Direction {
    const key = `${from}>${to}`
    let dir = this.#directions.get(key)
    if (dir === undefined) {
      dir = new Direction(from, to, this.#init.link, mulberry32(deriveSeed(this.#init.seed, 'jitter', from, to)))
      this.#directions.set(key, dir)
    }
    return dir
  }

  #directionsOf (a: string, b: string, from?: string): Direction[] {
    if (from === undefined) return [this.#direction(a, b), this.#direction(b, a)]
    if (from !== a && from !== b) throw new RangeError(`from must be ${a} or ${b}, got ${from}`)
    return [from === a ? this.#direction(a, b) : this.#direction(b, a)]
  }

  /** Wakes dials waiting for the network to change. */
  #changed (): void {
    this.#changes.changed()
  }

  #checkPair (a: string, b: string): void {
    this.check(a)
    this.check(b)
    if (a === b) throw new RangeError(`a link joins two different nodes, got ${a} twice`)
  }
}

function release (dir: Direction): void {
  if (!dir.blackholed) return
  dir.blackholed = false
  for (const pipe of dir.pipes) pipe.release()
}

/** Waits for a shared handshake; the last waiter to give up ends it. */
async function join (shared: SharedDial, signal: AbortSignal): Promise<ConnectionEnd> {
  shared.waiters++
  return await new Promise<ConnectionEnd>((resolve, reject) => {
    const onAbort = (): void => {
      if (--shared.waiters === 0) shared.abandon(signal.reason)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    shared.promise.then(end => {
      signal.removeEventListener('abort', onAbort)
      resolve(end)
    }, err => {
      signal.removeEventListener('abort', onAbort)
      reject(err)
    })
  })
}
