/**
 * Hostile peers, the attacks the issue found the library holding against, kept as tests so that
 * it goes on holding: bad varints (each stream reset and counted once), lying FLOW reports on the
 * victim's own stream (it resets that stream, uncounted, and redials), replies nobody asked for
 * (dropped and counted in `lateReplies` from a member, held-and-dropped from a non-member), and
 * resolver poisoning (a member's wrong value fails `validate`, is never returned nor cached, and
 * the honest member's value is). Each time the victim stays up, within its bound, and the honest
 * member is served.
 */
import { describe, it } from 'node:test'
import { HostilePeer } from './hostile-peer.ts'
import { concat, encode, KIND, WIRE_1_1 } from './wire.ts'
import { onStage } from './scene.ts'

/** Streams that break the format in their varints only (docs/wire.md: not minimal, or 8 bytes and more). */
const BAD_VARINTS: Array<[string, Uint8Array]> = [
  ['a length that is not minimal', Uint8Array.of(0x81, 0x00, KIND.MESSAGE)],
  ['a length of 8 bytes', Uint8Array.of(0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)],
  ['a channel number that is not minimal', concat([encode.bind(1, 'svc'), Uint8Array.of(4, KIND.CHANNEL, 0x81, 0x00, 7)])],
  ['a request id that never ends', concat([encode.bind(1, 'svc'), Uint8Array.of(4, KIND.REQUEST, 1, 0x81, 0x81)])],
  ['a FLOW total on the writing direction', encode.flow(10)]
]

