/**
 * One simulated link, for unit tests of what sits on a stream (the Dispatcher and its lanes, the
 * Receiver): two nodes of a simulation, the writer 'a' and the reader 'b', on the simulation's
 * own transport, connections, streams and scheduler (src/testing/sim/), so the unit under test
 * meets the stream behaviour the simulation gives: chunks in order, each one event; `send()`
 * false while the link's buffer is full, then 'drain' once deliveries bring it below; pause and
 * resume handing over what was held as one Uint8ArrayList; half-close; abort (status 'aborted'
 * here) and the peer's reset (status 'reset' there). Time is virtual: `tick()` runs what is due
 * now, `run()` moves time; the unit takes the writer's `clock` and `random`.
 *
 * The test plays the other end. Every stream a opens is accepted and read at b (its bytes
 * counted); the test answers on `stream.other` (FLOW reports, say), holds the link (`hold`:
 * what a writes is held, so with `bufferBytes: 1` every write waits for a drain that comes on
 * `release`), or loses it (`cut`: both ends reset now, as a peer's reset or a lost connection).
 *
 * Both ends of a stream are recorded: the sim stream itself, its `send` and `abort` wrapped to
 * keep every write as it was handed over (the Uint8ArrayList and its pieces, by reference: the
 * link copies a list into one chunk) and to count aborts. The wrapper is on the instance, so
 * the stream stays the simulation's own (the transport recognises it in `abortConnection`).
 */
import type { Uint8ArrayList } from 'uint8arraylist'
import { createSimulation, type SimNode, type SimNodeComponents, type Simulation, type RunOptions } from '../src/testing/sim/index.ts'
import type { SimStream } from '../src/testing/sim/stream.ts'
import type { ConnectionEnd } from '../src/testing/sim/connection.ts'
import type { Clock, Random } from '../src/clock.ts'
import type { LinkStream } from '../src/link/transport.ts'

export const WRITER = 'a'
export const READER = 'b'
const V10 = '/consensus-net/1.0.0'
const V11 = '/consensus-net/1.1.0'

/** A stream end as the simulation made it, with what was done to it. */
export type Recorded = SimStream & {
  /** Every write `send()` took, as handed over. */
  readonly writes: Array<Uint8Array | Uint8ArrayList>
  /** Calls of `abort()`, even on a stream already finished. */
  readonly aborts: number
  /** Its 'close' event, once it came. */
  readonly closed: { error?: Error, local?: boolean } | undefined
  /** The other end of the stream. */
  other: Recorded
}

/** Wraps `stream`'s `send` and `abort` on the instance, and watches its 'close'. */
function record (stream: SimStream): Recorded {
  const recorded = Object.assign(stream, { writes: [] as Array<Uint8Array | Uint8ArrayList>, aborts: 0, closed: undefined as Recorded['closed'], other: undefined as unknown as Recorded })
  const send = stream.send.bind(stream)
  const abort = stream.abort.bind(stream)
  recorded.send = data => {
    const ok = send(data) // throws on a stream that is not writable: then it took nothing
    recorded.writes.push(data)
    return ok
  }
  recorded.abort = err => {
    recorded.aborts++
    abort(err)
  }
  stream.addEventListener('close', evt => { recorded.closed = { error: evt.error, local: evt.local } })
  return recorded
}

class LinkNode implements SimNode {
  readonly c: SimNodeComponents
  /** Streams accepted, oldest first. */
  readonly accepted: Recorded[] = []
  /** Bytes read on accepted streams nobody else reads. */
  received = 0
  readonly #read: boolean

  constructor (c: SimNodeComponents, read: boolean) {
    this.c = c
    this.#read = read
  }

