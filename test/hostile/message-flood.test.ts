/**
 * Hostile peers, attack (f): floods of valid messages. Many fresh identities that are not members
 * each write valid default-channel and channel messages as fast as the victim reads them, and
 * come back on a new stream when evicted: at most `maxTentativeReceivers` are held, their bytes
 * within the bound (the victim's live heap), nobody is blocked for sending valid frames, and the
 * honest member is served. The same flood from one member, whose messages are delivered, costs
 * the honest member no more.
 */
import { describe, it } from 'node:test'
import { HostilePeer, type AttackStream } from './hostile-peer.ts'
import { encode, WIRE_1_1 } from './wire.ts'
import { MESSAGES } from './attacks.ts'
import { onStage, type Scene } from './scene.ts'

/** One identity's flood: a stream, flooded until it ends or time runs out; a new stream if the victim closed it. */
async function floodAs (s: Scene, peer: HostilePeer, until: number, window?: number): Promise<{ streams: number, ended: number, bytes: number }> {
  const r = { streams: 0, ended: 0, bytes: 0 }
  for (let k = 0; k < 200 && Date.now() < until; k++) {
    let stream: AttackStream
    try {
      stream = await peer.open(s.victim.addr, WIRE_1_1)
    } catch {
      break // refused: a blocked peer (which valid traffic must not cause) or a dying one
    }
    r.streams++
    await stream.write(encode.bind(1, 'svc'))
    const f = await stream.flood(() => MESSAGES, { ms: until - Date.now(), ...(window === undefined ? {} : { window }) })
    r.bytes += f.bytes
    if (f.stopped !== 'closed') break // time is up (a timer may fire a little before the clock says so)
    r.ended++
  }
  return r
}

describe('hostile peers: valid message floods (f)', () => {
  it('as 24 non-members with fresh identities, flooding for 3 s and coming back when evicted: at most maxTentativeReceivers held, within the bound, nobody blocked', async t => {
    await onStage(t, { member: false }, async s => {
      const { findings } = s
      const peers: HostilePeer[] = []
      try {
        for (let i = 0; i < 24; i++) peers.push(await HostilePeer.start())
        const until = Date.now() + 3000
        let most = 0
        const watch = setInterval(() => {
          void s.victim.stats().then(st => { most = Math.max(most, st.net.tentative.receivers) }, () => {})
        }, 200)
        const floods = await Promise.all(peers.map(async p => await floodAs(s, p, until)))
        clearInterval(watch)
        await s.checkHeap('at the end of the flood, streams still open')
        const st = await s.stats()
        const sum = floods.reduce((a, f) => ({ streams: a.streams + f.streams, ended: a.ended + f.ended, bytes: a.bytes + f.bytes }), { streams: 0, ended: 0, bytes: 0 })
        findings.note(`flood: 24 identities, ${sum.streams} streams (${sum.ended} closed by the victim), ${(sum.bytes / 2 ** 20).toFixed(1)} MiB written; tentative ${JSON.stringify(st?.net.tentative)}; most held at once ${Math.max(most, st?.net.tentative.receivers ?? 0)}`)
        findings.check(Math.max(most, st?.net.tentative.receivers ?? 0) <= 8, `at most maxTentativeReceivers (8) peers may be held: ${Math.max(most, st?.net.tentative.receivers ?? 0)} were`)
        findings.check(s.victim.blocked.length === 0, `valid traffic must block nobody: ${JSON.stringify(s.victim.blocked)}`)
      } finally {
        await Promise.all(peers.map(async p => { await p.stop() }))
      }
    })
  })

  it('as a member: valid messages as fast as FLOW allows (1 MiB in flight, as an honest writer) for 3 s are all delivered on one stream, and the honest member is served', async t => {
    await onStage(t, { member: true }, async s => {
      const before = await s.stats()
      const r = await floodAs(s, s.attacker, Date.now() + 3000, 1024 * 1024)
      await s.checkHeap('at the end of the flood')
      const written = r.bytes / MESSAGES.byteLength * 16 // MESSAGES holds 16
      // nothing announces the last delivery: its count, checked every 50 ms for at most 10 s
      let st = await s.stats()
      for (let i = 0; i < 200 && (st?.net.members.x?.received ?? 0) - (before?.net.members.x?.received ?? 0) < written; i++) {
        await new Promise(resolve => setTimeout(resolve, 50))
        st = await s.stats()
      }
      const received = (st?.net.members.x?.received ?? 0) - (before?.net.members.x?.received ?? 0)
      s.findings.note(`flood: ${r.streams} streams, ${(r.bytes / 2 ** 20).toFixed(1)} MiB written (${written} messages); the victim received ${received} messages from it`)
      s.findings.check(r.streams === 1 && r.ended === 0, `a member writing at the pace FLOW allows keeps its stream: ${r.streams} streams, ${r.ended} closed`)
      s.findings.check(received === written, `every message written is delivered: ${received} of ${written}`)
    })
  })

  it('as a member: valid messages as fast as the muxer\'s window allows (FLOW ignored) for 3 s are delivered in turn; a stream that overflows the read buffer is reset, counted overflow; the honest member is served', async t => {
    await onStage(t, { member: true }, async s => {
      const before = await s.stats()
      const r = await floodAs(s, s.attacker, Date.now() + 3000)
      await s.checkHeap('at the end of the flood')
      const st = await s.stats()
      const overflow = (st?.net.invalidFramesByReason.overflow ?? 0) - (before?.net.invalidFramesByReason.overflow ?? 0)
      s.findings.note(`flood: ${r.streams} streams (${r.ended} closed by the victim, ${overflow} counted overflow), ${(r.bytes / 2 ** 20).toFixed(1)} MiB written; the victim received ${String(st?.net.members.x?.received)} messages from it`)
      // the last stream may be reset just after the flood stopped on time: counted, not yet seen closed
      s.findings.check(r.ended <= overflow && overflow <= r.streams, `each stream the victim closed must be counted overflow: ${r.ended} closed (of ${r.streams}), ${overflow} counted`)
      s.findings.check((st?.net.members.x?.received ?? 0) > 0, 'the member\'s messages are delivered')
      s.findings.check((st?.blocked ?? []).length === 0, `a member is never blocked: ${JSON.stringify(st?.blocked)}`)
    })
  })
})