describe('hostile peers: what the library holds against', () => {
  for (const member of [true, false]) {
    it(`bad varints ${member ? 'from a member' : 'from non-members'}: each stream reset and counted once`, async t => {
      await onStage(t, { member }, async s => {
        const { findings } = s
        for (const [what, bytes] of BAD_VARINTS) {
          // a fresh identity per case for a non-member: three violations block one (attack (a))
          const peer = member ? s.attacker : await HostilePeer.start()
          try {
            const before = (await s.stats())?.net.invalidFrames ?? NaN
            const stream = await peer.open(s.victim.addr, WIRE_1_1)
            await stream.write(concat([encode.message(Uint8Array.of(1)), bytes]))
            const ended = await stream.endedWithin(3000)
            const after = (await s.stats())?.net.invalidFrames ?? NaN
            findings.check(ended?.how === 'reset', `${what}: the stream must be reset (${ended === undefined ? 'still open' : ended.how})`)
            findings.check(after - before === 1, `${what}: counted once in invalidFrames, +${after - before}`)
          } finally {
            if (!member) await peer.stop()
          }
        }
      })
    })
  }

  it('lying FLOW reports on the victim\'s stream to a member: the victim resets that stream without counting it, redials, and serves on', async t => {
    await onStage(t, { member: true, reading: 'lying' }, async s => {
      const { findings, attacker } = s
      const stream = await attacker.open(s.victim.addr, WIRE_1_1)
      await stream.write(encode.bind(1, 'svc'))
      // each request makes the victim write to us, and each write gets a lie back
      const streamsBefore = attacker.victimStreams
      for (let i = 1; i <= 40 && stream.open; i++) {
        const streams = attacker.victimStreams
        await stream.write(encode.request(1, i, Uint8Array.of(i)))
        // its answer comes (and gets a lie back), or the stream it would come on was reset and redialled
        await attacker.inbox.wait(() => attacker.inbox.responses.includes(i) || attacker.victimStreams > streams, 2000, `the answer to ${i}`).catch(() => {})
      }
      const st = await s.stats()
      findings.note(`the victim opened ${attacker.victimStreams - streamsBefore} new streams to the liar; invalidFrames ${String(st?.net.invalidFrames)}; reconnects ${String(st?.net.members.x?.reconnects)}`)
      findings.check(attacker.victimStreams - streamsBefore >= 2, `the victim must reset a stream that is lied to and redial: ${attacker.victimStreams - streamsBefore} new streams`)
      findings.check(st?.net.invalidFrames === 0, `a writer's reset of its own stream is not counted in invalidFrames: ${String(st?.net.invalidFrames)}`)
      await s.checkHeap('after the lies')
    })
  })

  for (const member of [true, false]) {
    it(`replies nobody asked for, ${member ? 'from a member: counted lateReplies' : 'from a non-member: dropped'}, for 2 s`, async t => {
      await onStage(t, { member }, async s => {
        const { findings, attacker } = s
        const before = await s.stats()
        const spam = concat(Array.from({ length: 256 }, (_, i) => {
          const id = 1000 + i
          return [encode.response(id, Uint8Array.of(1, 2, 3)), encode.part(id, Uint8Array.of(4)), encode.end(id), encode.error(id, 3, 'no')][i % 4]
        }))
        const stream = await attacker.open(s.victim.addr, WIRE_1_1)
        // at the pace FLOW allows: what is checked here is how replies are taken, not flow control
        const f = await stream.flood(() => spam, { ms: 2000, window: 1024 * 1024 })
        await stream.consumed(5000)
        await s.checkHeap('after the spam')
        const after = await s.stats()
        const frames = f.writes * 256
        const late = (after?.net.lateReplies ?? NaN) - (before?.net.lateReplies ?? NaN)
        const dropped = (after?.net.tentative.dropped ?? NaN) - (before?.net.tentative.dropped ?? NaN)
        findings.note(`${frames} replies (${f.bytes} bytes): lateReplies +${late}, tentative dropped +${dropped}; stream ${stream.open ? 'open' : 'ended'}`)
        if (member) findings.check(late === frames, `each reply nobody asked for is counted in lateReplies: +${late} for ${frames}`)
        else findings.check(dropped === frames, `a non-member's replies are dropped and counted: tentative dropped +${dropped} for ${frames}`)
        findings.check(stream.open, 'replies nobody asked for are not violations: the stream stays open')
        stream.reset()
      })
    })
  }

  it('resolver poisoning by a member: its value fails validate, is never returned nor cached, and the honest member\'s is', async t => {
    await onStage(t, { member: true, resolver: 'blocks' }, async s => {
      const { findings, attacker, victim } = s
      // the attacker answers every resolver request with a found value that is not the key's
      attacker.inbox.onRequest = r => {
        if (r.channel !== 'blocks') return
        void attacker.open(victim.addr, WIRE_1_1).then(async st => { await st.write(encode.response(r.id, concat([Uint8Array.of(1), new TextEncoder().encode('poison')]))) }, () => {})
      }
      type Fetched = { value?: string, error?: string, stats: { peers: Record<string, { invalid: number }> } }
      const onlyX = await victim.call<Fetched>('fetch', { key: 'k1', from: ['x'] })
      findings.note(`fetch of k1 from the poisoner only: ${JSON.stringify({ value: onlyX.value, error: onlyX.error })}`)
      findings.check(onlyX.value === undefined && onlyX.error === 'invalid', `a fetch that only the poisoner answers must fail 'invalid': ${JSON.stringify({ value: onlyX.value, error: onlyX.error })}`)
      const results: Array<string | undefined> = []
      for (let k = 2; k <= 11; k++) {
        const r = await victim.call<Fetched>('fetch', { key: `k${k}` })
        results.push(r.value ?? r.error)
      }
      const again = await victim.call<Fetched>('fetch', { key: 'k1' })
      findings.note(`10 fetches from every member: ${results.filter(v => v?.startsWith('value of')).length} right; then k1: ${again.value ?? again.error ?? ''}; poisoner: ${JSON.stringify(again.stats.peers.x)}; requests to it ${attacker.inbox.requests.length}`)
      findings.check(results.every((v, i) => v === `value of k${i + 2}`), `every fetch must return the honest value: ${JSON.stringify(results)}`)
      findings.check(again.value === 'value of k1', `the poison must not have been cached: k1 is ${again.value ?? again.error ?? ''}`)
      findings.check((again.stats.peers.x?.invalid ?? 0) >= 1, `the poisoner's values are counted invalid: ${JSON.stringify(again.stats.peers.x)}`)
    })
  })
})
