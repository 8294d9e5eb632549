/**
 * One node of the demo cluster, in its own process, driven by demo/cluster.ts over IPC.
 * argv: <name> <hex protobuf private key> <port>. It broadcasts a numbered message every
 * BROADCAST_MS while told to, and reports its stats and what it saw from each sender.
 */
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { createConsensusNet } from '../src/index.ts'

const BROADCAST_MS = 20
const [name, keyHex, port] = process.argv.slice(2)
const net = await createConsensusNet({
  privateKey: privateKeyFromProtobuf(Buffer.from(keyHex, 'hex')),
  listen: [`/ip4/127.0.0.1/tcp/${port}`],
  reconnect: { initialDelay: 50, maxDelay: 500 }
})

/** Per sender: how many arrived, the first sequence number, and whether they came 0,1,2... in order. */
const seen: Record<string, { count: number, first: number, next: number, inOrder: boolean }> = {}
net.addEventListener('message', ({ detail: { from, data } }) => {
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0)
  const s = seen[from] ??= { count: 0, first: n, next: n, inOrder: true }
  if (n !== s.next) s.inOrder = false
  s.next = n + 1
  s.count++
})

let sent = 0
let timer: ReturnType<typeof setInterval> | undefined
const send = (m: object): void => { if (process.connected) process.send!(m) }

process.on('message', (msg: any) => {
  if (msg.type === 'connect') {
    void net.connect(msg.membership).then(() => { send({ type: 'connected' }) })
  } else if (msg.type === 'broadcast') {
    timer ??= setInterval(() => {
      const data = new Uint8Array(64)
      new DataView(data.buffer).setUint32(0, sent++)
      net.broadcast(data)
    }, BROADCAST_MS)
  } else if (msg.type === 'stop') {
    clearInterval(timer)
    void net.stop().then(() => { process.disconnect() })
  }
})
const report = setInterval(() => { send({ type: 'stats', name, stats: net.stats(), seen }) }, 100)
net.addEventListener('peer:up', () => {}) // keeps the shape of a real engine: events are there to use
process.on('disconnect', () => { clearInterval(report); clearInterval(timer) })
send({ type: 'ready', addrs: net.getMultiaddrs().map(String) })
