/**
 * Scenario 5, scale: N nodes of this project (32), each in its own process, are given the same
 * membership at once: the time from the first `connect()` to the last `waitFor(N)` resolving, and
 * the RSS per node once the full mesh is up. Run as a user calls it (`createConsensusNet`), and
 * again with libp2p's per-host inbound connection limit lifted: on 127.0.0.1 all 31 peers are
 * one host, which libp2p admits at 5 connections per second.
 */
import { execFileSync } from 'node:child_process'
import { connectCluster, startCluster, type Cluster } from '../cluster.ts'
import type { Scenario } from '../scenario.ts'
import { summarize } from '../stats.ts'
import { stopWorkers } from '../workers.ts'

const MiB = 2 ** 20

/**
 * TCP connections among the cluster's processes, from `ss` (Linux): each connection has two
 * established ends, both owned by workers. Undefined where `ss` is missing.
 */
function connectionsAmong (cluster: Cluster): number | undefined {
  const pids = new Set(cluster.workers.map(w => String(w.child.pid)))
  let out: string
  try {
    out = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8', timeout: 10_000 })
  } catch {
    return undefined
  }
  let ends = 0
  for (const line of out.split('\n')) {
    const m = /pid=(\d+),/.exec(line)
    if (m !== null && pids.has(m[1]) && line.includes('127.0.0.1')) ends++
  }
  return ends / 2
}

export const scale: Scenario = {
  name: 'scale',
  title: 'Scale: a full mesh of 32 nodes',
  steps: p => p.scale.variants.length * p.scale.repeats,
  async run ({ profile, results, progress }) {
    const n = profile.scale.nodes
    for (let r = 0; r < profile.scale.repeats; r++) {
      for (const variant of profile.scale.variants) {
        const loopback = variant === 'inbound limit lifted'
        const params = { nodes: n, libp2p: variant }
        let cluster: Cluster | undefined
        try {
          progress.step(`scale: ${n} nodes, ${params.libp2p}, round ${r + 1}/${profile.scale.repeats}`)
          cluster = await startCluster('consensus-net', n, { loopback, timeoutMs: 120_000 })
          const connected = await connectCluster(cluster, 120_000)
          const start = Math.min(...connected.map(c => c.startedAt))
          const ready = connected.map(c => c.readyAt[0])
          const rss = connected.map(c => c.rss)
          results.add('scale', 'consensus-net', 'time to full mesh', 'ms', params, Math.max(...ready) - start)
          results.add('scale', 'consensus-net', 'median node ready', 'ms', params, summarize(ready.map(t => t - start)).median)
          results.add('scale', 'consensus-net', 'CPU per node until ready', 'ms', params, summarize(connected.map(c => c.cpu.cpuMs)).median)
          results.add('scale', 'consensus-net', 'RSS per node (median)', 'MiB', params, summarize(rss).median / MiB)
          results.add('scale', 'consensus-net', 'RSS per node (max)', 'MiB', params, Math.max(...rss) / MiB)
          // what the RSS is made of: the V8 heap (used, and reserved), memory outside it, the rest
          // (the Node binary, V8 and ICU, compiled code, allocator slack: ~61 MiB in a bare Node 24)
          const median = (f: (c: typeof connected[number]) => number): number => summarize(connected.map(f)).median / MiB
          results.add('scale', 'consensus-net', 'V8 heap used per node', 'MiB', params, median(c => c.memory.heapUsed))
          results.add('scale', 'consensus-net', 'V8 heap reserved per node', 'MiB', params, median(c => c.memory.heapTotal))
          results.add('scale', 'consensus-net', 'external (buffers) per node', 'MiB', params, median(c => c.memory.external))
          results.add('scale', 'consensus-net', 'RSS growth per node for the mesh', 'MiB', params,
            summarize(rss.map((x, i) => x - cluster!.rssAfterInit[i])).median / MiB)
          const conns = connectionsAmong(cluster)
          if (conns !== undefined) {
            results.add('scale', 'consensus-net', 'TCP connections', 'n', params, conns)
            results.add('scale', 'consensus-net', 'connections per pair', 'x', params, conns / (n * (n - 1) / 2))
          }
        } finally {
          if (cluster !== undefined) await stopWorkers(cluster.workers)
          progress.tick()
        }
      }
    }
    // issue 9: one connection per pair when every member is given the membership at once
    for (const variant of profile.scale.variants) {
      results.target(`scale ${n} nodes (${variant}): <= 1.05 connections per pair`,
        results.median('scale', 'consensus-net', 'connections per pair', { nodes: n, libp2p: variant }), 'max', 1.05,
        'established TCP connections among the nodes (ss) / pairs, once every node reached the full mesh')
    }
  }
}
