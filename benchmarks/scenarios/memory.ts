/**
 * Scenario 4, memory: RSS of one node of this project (a) while it is handed 1,000,000 messages
 * for a member that is down, and (b) while 200 peers that are not members flood it. Its buffer
 * bounds are set explicitly (to their defaults) so that the bound the RSS is held against is
 * known: (a) one member's send queue, (b) the tentative receivers' buffers.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { connectCluster, pickAddr, startCluster, type Cluster } from '../cluster.ts'
import { wallNow } from '../payload.ts'
import type { Scenario } from '../scenario.ts'
import { stopWorkers, Worker } from '../workers.ts'

const SIZE = 256
const MiB = 2 ** 20
const SEND_BUFFER = { sendBufferSize: 16_384, sendBufferBytes: 32 * MiB }
const TENTATIVE = { maxTentativeReceivers: 64, tentativeBufferSize: 256, tentativeBufferBytes: 4 * MiB }

/** A member address nobody listens on: a fresh peer id and a port just released. */
async function downMember (): Promise<string> {
  const key = await generateKeyPair('Ed25519')
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address()
      server.close(() => { resolve(typeof addr === 'object' && addr !== null ? addr.port : 0) })
    })
  })
  return `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdFromPrivateKey(key).toString()}`
}

interface MemberStatsLike { queued: number, dropped: number, sent: number }
interface StatsLike { members: Record<string, MemberStatsLike>, tentative: Record<string, number> }

