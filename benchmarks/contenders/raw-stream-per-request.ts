/**
 * Raw libp2p request/response, one stream per request: the usual libp2p pattern (Lodestar's
 * reqresp, identify, ping). The requester opens a stream with `dialProtocol` on the existing
 * connection (yamux stream + multistream-select), writes the length-prefixed request, closes its
 * writable end, reads the length-prefixed response until the responder closes its end, and the
 * stream is done. The responder reads one request, writes one response and closes.
 *
 * libp2p allows 32 inbound and 64 outbound streams of a protocol per connection by default; both
 * are raised to STREAM_LIMIT so that the benchmark's concurrency is not refused.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { FrameDecoder, allocFrame } from '../framing.ts'
import { HEADER_BYTES, wallNow, writeHeader } from '../payload.ts'
import type { PeerId, Stream, StreamCloseEvent } from '@libp2p/interface'
import type { EndpointFactory } from './contender.ts'
import { createRawNode } from './raw-node.ts'
import { runRequests } from './requests.ts'

export const REQRESP_PROTOCOL = '/consensus-net-bench/reqresp/1.0.0'

/** Streams of the protocol allowed per connection and direction (libp2p: 32 in, 64 out). */
export const STREAM_LIMIT = 1024

/** How long a responder waits for its response to be handed to the transport. */
const CLOSE_TIMEOUT_MS = 10_000

/**
 * Writes `request` (a whole frame), closes the writable end and resolves with the one response
 * frame once the stream has closed at both ends; rejects on a reset, an abort of `signal`, or a
 * stream that closes without exactly one response.
 */
function exchange (stream: Stream, request: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    let response: Uint8Array | undefined
    let frames = 0
    const decoder = new FrameDecoder(payload => {
      frames++
      response = payload
    })
    const onMessage = (evt: { data: Parameters<FrameDecoder['push']>[0] }): void => {
      try {
        decoder.push(evt.data)
      } catch (err) {
        stream.abort(err as Error)
      }
    }
    const onAbort = (): void => { stream.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
    const onClose = (evt: StreamCloseEvent): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      if (evt.error !== undefined) reject(signal.aborted ? signal.reason : evt.error)
      else if (response === undefined || frames !== 1) reject(new Error(`stream closed with ${frames} response frames`))
      else resolve(response)
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
    try {
      stream.send(request)
    } catch (err) {
      stream.abort(err as Error)
      return
    }
    stream.close({ signal }).catch((err: Error) => { stream.abort(err) })
  })
}

export const createRawStreamPerRequest: EndpointFactory = async (init, onPayload) => {
  const node = await createRawNode(onPayload)
  const respond = init.respond ?? HEADER_BYTES
  await node.libp2p.handle(REQRESP_PROTOCOL, (stream) => {
    let answered = false
    const decoder = new FrameDecoder(request => {
      if (answered) throw new Error('one request per stream')
      answered = true
      const { frame, offset } = allocFrame(respond)
      frame.set(request.subarray(0, Math.min(HEADER_BYTES, respond, request.byteLength)), offset)
      stream.send(frame)
      stream.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) }).catch((err: Error) => { stream.abort(err) })
    })
    stream.addEventListener('message', (evt) => {
      try {
        decoder.push(evt.data)
      } catch (err) {
        stream.abort(err as Error)
      }
    })
  }, { maxInboundStreams: STREAM_LIMIT, maxOutboundStreams: STREAM_LIMIT })
  const peers = new Map<string, PeerId>()
  return {
    nodeId: init.nodeId,
    addrs: node.addrs,
    async connect (peers_, signal) {
      for (const [id, addr] of Object.entries(peers_)) {
        const peer = multiaddr(addr).getComponents().find(c => c.name === 'p2p')?.value
        if (peer !== undefined) peers.set(id, peerIdFromString(peer))
      }
      await node.connect(peers_, init.nodeId, signal)
    },
    async send () {
      throw new Error('raw-stream-per-request only runs request jobs')
    },
    async request (job, signal) {
      const peer = peers.get(job.to)
      if (peer === undefined) throw new Error(`unknown peer ${job.to}`)
      return await runRequests(job, signal, async (seq) => {
        const { frame, offset } = allocFrame(job.size)
        writeHeader(frame, offset, wallNow(), seq, job.trial, init.index)
        const timeout = AbortSignal.any([signal, AbortSignal.timeout(job.timeoutMs)])
        const stream = await node.libp2p.dialProtocol(peer, REQRESP_PROTOCOL, { signal: timeout })
        return await exchange(stream, frame, timeout)
      })
    },
    stats: () => ({ connections: node.libp2p.getConnections().length }),
    stop: node.stop
  }
}
