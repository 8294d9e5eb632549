/**
 * The links of a test network: every link direction (its shape, blackhole, jitter stream), every
 * connection open over them, the dials across them, and the faults on them. This is the Fabric
 * the simulated transport of every node dials and listens through (transport.ts), so it sees
 * every connection: a cut resets those between two nodes at both ends, a blackhole holds what
 * they send (and dials wait) until heal, a partition cuts and refuses new connections between
 * sets, and a crashed node's connections reset from its side.
 */
import { ConnectionFailedError, ListenError } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { deriveSeed, mulberry32 } from '../random.ts'
import { Pipe, type Direction } from './link.ts'
import { Changes, pairKey, pairsAcross, pipeTotals, validShape, type Link, type LinkShape, type TraceEvent } from '../links.ts'
import { SimConnection, type Fabric, type SimListener } from './transport.ts'
import { sleep } from '../../link/backoff.ts'
import { systemClock } from '../../clock.ts'

/** Bytes of one link direction, over the connections currently open on it. */
export interface LinksInit {
  /** Node name -> its address (`/memory/<name>/p2p/<peerId>`): every node of the network. */
  readonly membership: Readonly<Record<string, string[]>>
  /** The nodes running, by name (the network's: crash and restart change it); the others neither dial nor accept. */
  readonly running: ReadonlyMap<string, unknown>
  /** Seeds each direction's jitter stream. */
  readonly seed: number
  /** The shape every link direction starts with. */
  readonly shape: Required<LinkShape>
  /** Undelivered bytes per connection direction before writes wait for drain. */
  readonly bufferBytes: number
  readonly trace: ((event: TraceEvent) => void) | undefined
}

/** Chunk size handed to a pipe: smooth enough for bandwidth shaping, large enough to be cheap. */
const MAX_CHUNK = 16 * 1024

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

export class Links implements Fabric {
  readonly #init: LinksInit
  readonly #membership: Readonly<Record<string, string[]>>
  readonly #nodes: ReadonlySet<string>
  readonly #running: ReadonlyMap<string, unknown>
  readonly #listeners = new Map<string, SimListener>()
  readonly #directions = new Map<string, Direction>()
  /** Unordered pairs `a>b` (a < b) refused by a partition. */
  readonly #refused = new Set<string>()
  readonly #pairs = new Set<Pair>()
  readonly #changes = new Changes()
  #stopped = false

  constructor (init: LinksInit) {
    this.#init = init
    this.#membership = init.membership
    this.#nodes = new Set(Object.keys(init.membership))
    this.#running = init.running
  }

