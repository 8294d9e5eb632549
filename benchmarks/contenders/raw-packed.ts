/**
 * Raw libp2p, pre-packed 64 KiB writes: before the clock starts, every message of the job is
 * framed and packed into 64 KiB buffers; the timed part only hands those buffers to
 * `stream.send()`, waiting for 'drain' when it returns false. No per-message work at all: the
 * ceiling of TCP + Noise + Yamux in one stream on this machine.
 */
import { frameBytes, writeFrameHeader } from '../framing.ts'
import { wallNow, writeHeader } from '../payload.ts'
import type { EndpointFactory } from './contender.ts'
import { waitForDrain } from './pace.ts'
import { createRawNode } from './raw-node.ts'

export const PACK_BYTES = 64 * 1024

/** `count` frames of `size`-byte payloads, packed whole into buffers of at most PACK_BYTES. */
export function pack (count: number, size: number, trial: number, sender: number): Uint8Array[] {
  const perBuffer = Math.max(1, Math.floor(PACK_BYTES / frameBytes(size)))
  const buffers: Uint8Array[] = []
  const sentAt = wallNow()
  for (let seq = 0; seq < count;) {
    const n = Math.min(perBuffer, count - seq)
    const buf = new Uint8Array(n * frameBytes(size))
    let pos = 0
    for (let i = 0; i < n; i++, seq++) {
      const offset = writeFrameHeader(buf, pos, size)
      writeHeader(buf, offset, sentAt, seq, trial, sender)
      pos = offset + size
    }
    buffers.push(buf)
  }
  return buffers
}

export const createRawPacked: EndpointFactory = async (init, onPayload) => {
  const node = await createRawNode(onPayload)
  return {
    nodeId: init.nodeId,
    addrs: node.addrs,
    connect: async (peers, signal) => { await node.connect(peers, init.nodeId, signal) },
    async send (job, signal) {
      if (job.rate > 0) throw new Error('raw-packed only sends as fast as it goes')
      if (job.to.length !== 1) throw new Error('raw-packed sends to one peer')
      const stream = node.streams.get(job.to[0])
      if (stream === undefined) throw new Error(`no stream to ${job.to[0]}`)
      const setup = process.cpuUsage()
      const buffers = pack(job.count, job.size, job.trial, init.index)
      const { user, system } = process.cpuUsage(setup)
      const perBuffer = Math.max(1, Math.floor(PACK_BYTES / frameBytes(job.size)))
      let drains = 0
      let written = 0
      const startedAt = wallNow()
      for (const buf of buffers) {
        if (signal.aborted) break
        written++
        if (!stream.send(buf)) {
          drains++
          await waitForDrain(stream, signal)
          if (wallNow() > job.deadline) break
        }
      }
      return { sent: Math.min(job.count, written * perBuffer), startedAt, endedAt: wallNow(), counters: { drains }, setupCpuMs: (user + system) / 1000 }
    },
    stats: () => ({}),
    stop: node.stop
  }
}
