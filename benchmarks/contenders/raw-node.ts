/**
 * A plain libp2p v3 node (TCP + Noise + Yamux) with one hand-written protocol: length-prefixed
 * payloads on one outgoing stream per peer. The two raw contenders share it and differ only in
 * how they write to the stream.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { LOOPBACK_CONNECTION_MANAGER } from './loopback.ts'
import type { Libp2p, Stream } from '@libp2p/interface'
import { FrameDecoder } from '../framing.ts'
import type { OnPayload } from './contender.ts'

export const RAW_PROTOCOL = '/consensus-net-bench/raw/1.0.0'

export interface RawNode {
  libp2p: Libp2p
  /** Outgoing stream per peer node id, after `connect`. */
  streams: Map<string, Stream>
  addrs(): string[]
  connect(peers: Record<string, string>, self: string, signal: AbortSignal): Promise<void>
  stop(): Promise<void>
}

export async function createRawNode (onPayload: OnPayload): Promise<RawNode> {
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: LOOPBACK_CONNECTION_MANAGER
  })
  await libp2p.handle(RAW_PROTOCOL, (stream) => {
    const decoder = new FrameDecoder(onPayload)
    stream.addEventListener('message', (evt) => {
      try {
        decoder.push(evt.data)
      } catch (err) {
        stream.abort(err as Error)
      }
    })
  }, { maxInboundStreams: 1024 })
  const streams = new Map<string, Stream>()
  return {
    libp2p,
    streams,
    addrs: () => libp2p.getMultiaddrs().map(ma => ma.toString()),
    async connect (peers, self, signal) {
      await Promise.all(Object.entries(peers).filter(([id]) => id !== self).map(async ([id, addr]) => {
        const stream = await libp2p.dialProtocol(multiaddr(addr), RAW_PROTOCOL, { signal })
        streams.set(id, stream)
      }))
    },
    async stop () {
      for (const s of streams.values()) s.abort(new Error('benchmark node stopping'))
      await libp2p.stop()
    }
  }
}
