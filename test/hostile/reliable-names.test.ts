/**
 * Hostile peers, attack (b): a member says HELLO, then, stream after stream, binds channel names
 * the victim never opened and sends one RELIABLE message on each. Reliable state is kept only
 * for channels the victim opened: such frames are acknowledged (ACK) and counted in
 * `stats().unknownChannel`, and once the streams are closed the victim's live heap is back within
 * the bound of its options (on the code of the issue, 2.1M names left 289 MiB). The victim stays
 * up and an honest member is served throughout.
 */
import { describe, it } from 'node:test'
import { KIND, uvarint, encode, WIRE_1_1 } from './wire.ts'
import { onStage } from './scene.ts'
import type { AttackStream } from './hostile-peer.ts'

/** Bindings per stream: within the 256 a stream may make (attack (a) is another test). */
const PER_STREAM = 256
const NAME_BYTES = 64
const utf8 = new TextEncoder()

/**
 * HELLO(session), then for each of the stream's 256 channel numbers a BIND to a new 64-byte name
 * (`first` onwards, never repeated) and RELIABLE seq 1 with a one-byte payload.
 */
function namesStream (session: number, first: number): Uint8Array {
  const hello = encode.hello(session)
  const out = new Uint8Array(hello.byteLength + PER_STREAM * (2 + 2 + NAME_BYTES + 6))
  out.set(hello)
  let at = hello.byteLength
  for (let ch = 1; ch <= PER_STREAM; ch++) {
    const c = uvarint(ch)
    out[at++] = 1 + c.byteLength + NAME_BYTES
    out[at++] = KIND.BIND
    out.set(c, at)
    at += c.byteLength
    out.fill(0x72, at, at + NAME_BYTES) // 'r'
    const digits = utf8.encode(String(first + ch - 1))
    out.set(digits, at + NAME_BYTES - digits.byteLength)
    at += NAME_BYTES
    out[at++] = 1 + c.byteLength + 1 + 1 // RELIABLE ch seq=1 payload(1)
    out[at++] = KIND.RELIABLE
    out.set(c, at)
    at += c.byteLength
    out[at++] = 1
    out[at++] = 0x2a
  }
  return out.subarray(0, at)
}

describe('hostile peers: reliable messages for channels never opened (b)', () => {
  it('as a member: names bound stream after stream for 3 s are acknowledged and counted unknownChannel, and leave no state once the streams close', async t => {
    await onStage(t, { member: true }, async s => {
      const { findings, attacker, victim } = s
      const before = (await s.stats())?.net.unknownChannel ?? NaN
      const session = 0x1234_5678
      const until = Date.now() + 3000
      const streams: AttackStream[] = []
      let names = 0
      let acked = 0
      let fullyConsumed = 0
      // one stream at a time: a newer stream of a member replaces the older at the victim
      for (let k = 0; k < 100_000 && Date.now() < until; k++) {
        const stream = await attacker.open(victim.addr, WIRE_1_1)
        streams.push(stream)
        if (!await stream.write(namesStream(session, k * PER_STREAM + 1))) break
        names += PER_STREAM
        // every 16th stream waits for the victim to take it all: the flood stays paced by the victim
        if (k % 16 === 15) {
          const ok = await stream.consumed(5000)
          if (!ok) break
        }
      }
      await s.checkHeap('at the end of the flood')
      for (const st of streams) {
        if (st.open) await st.consumed(2000)
        if (st.flow >= st.sent) fullyConsumed++
        acked += [...st.acks.values()].filter(seq => seq === 1).length
        if (st.open) await st.close()
      }
      const after = (await s.stats())?.net.unknownChannel ?? NaN
      findings.note(`flood: ${streams.length} streams, ${names} names bound with one RELIABLE each; ${fullyConsumed} streams consumed in full; ${acked} ACKs received; unknownChannel +${after - before}`)
      // every RELIABLE frame the victim consumed is counted, and acknowledged on its stream
      findings.check(after - before >= fullyConsumed * PER_STREAM && after - before <= names, `unknownChannel must count each RELIABLE frame for a channel never opened: +${after - before} for ${names} sent (${fullyConsumed * PER_STREAM} surely consumed)`)
      findings.check(acked >= fullyConsumed * PER_STREAM * 0.99, `each RELIABLE frame must be acknowledged: ${acked} ACKs for ${fullyConsumed * PER_STREAM} frames surely consumed`)
      await s.checkHeap('after the streams closed', true)
    })
  })
})
