/**
 * `node benchmarks/receive-path.ts [size]`: the receive path alone, in one process, no network:
 * a 1.1.0 Receiver and the Router decode chunks of `size`-byte messages (default 32) handed to a
 * stream stand-in, the way libp2p hands a read (one chunk per turn of the event loop: the
 * Receiver processes at most its turn's budget of a chunk and the rest at the turn's end), and
 * deliver them to `onMessage` handlers. Prints the CPU per message of the default channel and of
 * a named channel, rounds interleaved, best of ten: what a channel costs over the default one;
 * and the CPU per request to a handler that answers at once (the answer queued in a lane, taken
 * out unwritten): what REQUEST_COST weighs a request at in a turn's budget.
 */
import { FRAME_BIND, FRAME_CHANNEL, FRAME_HELLO, FRAME_MESSAGE, FRAME_REQUEST } from '../src/wire/frames.ts'
import { encodeKindFrame } from '../src/wire/encoder.ts'
import { Lanes } from '../src/queue/lanes.ts'
import { Receiver, TURN_BUDGET } from '../src/link/receiver.ts'
import { REQUEST_COST } from '../src/link/frame-reader.ts'
import { Router } from '../src/channels/router.ts'
import type { Outbox, RouterHost } from '../src/channels/types.ts'
import { MAX_MESSAGE_SIZE, SEND_BUFFER_BYTES, SEND_BUFFER_SIZE } from '../src/constants.ts'
import { bestCpuPerItem } from './stats.ts'
import { systemClock } from '../src/clock.ts'

const SIZE = Number(process.argv[2] ?? 32)
const PER_CHUNK = 2000
const CHUNKS_PER_ROUND = 300

const host: RouterHost = {
  maxMessageSize: MAX_MESSAGE_SIZE,
  sendBufferSize: SEND_BUFFER_SIZE,
  sendBufferBytes: SEND_BUFFER_BYTES,
  self: 'n0',
  clock: systemClock,
  random: Math.random,
  assertStarted () {},
  // the answers to requests are queued here; each is taken out as a flush would, unwritten
  outbox: node => node === 'n1' ? outbox : undefined,
  outboxes: () => []
}
const outbox: Outbox = {
  lanes: new Lanes(),
  schedule () {
    for (const lane of outbox.lanes.ordered) while (lane.peek(0) !== undefined) lane.shift()
  }
}
const router = new Router(host)
let bytes = 0
router.channel('votes', { priority: 0 }).onMessage((_from, data) => { bytes += data.byteLength })
router.channel('blocks').handle(data => data) // answers at once

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
    onClose: () => {},
    clock: systemClock
  })
  receiver.inbound = router.inbound('n1', receiver, { received: 0 }, data => { bytes += data.byteLength })
  stream.push(concat([encodeKindFrame(FRAME_HELLO, 7, -1), encodeKindFrame(FRAME_BIND, 1, -1, new TextEncoder().encode('votes')), encodeKindFrame(FRAME_BIND, 2, -1, new TextEncoder().encode('blocks'))]))
  return stream
}

/** One turn of the event loop: what the Receiver left for the turn's end is processed by then. */
const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

const ROUNDS = 14
const WARMUP = 4
const payload = new Uint8Array(SIZE)
/** One round: CHUNKS_PER_ROUND chunks of `perChunk` frames made by `frame(i)` handed to a Receiver. */
const round = (frame: (i: number) => Uint8Array, perChunk = PER_CHUNK): () => Promise<number> => {
  const stream = receiverStream()
  const chunk = concat(Array.from({ length: perChunk }, (_, i) => frame(i)))
  return async () => {
    for (let i = 0; i < CHUNKS_PER_ROUND; i++) {
      stream.push(chunk)
      await turn()
    }
    return CHUNKS_PER_ROUND * perChunk
  }
}
// requests: as many a chunk as a turn takes (TURN_BUDGET / (1 + REQUEST_COST)), so none waits for the next
const REQUESTS = Math.floor(TURN_BUDGET / (1 + REQUEST_COST))
const [plain, named, request] = await bestCpuPerItem([
  round(() => encodeKindFrame(FRAME_MESSAGE, -1, -1, payload)),
  round(() => encodeKindFrame(FRAME_CHANNEL, 1, -1, payload)),
  round(i => encodeKindFrame(FRAME_REQUEST, 2, i + 1, payload), REQUESTS)
], ROUNDS, WARMUP)
if (bytes === 0) throw new Error('nothing delivered')
console.log(`${SIZE} B, CPU per frame received (best of ${ROUNDS - WARMUP} rounds): default channel ${plain.toFixed(1)} ns, named channel ${named.toFixed(1)} ns (${(named / plain).toFixed(2)}x); a request answered at once ${request.toFixed(0)} ns (${(request / named).toFixed(1)}x a named channel's message)`)
