/** Shared test helpers: real nodes on 127.0.0.1, event waits bounded in time (never sleeps). */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p, type ServiceFactoryMap } from 'libp2p'
import type { ServiceMap } from '@libp2p/interface'
import { consensusNet, createConsensusNet, type ConsensusNet, type CreateConsensusNetInit, type MessageDetail } from '../src/index.ts'

/** Fast reconnects: tests wait on events, and a 5 s backoff cap would only slow them. */
export const FAST_RECONNECT = { initialDelay: 20, maxDelay: 200, factor: 2, jitter: 0.2 }

export async function startNodes (n: number, init: CreateConsensusNetInit = {}): Promise<ConsensusNet[]> {
  return Promise.all(Array.from({ length: n }, async () => createConsensusNet({ reconnect: FAST_RECONNECT, ...init })))
}

export const NAMES = 'abcdefghijklmnopqrstuvwxyz'.split('')

/** { a: addrs of nets[0], b: addrs of nets[1], ... } */
export function membershipOf (nets: ConsensusNet[], names = NAMES): Record<string, string[]> {
  return Object.fromEntries(nets.map((net, i) => [names[i], net.getMultiaddrs().map(String)]))
}

export async function stopAll (nets: Array<{ stop: () => void | Promise<void> }>): Promise<void> {
  await Promise.all(nets.map(async n => { await Promise.resolve(n.stop()).catch(() => {}) }))
}

/** Records every message a net emits. */
export class Inbox {
  readonly messages: MessageDetail[] = []
  #waiters: Array<{ until: () => boolean, resolve: () => void }> = []

  constructor (net: ConsensusNet) {
    net.addEventListener('message', e => {
      this.messages.push(e.detail)
      this.#waiters = this.#waiters.filter(w => {
        if (!w.until()) return true
        w.resolve()
        return false
      })
    })
  }

  from (node: string): Uint8Array[] {
    return this.messages.filter(m => m.from === node).map(m => m.data)
  }

  /** Resolves when `until()` holds; rejects after `ms` with what was received so far. */
  async wait (until: () => boolean, ms = 20_000, what = 'messages'): Promise<void> {
    if (until()) return
    await withTimeout(new Promise<void>(resolve => { this.#waiters.push({ until, resolve }) }), ms,
      () => `timed out waiting for ${what}; have ${this.messages.length}`)
  }

  async waitCount (n: number, ms?: number): Promise<void> {
    await this.wait(() => this.messages.length >= n, ms, `${n} messages`)
  }
}

export async function withTimeout<T> (p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(what())) }, ms)
    })])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves with the detail of the next `type` event for which `match` holds. */
export async function nextEvent<T> (target: EventTarget, type: string, match: (detail: T) => boolean = () => true, ms = 20_000): Promise<T> {
  let listener: ((e: Event) => void) | undefined
  try {
    return await withTimeout(new Promise<T>(resolve => {
      listener = (e: Event) => {
        const detail = (e as CustomEvent<T>).detail
        if (match(detail)) resolve(detail)
      }
      target.addEventListener(type, listener)
    }), ms, () => `timed out waiting for '${type}'`)
  } finally {
    target.removeEventListener(type, listener!)
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
export const text = (s: string): Uint8Array => encoder.encode(s)
export const str = (b: Uint8Array): string => decoder.decode(b)

/** A 4-byte big-endian sequence number, optionally padded to `size` bytes. */
export function seq (i: number, size = 4): Uint8Array {
  const b = new Uint8Array(size)
  new DataView(b.buffer).setUint32(0, i)
  return b
}
export const seqOf = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0)

/**
 * For states no event announces (a count in `stats()`): checks `cond` every 5 ms until it
 * holds, failing after `ms`. Bounded in time; use `Inbox.wait` / `nextEvent` where an event exists.
 */
export async function waitUntil (cond: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** A TCP port that was free a moment ago, for a node that must start later at a known address. */
export async function freePort (): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => { resolve(port) })
    })
  })
}

/** A plain libp2p node (TCP + Noise + Yamux, no consensus-net): a peer that does what a test tells it. */
export async function plainNode<T extends ServiceMap = ServiceMap> (services?: ServiceFactoryMap<T>): Promise<Libp2p<T>> {
  return createLibp2p<T>({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(services === undefined ? {} : { services })
  })
}

/** A signal that aborts after 20 s: every wait of the network tests is bounded by it. */
export const bounded = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(20_000) })

/**
 * Two nodes where `a` knows only itself and `c` knows both: what c sends a is held tentatively
 * until `a.connect(all)` promotes c.
 */
export async function startStranger (init: CreateConsensusNetInit = {}): Promise<{ a: ConsensusNet, c: ConsensusNet, all: Record<string, string[]> }> {
  const [a, c] = await startNodes(2, init)
  const all = membershipOf([a, c], ['a', 'c'])
  await a.connect({ a: all.a })
  await c.connect(all)
  return { a, c, all }
}

/**
 * Two libp2p nodes on the memory transport with the service inside (the service form, on a
 * transport other than TCP), connected: `nets` are their services, `nodes` the libp2p nodes.
 */
export async function memoryPair (): Promise<{ nodes: Libp2p[], nets: [ConsensusNet, ConsensusNet] }> {
  const id = Math.random().toString(36).slice(2)
  const nodes = await Promise.all(['a', 'b'].map(async name => createLibp2p({
    addresses: { listen: [`/memory/consensus-net-${id}-${name}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { consensus: consensusNet() }
  })))
  const [a, b] = nodes.map(n => n.services.consensus)
  const membership = { a: nodes[0].getMultiaddrs(), b: nodes[1].getMultiaddrs() }
  await Promise.all([a.connect(membership), b.connect(membership)])
  await Promise.all([a.waitFor(2, bounded()), b.waitFor(2, bounded())])
  return { nodes, nets: [a, b] }
}

/** `n` connected nodes named a, b, c, ...; each is added to `cleanup`. */
export async function mesh (cleanup: Array<{ stop: () => void | Promise<void> }>, n: number, init: CreateConsensusNetInit = {}): Promise<ConsensusNet[]> {
  const nets = await startNodes(n, init)
  cleanup.push(...nets)
  const membership = membershipOf(nets)
  await Promise.all(nets.map(async net => net.connect(membership)))
  await Promise.all(nets.map(async net => net.waitFor(n, bounded())))
  return nets
}