  /** `node`, if it is a node of this network; else a RangeError. */
  check (node: string): string {
    if (!this.#nodes.has(node)) throw new RangeError(`no node named "${node}" in this test network`)
    return node
  }

  checkPair (a: string, b: string): void {
    this.check(a)
    this.check(b)
    if (a === b) throw new RangeError(`a link joins two different nodes, got ${a} twice`)
  }

  listen (name: string, listener: SimListener): void {
    if (this.#listeners.has(name) || !this.#nodes.has(name)) throw new ListenError(`cannot listen on /memory/${name}: taken, or not a node of this network`)
    this.#listeners.set(name, listener)
  }

  unlisten (name: string, listener: SimListener): void {
    if (this.#listeners.get(name) === listener) this.#listeners.delete(name)
  }

  async dial (from: string, to: string, signal: AbortSignal): Promise<SimConnection> {
    let handshaken = false
    for (;;) {
      signal.throwIfAborted()
      if (this.#stopped) throw new ConnectionFailedError('the test network is stopped')
      if (!this.#running.has(from)) throw new ConnectionFailedError(`${from} is crashed`)
      const listener = this.#listeners.get(to)
      if (listener == null || !this.#running.has(to)) throw new ConnectionFailedError(`connection refused: nothing listens on /memory/${to}`)
      if (this.#refused.has(pairKey(from, to))) throw new ConnectionFailedError(`connection refused: ${from} and ${to} are partitioned`)
      const out = this.#direction(from, to)
      const back = this.#direction(to, from)
      if (out.blackholed || back.blackholed) {
        await this.#changes.next(signal) // a blackhole swallows the handshake: wait for heal (or the dial's timeout)
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

  /** The handle of the link between `a` and `b` (checked). */
  link (a: string, b: string): Link {
    this.checkPair(a, b)
    const one = (from: string): Direction => this.#directionsOf(a, b, this.check(from))[0]
    const link: Link = {
      a,
      b,
      set: (shape, from) => {
        for (const dir of this.#directionsOf(a, b, from == null ? undefined : this.check(from))) {
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
        const { inFlight, held } = pipeTotals(dir.pipes)
        let connections = 0
        for (const pair of this.#pairs) if (pair.joins(a, b)) connections++
        return { delivered: dir.delivered, inFlight, held, connections }
      }
    }
    return link
  }

  /** Resets every connection between `a` and `b` (checked), at both ends. */
  cut (a: string, b: string): void {
    this.checkPair(a, b)
    const err = Object.assign(new Error(`connection reset: the test network cut ${a} <-> ${b}`), { code: 'ECONNRESET' })
    for (const pair of [...this.#pairs]) {
      if (!pair.joins(a, b)) continue
      this.#pairs.delete(pair)
      pair.kill()
      pair.dialer.abort(err)
      pair.accepted.abort(err)
    }
    this.changed()
  }

  /** Holds what `from` (or both) sends between `a` and `b` (checked). */
  blackhole (a: string, b: string, from?: string): void {
    this.checkPair(a, b)
    for (const dir of this.#directionsOf(a, b, from)) dir.blackholed = true
    this.changed()
  }

  /** Ends blackholes and partition refusals between `a` and `b` (checked). */
  heal (a: string, b: string): void {
    this.checkPair(a, b)
    this.#refused.delete(pairKey(a, b))
    for (const dir of this.#directionsOf(a, b)) this.#release(dir)
    this.changed()
  }

  /** Cuts and refuses the links between nodes of different groups (checked). */
  partition (groups: string[][]): void {
    for (const [a, b] of pairsAcross(groups, node => { this.check(node) })) {
      this.#refused.add(pairKey(a, b))
      this.cut(a, b)
    }
  }

  /** Ends every blackhole and partition. */
  healAll (): void {
    this.#refused.clear()
    for (const dir of this.#directions.values()) this.#release(dir)
    this.changed()
  }

  /**
   * `node` crashed (it is no longer running): it no longer listens, each of its connections is
   * reset from its side (its RST travels to the peer) and what travels to it is lost.
   */
  crash (node: string): void {
    this.#listeners.delete(node)
    const err = new Error(`${node} crashed`)
    for (const pair of [...this.#pairs]) {
      if (pair.from !== node && pair.to !== node) continue
      const [mine, toMe] = pair.from === node ? [pair.dialer, pair.backward] : [pair.accepted, pair.forward]
      toMe.kill()
      mine.abort(err)
    }
    this.changed()
  }

  /** The network stops: dials are refused and every byte in flight is discarded. */
  stop (): void {
    this.#stopped = true
    for (const pair of this.#pairs) pair.kill()
    this.changed()
  }

  /** After the nodes stopped: what is left of every connection is aborted. */
  closeAll (): void {
    for (const pair of this.#pairs) {
      pair.dialer.abort(new Error('test network stopped'))
      pair.accepted.abort(new Error('test network stopped'))
    }
    this.#pairs.clear()
  }

  /** Wakes dials waiting for the network to change. */
  changed (): void {
    this.#changes.changed()
  }

  #open (from: string, to: string, listener: SimListener): SimConnection {
    const log = listener.log
    const dialer = new SimConnection({
      remote: to,
      direction: 'outbound',
      remoteAddr: multiaddr(this.#membership[to][0]),
      log: log.newScope(`${from}->${to}`),
      maxMessageSize: MAX_CHUNK
    })
    const fromPeer = this.#membership[from][0].split('/p2p/')[1]
    const accepted = new SimConnection({
      remote: from,
      direction: 'inbound',
      remoteAddr: multiaddr(`/memory/${from}/p2p/${fromPeer}`),
      log: log.newScope(`${to}<-${from}`),
      maxMessageSize: MAX_CHUNK
    })
    const { bufferBytes, trace } = this.#init
    const pair = new Pair(from, to, dialer, accepted,
      new Pipe(this.#direction(from, to), dialer, accepted, bufferBytes, trace, log),
      new Pipe(this.#direction(to, from), accepted, dialer, bufferBytes, trace, log))
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
      const shape = this.#init.shape
      dir = {
        from,
        to,
        latency: shape.latency,
        jitter: shape.jitter,
        bandwidth: shape.bandwidth,
        blackholed: false,
        busyUntil: 0,
        rng: mulberry32(deriveSeed(this.#init.seed, 'jitter', from, to)),
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
}
