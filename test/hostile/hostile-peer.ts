/**
 * A hostile peer: a raw libp2p node (TCP + Noise + Yamux on 127.0.0.1, a fresh identity each
 * time) that speaks the consensus-net wire as test/hostile/wire.ts writes it, and nothing of
 * src/. It opens streams and writes whatever bytes it is told, with backpressure (a `send()` that
 * returns false waits for 'drain'), counting every byte it writes and reads. When it is a member
 * of the victim's membership it also accepts the victim's own stream to it, and either reads it
 * like an honest member (reporting FLOW) or reads it and never reports (a member that looks dead).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { WireDecoder, WIRE_1_0, WIRE_1_1, concat, encode, frame, KIND, type Frame } from './wire.ts'
import type { Stream, StreamCloseEvent } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** How an attack stream ended, seen from the attacker. */
export interface Ended {
  /** 'reset': the victim reset it (or the connection died); 'closed': closed gracefully; 'aborted': we reset it. */
  how: 'reset' | 'closed' | 'aborted'
  /** ms after the stream opened. */
  afterMs: number
  error?: string
}

/** What a flood wrote, and why it stopped. */
export interface FloodResult {
  bytes: number
  writes: number
  /** 'closed': the stream ended under it; otherwise the budget that ran out. */
  stopped: 'closed' | 'bytes' | 'time' | 'writes'
  ms: number
}

/** What the victim wrote on its own streams to us (when we are its member), decoded. */
export class Inbox {
  bytes = 0
  frames = 0
  readonly byKind = new Map<number, number>()
  /** RESPONSE ids, PART counts by id, END ids, and every ERROR (id, code, message length). */
  readonly responses: number[] = []
  readonly parts = new Map<number, number>()
  readonly ends: number[] = []
  readonly errors: Array<{ id: number, code: number, messageBytes: number }> = []
  /** The victim's channel bindings on its stream, and the requests it made of us. */
  readonly names = new Map<number, string>()
  readonly requests: Array<{ channel: string | undefined, id: number, payload: Uint8Array }> = []
  /** Called for each request the victim makes of us (to answer it, or lie). */
  onRequest: ((r: { channel: string | undefined, id: number, payload: Uint8Array }) => void) | undefined
  /** The decoder stopped: the victim wrote something that is not our wire. */
  broken: string | undefined
  #waiters: Array<{ until: () => boolean, resolve: () => void }> = []

  take (f: Frame): void {
    this.frames++
    this.byKind.set(f.kind, (this.byKind.get(f.kind) ?? 0) + 1)
    if (f.kind === KIND.RESPONSE) this.responses.push(f.a)
    else if (f.kind === KIND.PART) this.parts.set(f.a, (this.parts.get(f.a) ?? 0) + 1)
    else if (f.kind === KIND.END) this.ends.push(f.a)
    else if (f.kind === KIND.ERROR) this.errors.push({ id: f.a, code: f.b, messageBytes: f.rest.byteLength })
    else if (f.kind === KIND.BIND) this.names.set(f.a, new TextDecoder().decode(f.rest))
    else if (f.kind === KIND.REQUEST) {
      const r = { channel: this.names.get(f.a), id: f.b, payload: f.rest.slice() }
      this.requests.push(r)
      this.onRequest?.(r)
    }
    this.#check()
  }

  count (kind: number): number {
    return this.byKind.get(kind) ?? 0
  }

  /** Resolves once `until()` holds; rejects after `ms`, saying what arrived. */
  async wait (until: () => boolean, ms: number, what: string): Promise<void> {
    if (until()) return
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        this.#waiters.push({ until, resolve })
        timer = setTimeout(() => { reject(new Error(`attacker: timed out waiting for ${what}; got ${this.describe()}`)) }, ms)
      })
    } finally {
      clearTimeout(timer)
    }
  }

  describe (): string {
    const kinds = [...this.byKind].map(([k, n]) => `0x${k.toString(16)}:${n}`).join(' ')
    return `${this.frames} frames (${kinds || 'none'}), ${this.bytes} bytes`
  }

  #check (): void {
    if (this.#waiters.length === 0) return
    this.#waiters = this.#waiters.filter(w => {
      if (!w.until()) return true
      w.resolve()
      return false
    })
  }
}

/** One stream the attacker opened to the victim. */
export class AttackStream {
  readonly stream: Stream
  readonly #peer: HostilePeer
  readonly #opened = Date.now()
  /** Bytes we wrote on it, and read back on its reverse direction. */
  sent = 0
  received = 0
  /** Reverse frames: the last FLOW total, the highest ACK by channel, and how many of each kind came. */
  flow = 0
  readonly acks = new Map<number, number>()
  readonly reverseKinds = new Map<number, number>()
  readonly ended: Promise<Ended>
  #end: Ended | undefined

