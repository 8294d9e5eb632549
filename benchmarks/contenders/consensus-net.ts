/**
 * This project through its public API only: `createConsensusNet`, `connect` + `waitFor`, `send`
 * or `broadcast`, and `stats()`; with channels (`net.channel(name, options)`, opened at start
 * on every node as EndpointInit.channels says), the same calls on a channel, and
 * `channel.request` / `channel.handle` for request jobs. `send()` never blocks and drops the
 * oldest message when a member's queue is full, so a sender that wants every message delivered
 * watches the queue (`stats().members[m].queued`) and waits while it is PACE_QUEUED deep (or
 * `job.queued`), yielding to the event loop after every batch: what an application that wants no
 * drops would write.
 *
 * The resolver scenario's key-value service (EndpointInit.resolver) is `net.resolver(name,
 * { produce })` with default options, the same with `hedge: false`, and the naive baseline a
 * user would write without the resolver: `channel.handle` that produces every request, and one
 * `channel.request` per fetch to a member the caller picks.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { consensusNet, createConsensusNet, type ConsensusNet } from '../../src/index.ts'
import { LOOPBACK_CONNECTION_MANAGER } from './loopback.ts'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { allocPayload, wallNow, writeHeader } from '../payload.ts'
import type { EndpointFactory, SendJob } from './contender.ts'
import { sendAtRate } from './pace.ts'
import { responseTo, runRequests } from './requests.ts'
import { runFetches, valueFor } from './fetches.ts'
import type { Resolver } from '../../src/index.ts'

type Channel = ReturnType<ConsensusNet['channel']>

/** Per-member queue counters, of the node (default channel) or of one channel. */
interface QueueStats { members: Record<string, { queued: number, dropped: number } | undefined> }

/** Queue depth (messages) at which the sender waits: a quarter of the default sendBufferSize (16,384). */
export const PACE_QUEUED = 4096

/**
 * `createConsensusNet` as a user calls it; or, with `loopback`, the same service
 * (`consensusNet()`) on a libp2p node whose inbound connection rate limit is lifted, for
 * scenarios where hundreds of peers on 127.0.0.1 (one host to libp2p) connect at once.
 */
async function start (options: Record<string, unknown>, loopback: boolean): Promise<{ net: ConsensusNet, stop: () => Promise<void> }> {
  if (!loopback) {
    const net = await createConsensusNet({ listen: ['/ip4/127.0.0.1/tcp/0'], ...options })
    return { net, stop: async () => { await net.stop() } }
  }
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: LOOPBACK_CONNECTION_MANAGER,
    services: { consensus: consensusNet(options) }
  })
  return { net: node.services.consensus, stop: async () => { await node.stop() } }
}

/** The queue depth the sender paces on: the deepest queue, or the deepest but one (a quorum). */
function pacedDepth (queues: { stats: () => QueueStats }, job: SendJob): { depth: number, dropped: number } {
  const members = queues.stats().members
  const depths: number[] = []
  let dropped = 0
  for (const id of job.to) {
    const m = members[id]
    if (m === undefined) continue
    depths.push(m.queued)
    dropped += m.dropped
  }
  depths.sort((a, b) => a - b)
  const ignore = job.pace === 'all-but-slowest' && depths.length > 1 ? 1 : 0
  return { depth: depths[depths.length - 1 - ignore] ?? 0, dropped }
}

