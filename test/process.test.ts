import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Inbox, freePort, nextEvent, seq, seqOf, startNodes, stopAll, withTimeout } from './helpers.ts'
import { ChildNode } from './fixtures/child-node.ts'
import type { ConsensusNet } from '../src/index.ts'
import type { PrivateKey } from '@libp2p/interface'

const FIXTURE = new URL('./fixtures/peer.ts', import.meta.url).pathname

/** A consensus-net node in a child process (fixtures/peer.ts), recording what it receives. */
class Peer extends ChildNode {
  readonly received: Array<{ from: string, data: Buffer }> = []

  constructor (key: PrivateKey, port: number) {
    super(FIXTURE, key, port, (m: any) => {
      if (m.type === 'message') this.received.push({ from: m.from, data: Buffer.from(m.data, 'hex') })
    })
  }
}

describe('across processes', () => {
  const cleanup: Array<{ stop: () => void | Promise<void> }> = []
  after(async () => { await stopAll(cleanup) })

  it('the receiver\'s process is killed and restarted with the same key and port: the sender reconnects by itself, later messages arrive in order', async () => {
    const [a] = await startNodes(1)
    cleanup.push(a)
    const key = await generateKeyPair('Ed25519')
    const port = await freePort()
    let b = new Peer(key, port)
    cleanup.push(b)
    const membership = { a: a.getMultiaddrs().map(String), b: await b.addrs }
    await Promise.all([a.connect(membership), b.connect(membership)])
    await a.waitFor(2)
    for (let i = 0; i < 5; i++) a.send('b', seq(i))
    await waitForChild(b, 5)

    const down = nextEvent(a, 'peer:down')
    b.child.kill('SIGKILL')
    await down
    for (let i = 5; i < 10; i++) a.send('b', seq(i)) // queued while b is dead
    const up = nextEvent(a, 'peer:up')
    b = new Peer(key, port)
    cleanup.push(b)
    await b.addrs
    await up // a found b again by itself (b has not dialled anyone)
    await b.connect(membership) // b promotes a's stream: what a sent meanwhile arrives
    for (let i = 10; i < 15; i++) a.send('b', seq(i))
    await waitForChild(b, 10)
    assert.deepEqual(b.received.map(m => `${m.from}:${seqOf(m.data)}`), Array.from({ length: 10 }, (_, k) => `a:${k + 5}`))
    assert.ok(a.stats().members.b.reconnects >= 1)
  })

  it('after stop() a child process that used the module exits on its own', async () => {
    const [a]: ConsensusNet[] = await startNodes(1)
    cleanup.push(a)
    const peer = new Peer(await generateKeyPair('Ed25519'), 0)
    cleanup.push(peer)
    const membership = { a: a.getMultiaddrs().map(String), b: await peer.addrs }
    await Promise.all([a.connect(membership), peer.connect(membership)])
    await a.waitFor(2)
    const inbox = new Inbox(a)
    peer.child.send({ type: 'send', to: 'a', data: [Buffer.from('bye').toString('hex')] })
    await inbox.waitCount(1)
    const exited = once(peer.child, 'exit')
    peer.child.send({ type: 'stop' })
    const [code, signal] = await withTimeout(exited, 20_000, () => 'the child did not exit by itself after stop()')
    assert.equal(signal, null)
    assert.equal(code, 0)
  })
})

async function waitForChild (peer: Peer, n: number): Promise<void> {
  await withTimeout(new Promise<void>(resolve => {
    const check = (): void => {
      if (peer.received.length < n) return
      peer.child.off('message', check)
      resolve()
    }
    peer.child.on('message', check)
    check()
  }), 20_000, () => `child received ${peer.received.length} of ${n}`)
}
