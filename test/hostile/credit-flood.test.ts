/**
 * Hostile peers, attack (d): a member asks for a streamed answer from a handler that yields parts
 * for as long as it is asked, then grants one CREDIT of 2^40 parts, and reads everything (FLOW
 * reported) or nothing (never reports). A responder's credit is capped at 16 parts outstanding,
 * so at most 16 + 16 parts are produced and arrive for that one CREDIT frame (on the code of the
 * issue, 1.5 KB in brought 111 MB out). The victim stays up, within its bound, and an honest
 * member is served.
 */
import { describe, it } from 'node:test'
import { concat, encode, WIRE_1_1 } from './wire.ts'
import { onStage, mib } from './scene.ts'

/** Parts the requester may hold: 16 before any CREDIT, 16 more for one CREDIT however large. */
const MOST = 32

describe('hostile peers: one huge CREDIT (d)', () => {
  for (const reading of ['honest', 'silent'] as const) {
    const how = reading === 'honest' ? 'reading everything' : 'reading nothing'
    it(`as a member ${how}: a CREDIT of 2^40 parts brings at most 16 more parts`, async t => {
      await onStage(t, { member: true, reading }, async s => {
        const { findings, attacker } = s
        const stream = await attacker.open(s.victim.addr, WIRE_1_1)
        await stream.write(concat([encode.bind(1, 'parts'), encode.request(1, 1)]))
        const parts = (): number => attacker.inbox.parts.get(1) ?? 0
        const first = await attacker.inbox.wait(() => parts() >= 16, 5000, 'the first 16 parts').then(() => true, () => false)
        findings.check(first, `the first 16 parts must arrive before any CREDIT: ${parts()} did`)
        await stream.write(encode.credit(1, 2 ** 40))
        // wait for a 33rd part: it must not come (bounded: 2 s)
        const over = await attacker.inbox.wait(() => parts() > MOST, 2000, 'more parts').then(() => true, () => false)
        await s.checkHeap(`after the CREDIT${over ? ', with parts still flowing' : ''}`)
        const st = await s.stats()
        const produced = st?.partsYielded ?? NaN
        findings.note(`sent ${stream.sent} bytes; got ${parts()} parts (${mib(attacker.inbox.bytes)} on the victim's stream); the handler produced ${produced} parts`)
        findings.check(produced <= MOST, `the handler must be asked for at most ${MOST} parts: it produced ${produced}`)
        findings.check(parts() <= MOST, `at most ${MOST} parts may arrive: ${parts()} did (${(attacker.inbox.bytes / stream.sent).toFixed(0)}x the bytes sent)`)
        stream.reset()
      })
    })
  }
})
