/**
 * Hostile peers, attack (b): a member says HELLO, then, stream after stream, binds channel names
 * the victim never opened and sends one RELIABLE message on each. Reliable state is kept only
 * for channels the victim opened: such frames are acknowledged (ACK) and counted in
 * `stats().unknownChannel`, and once the streams are closed the victim's live heap is back within
 * the bound of its options (on the code of the issue, 2.1M names left 289 MiB). The victim stays
 * up and an honest member is served throughout. A non-member's reliable messages are held, never
 * acknowledged, within the tentative bounds.
 */
import { describe, it } from 'node:test'
import { WIRE_1_1 } from './wire.ts'
import { NAMES_PER_STREAM as PER_STREAM, reliableNames } from './attacks.ts'
import { onStage } from './scene.ts'
import type { AttackStream } from './hostile-peer.ts'

describe('hostile peers: reliable messages for channels never opened (b)', () => {
  it('as a member: names bound stream after stream for 4 s are acknowledged and counted unknownChannel, and leave no state once the streams close', async t => {
    await onStage(t, { member: true }, async s => {
      const { findings, attacker, victim } = s
      const before = (await s.stats())?.net.unknownChannel ?? NaN
      const session = 0x1234_5678
      const until = Date.now() + 4000
      const streams: AttackStream[] = []
      let names = 0
      let acked = 0
      let fullyConsumed = 0
      // one stream at a time: a newer stream of a member replaces the older at the victim
      for (let k = 0; k < 100_000 && Date.now() < until; k++) {
        const stream = await attacker.open(victim.addr, WIRE_1_1)
        streams.push(stream)
        if (!await stream.write(reliableNames(session, k * PER_STREAM + 1))) break
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

  it('as a non-member: names bound stream after stream for 3 s are held, not acknowledged, and within the bound', async t => {
    await onStage(t, { member: false }, async s => {
      const { findings, attacker, victim } = s
      const until = Date.now() + 3000
      let streams = 0
      let acked = 0
      for (let k = 0; k < 100_000 && Date.now() < until; k++) {
        const stream = await attacker.open(victim.addr, WIRE_1_1)
        streams++
        if (!await stream.write(reliableNames(0x1234, k * PER_STREAM + 1))) break
        await stream.consumed(5000)
        acked += stream.acks.size
        await stream.close()
      }
      await s.checkHeap('after the streams closed')
      const st = await s.stats()
      findings.note(`${streams} streams, ${streams * PER_STREAM} names; ${acked} ACKs; tentative ${JSON.stringify(st?.net.tentative)}; unknownChannel ${String(st?.net.unknownChannel)}`)
      findings.check(acked === 0, `a non-member's reliable messages are held unacknowledged: ${acked} ACKs came back`)
    })
  })
})
