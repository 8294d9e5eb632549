/**
 * `node benchmarks/receive-path.ts [size]`: the receive path alone, in one process, no network:
 * a 1.1.0 Receiver and the Router decode chunks of `size`-byte messages (default 32) handed to a
 * stream stand-in, the way libp2p hands a read (one chunk per turn of the event loop: the
 * Receiver processes at most its turn's budget of a chunk and the rest at the turn's end), and
 * deliver them to `onMessage` handlers. Prints the CPU per message of the default channel and of
 * a named channel, rounds interleaved, best of ten: what a channel costs over the default one.
 */
import { encodeKindFrame, FRAME_BIND, FRAME_CHANNEL, FRAME_HELLO, FRAME_MESSAGE } from '../src/framing.ts'
import { Receiver } from '../src/receiver.ts'
import { Router, type RouterHost } from '../src/router.ts'
import { MAX_MESSAGE_SIZE, SEND_BUFFER_BYTES, SEND_BUFFER_SIZE } from '../src/constants.ts'
import { bestCpuPerItem } from './stats.ts'

const SIZE = Number(process.argv[2] ?? 32)
const PER_CHUNK = 2000
const CHUNKS_PER_ROUND = 300

const host: RouterHost = {
  maxMessageSize: MAX_MESSAGE_SIZE,
  sendBufferSize: SEND_BUFFER_SIZE,
  sendBufferBytes: SEND_BUFFER_BYTES,
  self: 'n0',
  assertStarted () {},
  outbox: () => undefined,
  outboxes: () => []
}
const router = new Router(host)
let bytes = 0
router.channel('votes', { priority: 0 }).onMessage((_from, data) => { bytes += data.byteLength })

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

/** A stream stand-in: the Receiver listens for 'message' events and never writes (no FLOW is due before a report). */
class FakeStream extends EventTarget {
  status = 'open'
  writeStatus = 'writable'
  send (): boolean { return true }
  abort (): void {}
  pause (): void {}
  resume (): void {}
  push (data: Uint8Array): void { this.dispatchEvent(Object.assign(new Event('message'), { data })) }
}

function receiverStream (): FakeStream {
  const stream = new FakeStream()
  const receiver = new Receiver(stream as never, {
    peer: 'p1',
    maxMessageSize: host.maxMessageSize,
    channels: true,
    session: 1,
    inbound: undefined as never,
    onInvalid: (_r, err) => { throw err },
    onClose: () => {}
  })
  receiver.inbound = router.inbound('n1', receiver, { received: 0 }, data => { bytes += data.byteLength })
  stream.push(concat([encodeKindFrame(FRAME_HELLO, 7, -1), encodeKindFrame(FRAME_BIND, 1, -1, new TextEncoder().encode('votes'))]))
  return stream
}

/** One turn of the event loop: what the Receiver left for the turn's end is processed by then. */
const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

const ROUNDS = 14
const WARMUP = 4
const payload = new Uint8Array(SIZE)
/** One round: CHUNKS_PER_ROUND chunks of PER_CHUNK frames of `kind` handed to a Receiver. */
const round = (kind: number, a: number): () => Promise<number> => {
  const stream = receiverStream()
  const chunk = concat(Array.from({ length: PER_CHUNK }, () => encodeKindFrame(kind, a, -1, payload)))
  return async () => {
    for (let i = 0; i < CHUNKS_PER_ROUND; i++) {
      stream.push(chunk)
      await turn()
    }
    return CHUNKS_PER_ROUND * PER_CHUNK
  }
}
const [plain, named] = await bestCpuPerItem([round(FRAME_MESSAGE, -1), round(FRAME_CHANNEL, 1)], ROUNDS, WARMUP)
if (bytes === 0) throw new Error('nothing delivered')
console.log(`${SIZE} B, CPU per message received (best of ${ROUNDS - WARMUP} rounds): default channel ${plain.toFixed(1)} ns, named channel ${named.toFixed(1)} ns; named / default ${(named / plain).toFixed(2)}x`)
