/**
 * Test helpers for the simulation: `Probe`, a minimal node written directly on the transport
 * seam (no core), which records what its transport reports and reads; `watch`, a stream's events
 * as a list of strings stamped with virtual time.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { createSimulation, type SimNode, type SimNodeComponents, type Simulation, type SimulationInit } from '../../src/testing/sim/index.ts'
import type { LinkStream } from '../../src/link/transport.ts'

export const PROTOCOL = '/probe/1.0.0'

export interface ProbeInit {
  protocols?: string[]
  maxInboundStreams?: number
  /** Sends back on the same stream what it reads there. */
  echo?: boolean
}

export interface Received {
  readonly from: string
  readonly at: number
  readonly data: Uint8Array
}

export class Probe implements SimNode {
  readonly name: string
  readonly c: SimNodeComponents
  readonly init: ProbeInit
  /** Inbound streams, as the transport handed them over. */
  readonly inbound: Array<{ peer: string, stream: LinkStream }> = []
  /** Peers of every connection reported. */
  readonly connections: string[] = []
  /** Every chunk read, on any stream it reads. */
  readonly received: Received[] = []
  readonly blocked = new Set<string>()
  refusals = 0
  /** start() resolved. */
  started = false

  constructor (c: SimNodeComponents, init: ProbeInit, name: string) {
    this.c = c
    this.init = init
    this.name = name
  }

  async start (): Promise<void> {
    await this.c.transport.start(this.init.protocols ?? [PROTOCOL], {
      stream: (stream, peer) => {
        this.inbound.push({ peer, stream })
        this.read(stream, peer)
      },
      connection: peer => { this.connections.push(peer) },
      isBlocked: peer => this.blocked.has(peer),
      refused: () => { this.refusals++ }
    }, { maxInboundStreams: this.init.maxInboundStreams ?? 32 })
    this.started = true
  }

  async stop (): Promise<void> {
    await this.c.transport.stop()
  }

  async open (peer: string, options: { protocols?: string[], force?: boolean, signal?: AbortSignal } = {}): Promise<LinkStream> {
    const { addr } = this.c.transport.parseAddress(`/sim/${peer}`)
    return await this.c.transport.open(peer, addr, options.protocols ?? [PROTOCOL], {
      signal: options.signal ?? new AbortController().signal,
      force: options.force ?? false
    })
  }

  /** Records every chunk `stream` delivers (and reports it to the simulation's digest); echoes if asked. */
  read (stream: LinkStream, peer: string): void {
    stream.addEventListener('message', evt => {
      const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      this.received.push({ from: peer, at: this.c.clock.now(), data })
      this.c.onDelivery(peer, stream.protocol, data)
      if (this.init.echo === true && stream.writeStatus === 'writable') stream.send(data)
    })
  }
}

/** A simulation of probes. */
export function probes (init: Omit<SimulationInit<Probe, ProbeInit>, 'node'>): Simulation<Probe> {
  return createSimulation<Probe, ProbeInit>({ ...init, node: (c, i, name) => new Probe(c, i ?? {}, name) })
}

/** A stream's events, as 'time event[:detail]' strings. */
export function watch (stream: LinkStream, now: () => number): string[] {
  const log: string[] = []
  stream.addEventListener('message', evt => {
    const list = evt.data instanceof Uint8ArrayList ? `list(${[...evt.data].length})` : ''
    log.push(`${now()} message:${evt.data.byteLength}${list}`)
  })
  stream.addEventListener('drain', () => { log.push(`${now()} drain`) })
  stream.addEventListener('remoteCloseWrite', () => { log.push(`${now()} remoteCloseWrite`) })
  stream.addEventListener('end', () => { log.push(`${now()} end`) })
  stream.addEventListener('close', evt => { log.push(`${now()} close${evt.error === undefined ? '' : `:${evt.error.name}:local=${String(evt.local)}`}`) })
  return log
}

export function bytes (n: number, fill = 1): Uint8Array {
  return new Uint8Array(n).fill(fill)
}

/** Opens a stream from `from` to `to`, running the simulation until the open settles. */
export async function open (sim: Simulation<Probe>, from: string, to: string, options: Parameters<Probe['open']>[1] = {}): Promise<LinkStream> {
  let result: { stream?: LinkStream, err?: unknown } | undefined
  sim.net(from).open(to, options).then(stream => { result = { stream } }, err => { result = { err } })
  await sim.run({ until: () => result !== undefined, timeout: 60_000 })
  if (result!.stream === undefined) throw result!.err
  return result!.stream
}

/** The stream `node` accepted last (the other end of the stream just opened to it). */
export function accepted (sim: Simulation<Probe>, node: string): LinkStream {
  const last = sim.net(node).inbound.at(-1)
  if (last === undefined) throw new Error(`${node} accepted no stream`)
  return last.stream
}
