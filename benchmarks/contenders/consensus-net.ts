/**
 * This project through its public API only: `createConsensusNet`, `connect` + `waitFor`, `send`
 * or `broadcast`, and `stats()`. `send()` never blocks and drops the oldest message when a
 * member's queue is full, so a sender that wants every message delivered watches the queue
 * (`stats().members[m].queued`) and waits while it is PACE_QUEUED deep, yielding to the event
 * loop after every batch: what an application that wants no drops would write.
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
function pacedDepth (net: ConsensusNet, job: SendJob): { depth: number, dropped: number } {
  const members = net.stats().members
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

export const createConsensusNetEndpoint: EndpointFactory = async (init, onPayload) => {
  const { net, stop } = await start(init.options ?? {}, init.loopback === true)
  net.addEventListener('message', (evt) => { onPayload(evt.detail.data) })
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
      const sendOne = (seq: number): boolean => {
        const data = allocPayload(job.size)
        writeHeader(data, 0, wallNow(), seq, job.trial, init.index)
        if (broadcast) net.broadcast(data)
        else for (const to of job.to) net.send(to, data) // queued by reference, never modified
        return true
      }
      const before = pacedDepth(net, job).dropped
      const startedAt = wallNow()
      let sent = 0
      let waits = 0
      if (job.rate > 0) {
        sent = await sendAtRate(job, signal, sendOne, async () => {})
      } else {
        const paced = job.pace !== 'none'
        while (sent < job.count && !signal.aborted && wallNow() < job.deadline) {
          let room = job.count - sent
          if (paced) {
            const { depth } = pacedDepth(net, job)
            if (depth >= PACE_QUEUED) {
              waits++
              await sleep(1)
              continue
            }
            room = Math.min(room, PACE_QUEUED - depth)
          } else {
            room = Math.min(room, PACE_QUEUED)
          }
          for (let i = 0; i < room; i++) sendOne(sent++)
          await yieldToLoop()
        }
      }
      // done when the paced-on queues are empty (a stalled member's never is)
      if (job.pace !== 'none') {
        while (!signal.aborted && wallNow() < job.deadline && pacedDepth(net, job).depth > 0) await sleep(1)
      }
      const after = pacedDepth(net, job).dropped
      return { sent, startedAt, endedAt: wallNow(), counters: { dropped: after - before, paceWaits: waits } }
    },
    stats: () => net.stats() as unknown as Record<string, unknown>,
    stop
  }
}