  async start (): Promise<void> {
    await this.c.transport.start([V11, V10], {
      stream: stream => {
        const recorded = record(stream as SimStream)
        this.accepted.push(recorded)
        if (this.#read) recorded.addEventListener('message', evt => { this.received += evt.data.byteLength })
      },
      connection: () => {},
      isBlocked: () => false,
      refused: () => {}
    }, { maxInboundStreams: Infinity })
  }

  async stop (): Promise<void> {
    await this.c.transport.stop()
  }
}

export interface SimLinkInit {
  seed?: number
  /** Of both directions. Default 0: a chunk arrives in an event of its own at the same virtual instant. */
  latency?: number
  /** Bytes written and not yet delivered before `send()` returns false. Default 1 MiB. */
  bufferBytes?: number
  /** b reads (and counts) what arrives on its streams. Default true; false leaves them to the test (a Receiver). */
  read?: boolean
}

export interface DialHooks {
  /** Awaited before the stream is opened: a dial in progress, with its signal. */
  gate?: (signal: AbortSignal) => Promise<void>
  /** Dials to addresses for which this is true fail. */
  refuse?: (addr: string) => boolean
  /** Called with each stream once open, before the dialler has it. */
  dialed?: (s: Recorded) => void
}

export interface Dial {
  addr: string
  force: boolean
}

export class SimLink {
  readonly sim: Simulation<LinkNode>
  /** The writer's. */
  readonly clock: Clock
  readonly random: Random
  /** The reader's. */
  readonly readerClock: Clock
  /** Streams opened by a, oldest first. */
  readonly streams: Recorded[] = []
  /** Calls of a `dial` function, in order. */
  readonly dials: Dial[] = []

  constructor (init: SimLinkInit = {}) {
    const read = init.read ?? true
    this.sim = createSimulation<LinkNode, undefined>({
      seed: init.seed ?? 1,
      nodes: [WRITER, READER],
      link: { latency: init.latency ?? 0 },
      bufferBytes: init.bufferBytes,
      node: c => new LinkNode(c, read)
    })
    this.clock = this.#node(WRITER).c.clock
    this.random = this.#node(WRITER).c.random
    this.readerClock = this.#node(READER).c.clock
  }

  /** Bytes b read on the streams it reads. */
  get received (): number {
    return this.#node(READER).received
  }

  /**
   * A Dispatcher's `dial`: opens a stream of `protocol()` from a to b (on a new connection if
   * `force`), recorded in `streams` and `dials`; `hooks` may delay or refuse it.
   */
  dial (protocol: () => string = () => V10, hooks: DialHooks = {}): (addr: unknown, options: { signal: AbortSignal, force: boolean }) => Promise<LinkStream> {
    return async (addr, options) => {
      this.dials.push({ addr: String(addr), force: options.force })
      await hooks.gate?.(options.signal)
      if (hooks.refuse?.(String(addr)) === true) throw new Error('connection refused')
      const s = await this.#open(protocol(), options)
      hooks.dialed?.(s)
      return s
    }
  }

  /** Opens a stream of `protocol` from a to b, running the simulation until it is open. */
  async open (protocol = V11): Promise<Recorded> {
    let result: { stream: Recorded } | { error: unknown } | undefined
    this.#open(protocol, { signal: new AbortController().signal, force: false }).then(stream => { result = { stream } }, (error: unknown) => { result = { error } })
    await this.sim.run({ until: () => result !== undefined, timeout: 10_000 })
    if ('error' in result!) throw result.error
    return result!.stream
  }

  /** Runs every event due now (the chunks a zero-latency link carries, the drains they cause...). */
  async tick (): Promise<void> {
    await this.sim.run({ for: 0 })
  }

  async run (options: RunOptions): Promise<void> {
    await this.sim.run(options)
  }

  /** What a writes is held by the link (nothing is delivered, nothing closes) until `release`. */
  hold (): void {
    this.sim.blackhole(WRITER, READER, WRITER)
  }

  /** Delivers what `hold` held, in order, and runs what is due now (the drain among it). */
  async release (): Promise<void> {
    this.sim.heal(WRITER, READER)
    await this.tick()
  }

  /** Resets every stream between a and b at both ends, now: the peer reset it, or the connection was lost. */
  cut (): void {
    this.sim.cut(WRITER, READER)
  }

  async #open (protocol: string, options: { signal: AbortSignal, force: boolean }): Promise<Recorded> {
    const reader = this.#node(READER)
    const stream = record(await this.#node(WRITER).c.transport.open(READER, READER, [protocol], options) as SimStream)
    // b accepted it before its answer came back: the end with its id on the other end of its connection
    const remote = reader.accepted.find(r => r.id === stream.id && (r.carrier as ConnectionEnd).other === stream.carrier)
    if (remote === undefined) throw new Error(`b has no end of stream ${stream.id}`)
    stream.other = remote
    remote.other = stream
    this.streams.push(stream)
    return stream
  }

  #node (name: string): LinkNode {
    return this.sim.net(name)
  }
}
