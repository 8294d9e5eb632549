/**
 * The victim of the hostile-peer tests, in its own process so that its memory is its own: a
 * `createConsensusNet` node on 127.0.0.1 with the options and channels it is given, driven over
 * IPC by test/hostile/scene.ts. It answers `stats` (the node's and each channel's, what its
 * handlers did, who is blocked), `memory` (after two forced full GCs: run it with --expose-gc),
 * `connect` and `waitFor`, and forwards every 'peer:blocked' event. Handlers: 'echo' answers the
 * request's bytes at once; 'parts' answers with parts of `partBytes` for as long as it is asked;
 * 'hang' never answers (until the request is cancelled).
 *
 * argv: <config JSON>. Nothing here looks inside the library: only its public API.
 */
import { createConsensusNet, type BlockedPeer, type ConsensusNet, type Resolver } from '../../src/index.ts'
import { valueOf } from './attacks.ts'

export interface VictimChannel {
  name: string
  options: Record<string, unknown>
  serve: 'echo' | 'parts' | 'hang' | 'none'
  partBytes?: number
}

export interface VictimConfig {
  /** ConsensusNetInit. */
  init: Record<string, unknown>
  channels: VictimChannel[]
  /**
   * Lift libp2p's limit of 5 inbound connections per second per host: every peer of a test is on
   * 127.0.0.1, one host to libp2p, where the attackers of a real validator come from many.
   */
  manyHosts: boolean
  /**
   * A resolver of this name: it serves every key with 'value of <key>' and takes only that value
   * as valid, so a member answering anything else is caught by `validate`.
   */
  resolver?: string
}

export interface VictimStats {
  net: ReturnType<ConsensusNet['stats']>
  channels: Record<string, ReturnType<ReturnType<ConsensusNet['channel']>['stats']>>
  /** `net.blocked()`. */
  blocked: BlockedPeer[]
  /** Handler calls per channel, and parts yielded by 'parts' handlers. */
  handled: Record<string, number>
  partsYielded: number
}

export interface VictimMemory {
  heapUsed: number
  external: number
  arrayBuffers: number
  rss: number
  /** heapUsed + external: what the process holds live after the GCs. */
  live: number
}

const config = JSON.parse(process.argv[2]) as VictimConfig
const net = await createConsensusNet({
  ...config.init,
  libp2p: config.manyHosts ? { connectionManager: { inboundConnectionThreshold: 100_000, maxIncomingPendingConnections: 1_000 } } : {}
})

const handled: Record<string, number> = {}
let partsYielded = 0
for (const spec of config.channels) {
  const channel = net.channel(spec.name, spec.options)
  handled[spec.name] = 0
  if (spec.serve === 'echo') {
    channel.handle(data => {
      handled[spec.name]++
      return data
    })
  } else if (spec.serve === 'hang') {
    channel.handle(async (_data, { signal }) => {
      handled[spec.name]++
      return await new Promise<Uint8Array>((_resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true }) })
    })
  } else if (spec.serve === 'parts') {
    const part = new Uint8Array(spec.partBytes ?? 1024).fill(0x70)
    channel.handle(async function * (_data, { signal }) {
      handled[spec.name]++
      // "forever", bounded: 10M parts is far more than any test lets through
      for (let i = 0; i < 10_000_000 && !signal.aborted; i++) {
        partsYielded++
        yield part
      }
    })
  }
}

let resolver: Resolver | undefined
if (config.resolver !== undefined) {
  resolver = net.resolver(config.resolver, {
    produce: key => valueOf(key),
    validate: (key, value) => Buffer.from(value).equals(valueOf(key)),
    hedge: false,
    timeout: 2000
  })
}

net.addEventListener('peer:blocked', evt => {
  post({ event: 'peer:blocked', detail: evt.detail })
})

function post (msg: unknown): void {
  if (process.connected) process.send!(msg)
}

async function fullGc (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('the victim runs with --expose-gc')
  gc()
  await new Promise(resolve => setImmediate(resolve))
  gc()
}

const commands: Record<string, (args: any) => Promise<unknown>> = {
  async connect ({ membership }) {
    await net.connect(membership)
    return {}
  },
  async waitFor ({ n, ms }) {
    await net.waitFor(n, { signal: AbortSignal.timeout(ms) })
    return {}
  },
  async stats (): Promise<VictimStats> {
    const channels: VictimStats['channels'] = {}
    for (const spec of config.channels) channels[spec.name] = net.channel(spec.name).stats()
    return { net: net.stats(), channels, blocked: net.blocked(), handled, partsYielded }
  },
  /** Fetches `key` through the resolver (from `from`, if given): the value as text, or the error's code. */
  async fetch ({ key, from }: { key: string, from?: string[] }) {
    if (resolver === undefined) throw new Error('no resolver')
    try {
      const value = await resolver.fetch(key, { signal: AbortSignal.timeout(5000), ...(from === undefined ? {} : { from }) })
      return { value: new TextDecoder().decode(value), stats: resolver.stats() }
    } catch (err: any) {
      return { error: String(err?.code ?? err?.name ?? err), stats: resolver.stats() }
    }
  },
  async memory (): Promise<VictimMemory> {
    await fullGc()
    const m = process.memoryUsage()
    return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, live: m.heapUsed + m.external }
  }
}

process.on('message', (msg: { id: number, cmd: string, args: unknown }) => {
  const run = commands[msg.cmd]
  if (run === undefined) {
    post({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` })
    return
  }
  run(msg.args).then(
    result => { post({ id: msg.id, ok: true, result }) },
    (err: Error) => { post({ id: msg.id, ok: false, error: err?.stack ?? String(err) }) }
  )
})
// the test went away: never outlive it
process.on('disconnect', () => { process.exit(0) })
post({ event: 'ready', addrs: net.getMultiaddrs().map(String), peerId: net.peerId.toString() })
