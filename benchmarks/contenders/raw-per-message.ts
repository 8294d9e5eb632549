/**
 * Raw libp2p, one write per message: each payload gets its own length prefix and its own
 * `stream.send()`, and the writer waits for 'drain' whenever `send()` returns false. This is what
 * a user writes by hand on a libp2p v3 stream.
 */
import { allocFrame } from '../framing.ts'
import { wallNow, writeHeader } from '../payload.ts'
import type { EndpointFactory } from './contender.ts'
import { sendAtRate, waitForDrain } from './pace.ts'
import { createRawNode } from './raw-node.ts'

export const createRawPerMessage: EndpointFactory = async (init, onPayload) => {
  const node = await createRawNode(onPayload)
  return {
    nodeId: init.nodeId,
    addrs: node.addrs,
    connect: async (peers, signal) => { await node.connect(peers, init.nodeId, signal) },
    async send (job, signal) {
      const streams = job.to.map(id => {
        const s = node.streams.get(id)
        if (s === undefined) throw new Error(`no stream to ${id}`)
        return s
      })
      let drains = 0
      // one frame per message and per destination: the bytes a hand-written sender puts on the wire
      const sendOne = (seq: number): boolean => {
        let writable = true
        const sentAt = wallNow()
        for (const s of streams) {
          const { frame, offset } = allocFrame(job.size)
          writeHeader(frame, offset, sentAt, seq, job.trial, init.index)
          if (!s.send(frame)) writable = false
        }
        return writable
      }
      const waitWritable = async (): Promise<void> => {
        drains++
        for (const s of streams) {
          if (s.writableNeedsDrain) await waitForDrain(s, signal)
        }
      }
      const startedAt = wallNow()
      let sent = 0
      if (job.rate > 0) {
        sent = await sendAtRate(job, signal, sendOne, waitWritable)
      } else {
        while (sent < job.count && !signal.aborted) {
          if (!sendOne(sent++)) {
            await waitWritable()
            if (wallNow() > job.deadline) break
          }
        }
      }
      return { sent, startedAt, endedAt: wallNow(), counters: { drains } }
    },
    stats: () => ({}),
    stop: node.stop
  }
}