  constructor (stream: Stream, peer: HostilePeer) {
    this.stream = stream
    this.#peer = peer
    const decoder = new WireDecoder(f => {
      this.reverseKinds.set(f.kind, (this.reverseKinds.get(f.kind) ?? 0) + 1)
      if (f.kind === KIND.FLOW) this.flow = f.a
      else if (f.kind === KIND.ACK) this.acks.set(f.a, Math.max(f.b, this.acks.get(f.a) ?? 0))
    }, 1024 * 1024)
    stream.addEventListener('message', evt => {
      for (const chunk of chunks(evt.data)) {
        this.received += chunk.byteLength
        peer.received += chunk.byteLength
        decoder.push(chunk)
      }
      this.#check()
    })
    this.ended = new Promise(resolve => {
      stream.addEventListener('close', (evt: StreamCloseEvent) => {
        const how = evt.error === undefined ? 'closed' : evt.local === true ? 'aborted' : 'reset'
        this.#end = { how, afterMs: Date.now() - this.#opened, ...(evt.error === undefined ? {} : { error: `${evt.error.name}: ${evt.error.message}` }) }
        resolve(this.#end)
        this.#check()
      }, { once: true })
    })
  }

  #waiters: Array<{ until: () => boolean, resolve: (ok: boolean) => void }> = []

  /**
   * Resolves true once `cond()` holds (checked whenever the reverse direction carries something),
   * false if the stream ends first or after `ms`.
   */
  async until (cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return true
    if (this.#end !== undefined) return false
    let timer: ReturnType<typeof setTimeout> | undefined
    const result = await new Promise<boolean>(resolve => {
      const waiter = { until: cond, resolve }
      this.#waiters.push(waiter)
      timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter(w => w !== waiter)
        resolve(false)
      }, ms)
    })
    clearTimeout(timer)
    return result
  }

  /** Resolves true once the victim reported consuming everything we wrote (FLOW), false if not within `ms`. */
  async consumed (ms = 5000): Promise<boolean> {
    return await this.until(() => this.flow >= this.sent, ms)
  }

  /** How the stream ended, or undefined if it is still open after `ms`. */
  async endedWithin (ms: number): Promise<Ended | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const r = await Promise.race([this.ended, new Promise<undefined>(resolve => { timer = setTimeout(() => { resolve(undefined) }, ms) })])
    clearTimeout(timer)
    return r
  }

  #check (): void {
    if (this.#waiters.length === 0) return
    this.#waiters = this.#waiters.filter(w => {
      if (this.#end === undefined && !w.until()) return true
      w.resolve(w.until())
      return false
    })
  }

  get open (): boolean {
    return this.#end === undefined && this.stream.writeStatus === 'writable'
  }

  /**
   * Writes `bytes`, waiting for 'drain' if the stream asks (at most `ms`, 10 s by default: a
   * victim that stops reading must not hang the run); false if the stream closed first or the
   * wait ran out.
   */
  async write (bytes: Uint8Array, ms = 10_000): Promise<boolean> {
    if (!this.open) return false
    let ok: boolean
    try {
      ok = this.stream.send(bytes)
    } catch {
      return false // closing or closed: its 'close' event says how
    }
    this.sent += bytes.byteLength
    this.#peer.sent += bytes.byteLength
    if (ok) return true
    return await this.#drained(ms)
  }

  /**
   * Writes `next(i)` for i = 0, 1, ... until the stream ends or a budget runs out (each bounded:
   * `ms` defaults to 3 s, `writes` to 1M). Yields to the event loop after every write, so the rest
   * of this process (an honest member) keeps running. With `window`, it keeps at most that many
   * bytes written beyond what the victim reported consumed (FLOW), as docs/wire.md's writer does:
   * a flood at the pace the protocol allows; without, it writes as fast as the muxer lets it.
   */
  async flood (next: (i: number) => Uint8Array, budget: { bytes?: number, ms?: number, writes?: number, window?: number } = {}): Promise<FloodResult> {
    const started = Date.now()
    const ms = budget.ms ?? 3000
    const window = budget.window
    const maxWrites = budget.writes ?? 1_000_000
    const maxBytes = budget.bytes ?? Infinity
    let bytes = 0
    let writes = 0
    let stopped: FloodResult['stopped'] = 'writes'
    for (; writes < maxWrites; writes++) {
      if (Date.now() - started >= ms) { stopped = 'time'; break }
      if (bytes >= maxBytes) { stopped = 'bytes'; break }
      const chunk = next(writes)
      if (window !== undefined && this.sent + chunk.byteLength - this.flow > window) {
        const left = ms - (Date.now() - started)
        if (!await this.until(() => this.sent + chunk.byteLength - this.flow <= window, Math.max(0, left))) {
          stopped = this.open ? 'time' : 'closed'
          break
        }
      }
      if (!await this.write(chunk, ms - (Date.now() - started))) {
        // still open: time ran out waiting for 'drain', and the chunk, handed over, is on its way
        if (this.open) {
          bytes += chunk.byteLength
          writes++
          stopped = 'time'
        } else {
          stopped = 'closed'
        }
        break
      }
      bytes += chunk.byteLength
      await new Promise(resolve => setImmediate(resolve))
    }
    return { bytes, writes, stopped, ms: Date.now() - started }
  }

  /** Our side resets the stream. */
  reset (): void {
    this.stream.abort(new Error('hostile peer resets'))
  }

  /** Closes our side gracefully (bounded: a stalled close is reset after 2 s). */
  async close (): Promise<void> {
    await this.stream.close({ signal: AbortSignal.timeout(2000) }).catch(() => { this.reset() })
  }

  async #drained (ms: number): Promise<boolean> {
    return await new Promise<boolean>(resolve => {
      const done = (ok: boolean) => (): void => {
        clearTimeout(timer)
        this.stream.removeEventListener('drain', onDrain)
        this.stream.removeEventListener('close', onClose)
        resolve(ok)
      }
      const onDrain = done(true)
      const onClose = done(false)
      const timer = setTimeout(done(false), Math.max(0, ms))
      this.stream.addEventListener('drain', onDrain, { once: true })
      this.stream.addEventListener('close', onClose, { once: true })
    })
  }
}

