/**
 * Not a network: it allocates and stamps every payload exactly as this project's contender does,
 * in the same batches with the same yields, and then drops it. The memory scenario runs it to
 * tell the RSS that the sending loop's own garbage costs (V8 and malloc keep freed pages) from
 * what a network layer retains.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { allocPayload, wallNow, writeHeader } from '../payload.ts'
import type { EndpointFactory } from './contender.ts'
import { PACE_QUEUED } from './consensus-net.ts'

export const createControl: EndpointFactory = async (init) => {
  let sink: Uint8Array | undefined
  return {
    nodeId: init.nodeId,
    addrs: () => [`/ip4/127.0.0.1/tcp/1/p2p/control-${init.nodeId}`],
    async connect () {},
    async send (job, signal) {
      const startedAt = wallNow()
      let sent = 0
      while (sent < job.count && !signal.aborted && wallNow() < job.deadline) {
        const n = Math.min(PACE_QUEUED, job.count - sent)
        for (let i = 0; i < n; i++) {
          const data = allocPayload(job.size)
          writeHeader(data, 0, wallNow(), sent++, job.trial, init.index)
          sink = data
        }
        await yieldToLoop()
      }
      return { sent, startedAt, endedAt: wallNow(), counters: { last: sink?.byteLength ?? 0 } }
    },
    stats: () => ({}),
    stop: async () => {}
  }
}
