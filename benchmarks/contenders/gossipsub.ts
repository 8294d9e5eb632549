/**
 * @libp2p/gossipsub as its README configures it (`services: { pubsub: gossipsub(options) }`, with
 * identify so that topologies see subscribers), every node subscribed to one topic and publishing
 * to it: with the default signature policy (StrictSign) or with StrictNoSign.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign, StrictSign } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { LOOPBACK_CONNECTION_MANAGER } from './loopback.ts'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { allocPayload, wallNow, writeHeader } from '../payload.ts'
import type { EndpointFactory } from './contender.ts'
import { sendAtRate } from './pace.ts'

export const TOPIC = 'consensus-net-bench'

/** Gossipsub's outstanding-work yield: let I/O run every this many awaited publishes. */
const YIELD_EVERY = 32

export function gossipsubContender (signing: boolean): EndpointFactory {
  return async (init, onPayload) => {
    const libp2p = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: LOOPBACK_CONNECTION_MANAGER,
      services: {
        identify: identify(),
        pubsub: gossipsub({ globalSignaturePolicy: signing ? StrictSign : StrictNoSign })
      }
    })
    const pubsub = libp2p.services.pubsub
    pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic === TOPIC) onPayload(evt.detail.data)
    })
    pubsub.subscribe(TOPIC)
    let failures = 0
    let firstFailure = ''
    const publish = async (data: Uint8Array): Promise<void> => {
      try {
        await pubsub.publish(TOPIC, data)
      } catch (err) {
        failures++
        if (firstFailure === '') firstFailure = (err as Error)?.message ?? String(err)
      }
    }
    return {
      nodeId: init.nodeId,
      addrs: () => libp2p.getMultiaddrs().map(ma => ma.toString()),
      async connect (peers, signal) {
        const others = Object.keys(peers).filter(id => id !== init.nodeId)
        // one dialer per pair: the node whose id sorts first
        await Promise.all(others.filter(id => id > init.nodeId).map(async id => {
          await libp2p.dial(multiaddr(peers[id]), { signal })
        }))
        // ready once every peer is a known subscriber and the mesh has formed (one heartbeat)
        const meshTarget = Math.min(others.length, 4)
        const getMesh = (pubsub as unknown as { getMeshPeers?: (topic: string) => string[] }).getMeshPeers
        for (let i = 0; i < 600 && !signal.aborted; i++) {
          const subscribers = pubsub.getSubscribers(TOPIC).length
          const mesh = getMesh === undefined ? meshTarget : getMesh.call(pubsub, TOPIC).length
          if (subscribers >= others.length && mesh >= meshTarget) return
          await sleep(50)
        }
        throw new Error(`gossipsub: ${pubsub.getSubscribers(TOPIC).length}/${others.length} subscribers after 30 s`)
      },
      async send (job, signal) {
        const make = (seq: number): Uint8Array => {
          const data = allocPayload(job.size)
          writeHeader(data, 0, wallNow(), seq, job.trial, init.index)
          return data
        }
        const failuresBefore = failures
        const startedAt = wallNow()
        let sent = 0
        if (job.rate > 0) {
          sent = await sendAtRate(job, signal, seq => publish(make(seq)), async () => {})
        } else {
          while (sent < job.count && !signal.aborted && wallNow() < job.deadline) {
            await publish(make(sent++))
            if (sent % YIELD_EVERY === 0) await yieldToLoop()
          }
        }
        return { sent, startedAt, endedAt: wallNow(), counters: { publishFailures: failures - failuresBefore } }
      },
      stats: () => ({ publishFailures: failures, firstFailure, peers: pubsub.getPeers().length, subscribers: pubsub.getSubscribers(TOPIC).length }),
      stop: async () => { await libp2p.stop() }
    }
  }
}