export class HostilePeer {
  readonly node: Libp2p
  /** Every byte we wrote on streams we opened, and read on their reverse directions. */
  sent = 0
  received = 0
  /** What the victim wrote on its streams to us, decoded; the FLOW we reported; its streams so far. */
  readonly inbox = new Inbox()
  reported = 0
  victimStreams = 0
  readonly #streams = new Set<AttackStream>()

  private constructor (node: Libp2p) {
    this.node = node
  }

  /** A new node with a new identity (Ed25519 key), listening on 127.0.0.1. */
  static async start (): Promise<HostilePeer> {
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { enabled: false }
    })
    return new HostilePeer(node)
  }

  get peerId (): string {
    return this.node.peerId.toString()
  }

  /** Our address (with /p2p/), for the victim's membership. */
  get addr (): string {
    return this.node.getMultiaddrs().map(String).find(a => a.startsWith('/ip4/127.0.0.1/')) ?? String(this.node.getMultiaddrs()[0])
  }

  /**
   * Accept the victim's streams to us (we are its member): read every frame into `inbox`, and
   * report FLOW once per turn like an honest receiver ('honest'), never ('silent': the victim's
   * writes stall at its window and it declares the link dead), or falsely ('lying': FLOW of a
   * megabyte more than was written, then a frame of a kind the reverse direction does not have).
   */
  async accept (mode: 'honest' | 'silent' | 'lying'): Promise<void> {
    const handler = (stream: Stream): void => {
      this.victimStreams++
      const decoder = new WireDecoder(f => { this.inbox.take(f) })
      let scheduled = false
      let helloBack = true
      const report = (): void => {
        scheduled = false
        if (stream.writeStatus !== 'writable' || decoder.consumed === this.reported) return
        this.reported = decoder.consumed
        const flow = mode === 'lying' ? concat([encode.flow(decoder.consumed + 1024 * 1024), frame(0x43)]) : encode.flow(decoder.consumed)
        try {
          stream.send(helloBack ? concat([encode.helloBack(1), flow]) : flow)
          helloBack = false
        } catch {}
      }
      stream.addEventListener('message', evt => {
        for (const chunk of chunks(evt.data)) {
          this.inbox.bytes += chunk.byteLength
          decoder.push(chunk)
        }
        if (decoder.error !== undefined) this.inbox.broken = decoder.error
        if (mode !== 'silent' && !scheduled) {
          scheduled = true
          setImmediate(report)
        }
      })
    }
    await this.node.handle([WIRE_1_1, WIRE_1_0], handler, { maxInboundStreams: 64 })
  }

  /** Opens a stream of `protocol` (default 1.1.0) to `target` (a multiaddr with /p2p/). */
  async open (target: string, protocol = WIRE_1_1): Promise<AttackStream> {
    const stream = await this.node.dialProtocol(multiaddr(target), protocol, { signal: AbortSignal.timeout(5000) })
    const s = new AttackStream(stream, this)
    this.#streams.add(s)
    void s.ended.then(() => { this.#streams.delete(s) })
    return s
  }

  /** Open connections to `peer` (a peer ID string). */
  connectionsTo (peer: string): number {
    return this.node.getConnections().filter(c => c.remotePeer.toString() === peer && c.status === 'open').length
  }

  /** Resolves true once no connection to `peer` is open (checked on each 'connection:close'), false after `ms`. */
  async disconnected (peer: string, ms: number): Promise<boolean> {
    if (this.connectionsTo(peer) === 0) return true
    let timer: ReturnType<typeof setTimeout> | undefined
    let listener: (() => void) | undefined
    const result = await new Promise<boolean>(resolve => {
      listener = () => { if (this.connectionsTo(peer) === 0) resolve(true) }
      this.node.addEventListener('connection:close', listener)
      timer = setTimeout(() => { resolve(false) }, ms)
    })
    clearTimeout(timer)
    this.node.removeEventListener('connection:close', listener)
    return result
  }

  async stop (): Promise<void> {
    for (const s of this.#streams) s.reset()
    await this.node.stop()
  }
}

function chunks (data: Uint8Array | Uint8ArrayList): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}