export const memory: Scenario = {
  name: 'memory',
  title: 'Memory: a down member, and 200 peers that are not members',
  steps: () => 4,
  async run ({ profile, results, progress }) {
    const cfg = profile.memory
    const c = 'consensus-net'
    // (a) a member that is down; the control runs the same sending loop without a network
    progress.step(`memory: ${cfg.downMessages.toLocaleString('en')} messages to a member that is down`)
    const down = await downMember()
    for (const contender of ['control', c] as const) {
      let cluster: Cluster | undefined
      try {
        cluster = await startCluster(contender, 1, { options: SEND_BUFFER })
        await connectCluster(cluster, 10_000, { down }, 1)
        const w = cluster.workers[0]
        await w.call('memory-start', { intervalMs: 10 }, 5000)
        const sent = await w.call('send', {
          job: { trial: 0, to: ['down'], count: cfg.downMessages, size: SIZE, rate: 0, deadline: wallNow() + 120_000, pace: 'none' }
        }, 130_000)
        const mem = await w.call('memory-stop', {}, 5000)
        const stats = (await w.call('stats', {}, 5000)).nodes[0] as unknown as Partial<StatsLike>
        const member = stats.members?.down
        const r = sent.results[0]
        const bound = Math.min(SEND_BUFFER.sendBufferSize * SIZE, SEND_BUFFER.sendBufferBytes)
        const params = { case: 'member down' }
        results.add('memory', contender, 'messages sent', 'msg', params, r.sent)
        results.add('memory', contender, 'send() rate', 'msg/s', params, r.sent / (r.endedAt - r.startedAt) * 1000)
        if (member !== undefined) {
          results.add('memory', contender, 'queued at end', 'msg', params, member.queued)
          results.add('memory', contender, 'dropped', 'msg', params, member.dropped)
          results.add('memory', contender, 'buffer bound (payload)', 'MiB', params, bound / MiB)
        }
        results.add('memory', contender, 'RSS before', 'MiB', params, mem.before / MiB)
        results.add('memory', contender, 'RSS growth (peak)', 'MiB', params, (mem.peak - mem.before) / MiB)
        results.add('memory', contender, 'RSS growth (after GC)', 'MiB', params, (mem.afterGc - mem.before) / MiB)
        results.add('memory', contender, 'live JS memory growth (after GC)', 'MiB', params, (mem.liveAfterGc - mem.liveBefore) / MiB)
        results.add('memory', contender, 'V8 heap committed growth (after GC)', 'MiB', params, (mem.heapAfterGc - mem.heapBefore) / MiB)
      } finally {
        if (cluster !== undefined) await stopWorkers(cluster.workers)
      }
    }
    const own = results.median('memory', c, 'RSS growth (peak)', { case: 'member down' })
    const control = results.median('memory', 'control', 'RSS growth (peak)', { case: 'member down' })
    if (own !== undefined && control !== undefined) {
      results.add('memory', c, 'RSS growth (peak) beyond control', 'MiB', { case: 'member down' }, own - control)
    }
    progress.tick()

    // (b) peers that are not members flood one node
    let target: Cluster | undefined
    const flooders: Worker[] = []
    try {
      progress.step(`memory: starting 1 node and ${cfg.flooders} flooding peers in ${cfg.floodProcesses} processes`)
      target = await startCluster(c, 1, { options: TENTATIVE, loopback: true })
      await connectCluster(target, 10_000, {}, 1)
      const t = target.workers[0]
      const idle = await t.call('stats', {}, 5000)
      const perProcess = Math.ceil(cfg.flooders / cfg.floodProcesses)
      for (let p = 0; p < cfg.floodProcesses; p++) flooders.push(new Worker(`flooder${p}`))
      await Promise.all(flooders.map(async (f, p) => {
        const nodes = Array.from({ length: Math.min(perProcess, cfg.flooders - p * perProcess) }, (_, k) => ({ nodeId: `f${p}_${k}`, index: 1000 + p * perProcess + k }))
        const init = await f.call('init', { contender: c, nodes, loopback: true }, 120_000)
        // each flooder believes the target is a member; the target does not know them
        await f.call('connect', {
          peers: nodes.map((n, k) => ({ [n.nodeId]: pickAddr(init.addrs[k]), [target!.ids[0]]: target!.addrs[0] })),
          timeoutMs: 30_000,
          waitFor: 2
        }, 40_000)
      }))
      progress.tick()
      progress.step(`memory: ${cfg.flooders} peers flood for ${cfg.floodMs / 1000} s`)
      await t.call('memory-start', { intervalMs: 10 }, 5000)
      const deadline = wallNow() + cfg.floodMs
      const floods = await Promise.all(flooders.map(async f => await f.call('send', {
        job: { trial: 0, to: [target!.ids[0]], count: 1e9, size: SIZE, rate: 0, deadline }
      }, cfg.floodMs + 60_000)))
      // let what the flooders wrote last arrive, so that the after-GC figure is what is retained
      await sleep(1000)
      const mem = await t.call('memory-stop', {}, 5000)
      const stats = (await t.call('stats', {}, 5000)).nodes[0] as unknown as StatsLike
      const offered = floods.reduce((n, f) => n + f.results.reduce((m, r) => m + r.sent, 0), 0)
      const bound = TENTATIVE.maxTentativeReceivers * Math.min(TENTATIVE.tentativeBufferSize * SIZE, TENTATIVE.tentativeBufferBytes)
      const params = { case: `${cfg.flooders} non-members flood` }
      results.add('memory', c, 'messages sent', 'msg', params, offered)
      results.add('memory', c, 'RSS before', 'MiB', params, idle.rss / MiB)
      results.add('memory', c, 'RSS with peers connected', 'MiB', params, mem.before / MiB)
      results.add('memory', c, 'RSS peak', 'MiB', params, mem.peak / MiB)
      results.add('memory', c, 'RSS growth (peak)', 'MiB', params, (mem.peak - idle.rss) / MiB)
      results.add('memory', c, 'RSS growth during flood', 'MiB', params, (mem.peak - mem.before) / MiB)
      results.add('memory', c, 'RSS growth (after GC)', 'MiB', params, (mem.afterGc - idle.rss) / MiB)
      results.add('memory', c, 'live JS memory growth (after GC)', 'MiB', params, (mem.liveAfterGc - mem.liveBefore) / MiB)
      results.add('memory', c, 'V8 heap committed growth (after GC)', 'MiB', params, (mem.heapAfterGc - mem.heapBefore) / MiB)
      results.add('memory', c, 'buffer bound (payload)', 'MiB', params, bound / MiB)
      // what the flooders managed: streams open at the end, messages written, reconnects after evictions
      let written = 0
      let reconnects = 0
      let up = 0
      for (const f of flooders) {
        for (const node of (await f.call('stats', {}, 10_000)).nodes as unknown as StatsLike[]) {
          const m = node.members[target.ids[0]] as (MemberStatsLike & { connected: boolean, reconnects: number }) | undefined
          if (m === undefined) continue
          written += m.sent
          reconnects += m.reconnects
          if (m.connected) up++
        }
      }
      results.add('memory', c, 'flooders connected at end', 'peers', params, up)
      results.add('memory', c, 'flooder messages written', 'msg', params, written)
      results.add('memory', c, 'flooder reconnects', 'n', params, reconnects)
      for (const k of ['receivers', 'buffered', 'dropped', 'evicted'] as const) {
        results.add('memory', c, `tentative ${k}`, k === 'receivers' || k === 'evicted' ? 'peers' : 'msg', params, stats.tentative[k] ?? NaN)
      }
      progress.tick()
    } finally {
      progress.step('memory: stopping')
      await stopWorkers([...(target?.workers ?? []), ...flooders])
      progress.tick()
    }
  }
}
