/**
 * One node's `Transport` in a simulation: what the core sees of the simulated network. Identity
 * is the node's name (there is no Noise: the simulation vouches for who is at each end), its
 * address is `/sim/<name>`. A transport is one incarnation of its node: a crash ends it for good
 * (its clock's timers never fire again, its pending opens never settle, its connections are reset
 * from its side, its streams say nothing more), and a restart makes a new one with the same name.
 */
import { ConnectionEnd } from './connection.ts'
import { NODE_NAME, type NetworkNode, type SimNetwork } from './network.ts'
import { namedError, SimStream } from './stream.ts'
import type { Clock } from '../../clock.ts'
import type { LinkStream, PeerAddress, Transport, TransportEvents } from '../../link/transport.ts'
import type { Scheduler } from './scheduler.ts'

const PREFIX = '/sim/'

/** Reads `/sim/<node>`: `{ peer: node, key: '/sim/<node>', addr: node }`; throws an Error saying what is wrong. */
export function parseSimAddress (addr: unknown): PeerAddress {
  if (typeof addr !== 'string') throw new TypeError(`a simulation address is a string /sim/<node>, got ${addr === null ? 'null' : typeof addr}`)
  if (!addr.startsWith(PREFIX)) throw new Error(`a simulation address is /sim/<node>, got "${addr}"`)
  const name = addr.slice(PREFIX.length)
  if (!NODE_NAME.test(name)) throw new Error(`"${addr}" does not name a node: a name is 1-64 letters, digits, '.', '_' or '-'`)
  return { peer: name, key: addr, addr: name }
}

export interface SimTransportInit {
  readonly name: string
  readonly network: SimNetwork
  readonly scheduler: Scheduler
}

type State = 'new' | 'running' | 'stopped' | 'crashed'

export class SimTransport implements Transport, NetworkNode {
  readonly self: string
  readonly name: string
  /** This incarnation's clock: its timers never fire once it crashed. */
  readonly clock: Clock
  protocols: readonly string[] = []
  maxInboundStreams = 0
  readonly #network: SimNetwork
  readonly #scheduler: Scheduler
  #events: TransportEvents | undefined
  #state: State = 'new'

  constructor (init: SimTransportInit) {
    this.self = this.name = init.name
    this.#network = init.network
    this.#scheduler = init.scheduler
    this.clock = init.scheduler.clock(this)
  }

  /** Not crashed (an `Owner` of timers). */
  get alive (): boolean {
    return this.#state !== 'crashed'
  }

  get running (): boolean {
    return this.#state === 'running'
  }

  readonly parseAddress = parseSimAddress

  /** A node name (any string a node could be named: it need not be running, nor be in the simulation). */
  parsePeer (who: unknown): string | undefined {
    return typeof who === 'string' && NODE_NAME.test(who) ? who : undefined
  }

  async start (protocols: readonly string[], events: TransportEvents, options: { maxInboundStreams: number }): Promise<void> {
    if (this.#state === 'running' || this.#state === 'crashed') throw new Error(`the transport of ${this.name} is ${this.#state}`)
    if (protocols.length === 0) throw new RangeError('start needs at least one protocol')
    if (!(options.maxInboundStreams >= 1)) throw new RangeError(`maxInboundStreams must be at least 1, got ${options.maxInboundStreams}`)
    this.protocols = [...protocols]
    this.maxInboundStreams = options.maxInboundStreams
    this.#events = events
    this.#network.listen(this)
    this.#state = 'running'
  }

  /** Stops accepting; each connection is aborted from this side (the node's streams see it: status 'aborted'). */
  async stop (): Promise<void> {
    if (this.#state !== 'running') return
    this.#state = 'stopped'
    this.#network.unlisten(this, new Error(`${this.name} stopped`), false)
  }

  /** The simulation's crash: everything of this incarnation ends, silently. */
  crash (): void {
    if (this.#state === 'crashed') return
    this.#state = 'crashed'
    this.#network.unlisten(this, new Error(`${this.name} crashed`), true)
  }

  async open (peer: string, addr: unknown, protocols: readonly string[], options: { signal: AbortSignal, force: boolean }): Promise<LinkStream> {
    options.signal.throwIfAborted()
    if (!this.running) throw namedError('ConnectionFailedError', `${this.name} is ${this.#state === 'new' ? 'not started' : this.#state}`)
    if (typeof addr !== 'string') throw new TypeError('open takes the addr of parseAddress')
    if (addr !== peer) throw namedError('ConnectionFailedError', `/sim/${addr} is ${addr}, not ${peer}`)
    if (protocols.length === 0) throw new RangeError('open needs at least one protocol')
    return await this.#whileAlive((async () => {
      const end = await this.#network.dial(this, addr, options.signal, options.force)
      return await end.openStream(protocols, options.signal)
    })())
  }

  abortConnection (stream: LinkStream, err: Error): void {
    if (stream instanceof SimStream && stream.carrier instanceof ConnectionEnd && stream.carrier.node === this) stream.carrier.abort(err)
  }

  abortPeer (peer: string, err: Error): void {
    for (const end of this.#network.endsOf(this, peer)) end.abort(err)
  }

  // what the network asks of this node

  accept (stream: SimStream, peer: string): void {
    this.#events!.stream(stream, peer)
  }

  isBlocked (peer: string): boolean {
    try {
      return this.#events?.isBlocked(peer) ?? false
    } catch (err) {
      this.report(err)
      return true
    }
  }

  refused (): void {
    try {
      this.#events?.refused()
    } catch (err) {
      this.report(err)
    }
  }

  connected (peer: string): void {
    try {
      this.#events?.connection(peer)
    } catch (err) {
      this.report(err)
    }
  }

  report (err: unknown): void {
    this.#scheduler.fail(err)
  }

  /** What `promise` settles to, unless this incarnation crashed by then: a dead process resumes nothing. */
  async #whileAlive<T> (promise: Promise<T>): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      promise.then(value => { if (this.alive) resolve(value) }, err => { if (this.alive) reject(err) })
    })
  }
}