/** The endpoint, receiving through the 'message' events or through the onMessage handlers. */
export const consensusNetEndpoint = (receive: 'event' | 'handler'): EndpointFactory => async (init, onPayload) => {
  const { net, stop } = await start(init.options ?? {}, init.loopback === true)
  if (receive === 'handler') net.onMessage((_from, data) => { onPayload(data) })
  else net.addEventListener('message', (evt) => { onPayload(evt.detail.data) })
  const channels = new Map<string, Channel>()
  for (const spec of init.channels ?? []) {
    const channel = net.channel(spec.name, {
      priority: spec.priority,
      ...(spec.reliable === true ? { reliable: true } : {}),
      ...(spec.maxConcurrentRequests === undefined ? {} : { maxConcurrentRequests: spec.maxConcurrentRequests })
    })
    if (receive === 'handler') channel.onMessage((_from, data) => { onPayload(data) })
    else channel.addEventListener('message', (evt) => { onPayload(evt.detail.data) })
    const respond = init.respond
    if (spec.serve === true && respond !== undefined) channel.handle(async (data) => responseTo(data, respond))
    const parts = spec.parts
    if (parts !== undefined) {
      const part = new Uint8Array(parts)
      // "for as long as it is asked", bounded: 10M parts is more than any trial takes
      channel.handle(async function * (_data, { signal }) {
        for (let i = 0; i < 10_000_000 && !signal.aborted; i++) yield part
      })
    }
    channels.set(spec.name, channel)
  }
  const channelOf = (name: string | undefined): Channel | undefined => {
    if (name === undefined) return undefined
    const channel = channels.get(name)
    if (channel === undefined) throw new Error(`channel ${name} was not opened at start`)
    return channel
  }
  // the resolver scenario's key-value service: every node serves every key
  const kv = init.resolver
  let produceMs = kv?.produceMs ?? 0
  const resolvers = new Map<string, Resolver>()
  const naive = { requests: 0, served: 0 }
  let naiveChannel: Channel | undefined
  if (kv !== undefined) {
    const produce = async (key: string | Uint8Array): Promise<Uint8Array> => {
      await sleep(produceMs) // the backend: a disk read, a database, a slow peer
      return valueFor(typeof key === 'string' ? key : new TextDecoder().decode(key), kv.valueSize)
    }
    resolvers.set('resolver', net.resolver(kv.name, { produce }))
    resolvers.set('resolver-nohedge', net.resolver(`${kv.name}-nohedge`, { produce, hedge: false }))
    naiveChannel = net.channel(`${kv.name}-naive`, { priority: 4 })
    naiveChannel.handle(async (data) => {
      naive.served++
      return await produce(new TextDecoder().decode(data))
    })
  }
  let members = 0
  return {
    nodeId: init.nodeId,
    addrs: () => net.getMultiaddrs().map(ma => ma.toString()),
    async connect (peers, signal, waitFor) {
      members = Object.keys(peers).length
      await net.connect(peers)
      await net.waitFor(waitFor ?? members, { signal })
    },
    async send (job, signal) {
      const broadcast = job.to.length > 1 && job.to.length === members - 1
      const channel = channelOf(job.channel)
      // the default channel is the node itself: net.send / net.broadcast / net.stats()
      const out: Pick<Channel, 'send' | 'broadcast'> = channel ?? net
      const queues = { stats: (): QueueStats => (channel ?? net).stats() as QueueStats }
      // as fast as it goes, one send time stamps a whole batch (made within a millisecond or so; the
      // pre-packed ceiling stamps its whole job once); at a rate, every message is stamped
      const sendOne = (seq: number, sentAt = wallNow()): boolean => {
        const data = allocPayload(job.size)
        writeHeader(data, 0, sentAt, seq, job.trial, init.index)
        if (broadcast) out.broadcast(data)
        else for (const to of job.to) out.send(to, data) // queued by reference, never modified
        return true
      }
      // queue depth to keep: PACE_QUEUED messages, or what fits in half the default 32 MiB byte
      // bound for large messages (more would be dropped by the bound, not paced)
      const target = job.queued ?? Math.max(1, Math.min(PACE_QUEUED, Math.floor(16 * 2 ** 20 / job.size)))
      const before = pacedDepth(queues, job).dropped
      const startedAt = wallNow()
      let sent = 0
      let waits = 0
      // the depth found at each check once the target was first reached: how deep the queue stayed
      const depths = { min: Infinity, sum: 0, n: 0 }
      if (job.rate > 0) {
        sent = await sendAtRate(job, signal, sendOne, async () => {})
      } else {
        const paced = job.pace !== 'none'
        while (sent < job.count && !signal.aborted && wallNow() < job.deadline) {
          let room = job.count - sent
          if (paced) {
            const { depth } = pacedDepth(queues, job)
            if (sent > 0 && (depths.n > 0 || depth >= target)) {
              depths.min = Math.min(depths.min, depth)
              depths.sum += depth
              depths.n++
            }
            if (depth >= target) {
              waits++
              await sleep(1)
              continue
            }
            room = Math.min(room, target - depth)
          } else {
            room = Math.min(room, target)
          }
          const sentAt = wallNow()
          for (let i = 0; i < room; i++) sendOne(sent++, sentAt)
          await yieldToLoop()
        }
      }
      // done when the paced-on queues are empty (a stalled member's never is)
      if (job.pace !== 'none') {
        while (!signal.aborted && wallNow() < job.deadline && pacedDepth(queues, job).depth > 0) await sleep(1)
      }
      const after = pacedDepth(queues, job).dropped
      const counters: Record<string, number> = { dropped: after - before, paceWaits: waits }
      if (depths.n > 0) {
        counters.queuedMin = depths.min
        counters.queuedMean = depths.sum / depths.n
      }
      return { sent, startedAt, endedAt: wallNow(), counters }
    },
    async request (job, signal) {
      const channel = channelOf(job.channel)
      if (channel === undefined) throw new Error('requests need a channel')
      return await runRequests(job, signal, async (seq) => {
        const data = allocPayload(job.size)
        writeHeader(data, 0, wallNow(), seq, job.trial, init.index)
        // bounded by its own timeout; the job-wide signal is not handed to thousands of requests
        return await channel.request(job.to, data, { timeout: job.timeoutMs })
      })
    },
    async fetch (job, signal) {
      if (kv === undefined || naiveChannel === undefined) throw new Error('fetch jobs need EndpointInit.resolver')
      const encoder = new TextEncoder()
      const resolver = resolvers.get(job.mode)
      const channel = naiveChannel
      return await runFetches(job, kv.valueSize, signal, async (key, to) => {
        if (resolver !== undefined) return await resolver.fetch(key, { signal: AbortSignal.timeout(job.timeoutMs) })
        naive.requests++
        return await channel.request(to, encoder.encode(key), { timeout: job.timeoutMs })
      })
    },
    setProduceDelay (ms) { produceMs = ms },
    stats: () => {
      const stats = net.stats() as unknown as Record<string, unknown>
      if (channels.size > 0) stats.channels = Object.fromEntries([...channels].map(([name, ch]) => [name, ch.stats()]))
      if (kv === undefined) return stats
      return { ...stats, resolvers: Object.fromEntries([...resolvers].map(([mode, r]) => [mode, r.stats()])), naive: { ...naive } }
    },
    stop
  }
}
