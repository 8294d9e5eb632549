/**
 * `node benchmarks/send-path.ts [size]`: the send path alone, in one process, no network: a
 * Dispatcher with the default bounds on a 1.1.0 stream stand-in that takes every write at once
 * (no byte window, no dead-link timer: nothing reports consumption), fed batches of
 * new `size`-byte payloads (default 32) made and stamped as the link scenario's sender makes them
 * (one send time per batch), yielding to the event loop after each batch. Prints the CPU per message of making the payloads
 * alone and of making and sending them, rounds interleaved, best of six: the difference is what
 * this library costs a sender per message (queueing, framing, the write's copy).
 */
import { DEFAULT_PRIORITY } from '../src/queue/lanes.ts'
import { CHANNEL_PROTOCOL, MAX_WRITE_BYTES, SEND_BUFFER_BYTES, SEND_BUFFER_SIZE } from '../src/constants.ts'
import { Dispatcher } from '../src/link/dispatcher.ts'
import { DEFAULT_CHANNEL } from '../src/queue/lanes.ts'
import { CONTROL_LANE } from '../src/queue/lanes.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { allocPayload, wallNow, writeHeader } from './payload.ts'
import { bestCpuPerItem } from './stats.ts'
import { systemClock } from '../src/clock.ts'

const SIZE = Number(process.argv[2] ?? 32)
// batches as the link sender paces them: 4,096 messages, or what half the 32 MiB byte bound holds
// (more would be dropped by the bound, not sent); a round of about 1M messages or 1 GiB
const BATCH = Math.max(1, Math.min(4096, Math.floor(16 * 2 ** 20 / SIZE)))
const PER_ROUND = BATCH * Math.ceil(Math.min(1_000_000, 2 ** 30 / SIZE) / BATCH)

/** A stream stand-in that takes every write at once. */
class FakeStream extends EventTarget {
  status = 'open'
  writeStatus = 'writable'
  readonly protocol = CHANNEL_PROTOCOL
  bytes = 0
  send (data: Uint8Array): boolean { this.bytes += data.byteLength; return true }
  abort (): void {}
}

const stream = new FakeStream()
let up: () => void = () => {}
const isUp = new Promise<void>(resolve => { up = resolve })
const noop = (): void => {}
const dispatcher = new Dispatcher({
  node: 'n1',
  addrs: [multiaddr('/ip4/127.0.0.1/tcp/1')],
  defaultLane: { channel: DEFAULT_CHANNEL, name: '', nameBytes: new Uint8Array(0), priority: DEFAULT_PRIORITY, reliable: false, sendBufferSize: SEND_BUFFER_SIZE, sendBufferBytes: SEND_BUFFER_BYTES },
  controlLane: CONTROL_LANE,
  maxWriteBytes: MAX_WRITE_BYTES,
  // the stand-in reports nothing consumed: an unbounded window stands for a receiver that keeps up
  maxBytesInFlight: Infinity,
  deadLinkTimeout: 0,
  session: 1,
  clock: systemClock,
  random: Math.random,
  reconnect: { initialDelay: 10, maxDelay: 100, factor: 2, jitter: 0 },
  dial: async () => stream as never,
  channelProtocol: CHANNEL_PROTOCOL,
  onUp: up,
  onDown: noop,
  log: Object.assign(noop, { error: noop, trace: noop, newScope: () => { throw new Error('unused') }, enabled: false }) as never
})
await isUp

const ROUNDS = 8
const WARMUP = 2
let kept: Uint8Array | undefined
/** One round: PER_ROUND payloads made and stamped, each handed to `send`. */
const round = (send: (data: Uint8Array) => void) => async (): Promise<number> => {
  for (let seq = 0; seq < PER_ROUND;) {
    const sentAt = wallNow()
    for (let i = 0; i < BATCH; i++) {
      const data = allocPayload(SIZE)
      writeHeader(data, 0, sentAt, seq++, 1, 0)
      send(data)
    }
    await yieldToLoop()
  }
  return PER_ROUND
}
const [alone, sent] = await bestCpuPerItem([round(data => { kept = data }), round(data => { dispatcher.send(data) })], ROUNDS, WARMUP)
dispatcher.close()
if (stream.bytes < ROUNDS * PER_ROUND * SIZE || kept === undefined) throw new Error('not everything was written')
console.log(`${SIZE} B, CPU per message (best of ${ROUNDS - WARMUP} rounds): payloads alone ${alone.toFixed(0)} ns, payloads sent ${sent.toFixed(0)} ns; the library's part ${(sent - alone).toFixed(0)} ns`)
