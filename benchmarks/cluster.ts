/**
 * Starts the nodes of one contender, each in its own worker process, and connects them: node i is
 * named 'n<i>' and carries index i in its payloads.
 */
import type { ChannelSpec, ContenderName, ResolverSpec } from './contenders/contender.ts'
import type { Requests } from './protocol.ts'
import { Worker } from './workers.ts'

export interface Cluster {
  contender: ContenderName
  workers: Worker[]
  ids: string[]
  /** One dialable multiaddr per node. */
  addrs: string[]
  /** RSS of each worker right after its node started. */
  rssAfterInit: number[]
}

export interface StartOptions {
  options?: Record<string, unknown>
  /** See EndpointInit.loopback. */
  loopback?: boolean
  /** See EndpointInit.channels and EndpointInit.respond. */
  channels?: ChannelSpec[]
  respond?: number
  /** See EndpointInit.resolver. */
  resolver?: ResolverSpec
  /** Index of the first node (names and payload indexes). */
  firstIndex?: number
  timeoutMs?: number
}

export async function startCluster (contender: ContenderName, count: number, opts: StartOptions = {}): Promise<Cluster> {
  const first = opts.firstIndex ?? 0
  const ids = Array.from({ length: count }, (_, i) => `n${first + i}`)
  const workers = ids.map(id => new Worker(`${contender}/${id}`))
  const cluster: Cluster = { contender, workers, ids, addrs: [], rssAfterInit: [] }
  try {
    const inits = await Promise.all(workers.map(async (w, i) => await w.call('init', {
      contender,
      nodes: [{ nodeId: ids[i], index: first + i }],
      ...(opts.options === undefined ? {} : { options: opts.options }),
      loopback: opts.loopback === true,
      ...(opts.channels === undefined ? {} : { channels: opts.channels }),
      ...(opts.respond === undefined ? {} : { respond: opts.respond }),
      ...(opts.resolver === undefined ? {} : { resolver: opts.resolver })
    }, opts.timeoutMs ?? 60_000)))
    cluster.addrs = inits.map(r => pickAddr(r.addrs[0]))
    cluster.rssAfterInit = inits.map(r => r.rss)
  } catch (err) {
    for (const w of workers) w.kill()
    throw err
  }
  return cluster
}

/** A loopback TCP address with the peer id. */
export function pickAddr (addrs: string[]): string {
  const a = addrs.find(a => a.startsWith('/ip4/127.0.0.1/tcp/') && a.includes('/p2p/')) ?? addrs[0]
  if (a === undefined) throw new Error('node has no address')
  return a
}

/** Every node of the cluster gets the same membership: all of them (plus `extra`). */
export async function connectCluster (
  cluster: Cluster,
  timeoutMs: number,
  extra: Record<string, string> = {},
  waitFor?: number
): Promise<Array<Requests['connect']['result']>> {
  const peers: Record<string, string> = { ...extra }
  cluster.ids.forEach((id, i) => { peers[id] = cluster.addrs[i] })
  return await Promise.all(cluster.workers.map(async w => await w.call('connect', {
    peers: [peers],
    timeoutMs,
    ...(waitFor === undefined ? {} : { waitFor })
  }, timeoutMs + 5000)))
}
