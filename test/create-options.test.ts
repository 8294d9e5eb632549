import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { createConsensusNet, PROTOCOL, type ConsensusNet } from '../src/index.ts'
import { FAST_RECONNECT, Inbox, membershipOf, nextEvent, plainNode, stopAll, str, text, withTimeout } from './helpers.ts'
import type { IdentifyResult } from '@libp2p/interface'

describe('createConsensusNet({ libp2p }): libp2p options passed through', () => {
  const nodes: Array<{ stop: () => void | Promise<void> }> = []
  after(async () => { await stopAll(nodes) })
  const start = async (init: Parameters<typeof createConsensusNet>[0]): Promise<ConsensusNet> => {
    const net = await createConsensusNet({ reconnect: FAST_RECONNECT, ...init })
    nodes.push(net)
    return net
  }

  it('connectionManager: maxConnections 1 refuses a second peer while the first is connected', async () => {
    const a = await start({ libp2p: { connectionManager: { maxConnections: 1 } } })
    const b = await start({})
    const membership = membershipOf([a, b])
    await a.connect({ a: membership.a })
    await b.connect(membership)
    await b.waitFor(2) // b's stream to a is open: a holds its one connection
    const raw = await plainNode()
    nodes.push(raw)
    await withTimeout(assert.rejects(raw.dial(multiaddr(a.getMultiaddrs()[0]))), 20_000, () => 'a accepted a second connection')
    // the same dial to b, which has libp2p's default limit, succeeds
    const conn = await raw.dial(multiaddr(b.getMultiaddrs()[0]))
    assert.equal(conn.status, 'open')
  })

  it('an extra service runs next to consensus: a remote identify sees both protocols', async () => {
    const a = await start({ libp2p: { services: { identify: identify() } } })
    const remote: Libp2p = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    nodes.push(remote)
    const identified = nextEvent<IdentifyResult>(remote, 'peer:identify', r => r.peerId.equals(a.peerId))
    await remote.dial(multiaddr(a.getMultiaddrs()[0]))
    const { protocols } = await identified
    assert.ok(protocols.includes(PROTOCOL), `no ${PROTOCOL} in ${protocols.join(', ')}`)
    assert.ok(protocols.includes('/ipfs/id/1.0.0'), `no identify in ${protocols.join(', ')}`)
  })

  it('transports given replace TCP: two nodes over the memory transport exchange messages', async () => {
    const id = `${process.pid}-${Date.now()}`
    const [a, b] = await Promise.all(['a', 'b'].map(async n => start({ listen: [`/memory/${n}-${id}`], libp2p: { transports: [memory()] } })))
    for (const net of [a, b]) assert.deepEqual(net.getMultiaddrs().map(ma => ma.toString().split('/')[1]), ['memory'])
    const membership = membershipOf([a, b])
    await Promise.all([a.connect(membership), b.connect(membership)])
    const inbox = new Inbox(b)
    a.send('b', text('over memory'))
    await inbox.waitCount(1)
    assert.equal(inbox.messages[0].from, 'a')
    assert.equal(str(inbox.messages[0].data), 'over memory')
  })

  it('options the helper owns are refused, not silently merged', async () => {
    await assert.rejects(createConsensusNet({ libp2p: { services: { consensus: identify() } } }), { name: 'RangeError', message: /services\.consensus/ })
    await assert.rejects(createConsensusNet({ listen: ['/ip4/127.0.0.1/tcp/0'], libp2p: { addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] } } }), { name: 'RangeError', message: /not both/ })
    await assert.rejects(createConsensusNet({ libp2p: { privateKey: undefined } as any }), { name: 'RangeError', message: /privateKey/ })
    await assert.rejects(createConsensusNet({ libp2p: { start: false } as any }), { name: 'RangeError', message: /start/ })
  })

  it('libp2p.addresses is merged: listen from there, announce kept', async () => {
    const a = await start({ libp2p: { addresses: { listen: ['/ip4/127.0.0.1/tcp/0'], announce: ['/dns4/a.example/tcp/9000'] } } })
    assert.deepEqual(a.getMultiaddrs().map(String), [`/dns4/a.example/tcp/9000/p2p/${a.peerId.toString()}`])
  })
})
