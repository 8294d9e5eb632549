/**
 * Hostile peers, the control: no attack, so the harness itself is checked. A member that opens
 * stream after stream of valid frames, and 40 non-members that connect and send a few valid
 * messages, leave the victim's live heap within SLACK of idle once they are done (scene.ts derives
 * SLACK from these figures), the victim up and the honest member served. These pass on any
 * correct code: a hostile test that fails where its control passes has found the victim's fault,
 * not the harness's.
 */
import { describe, it } from 'node:test'
import { HostilePeer } from './hostile-peer.ts'
import { concat, encode, WIRE_1_1 } from './wire.ts'
import { onStage } from './scene.ts'

describe('hostile peers: the control, no attack', () => {
  it('a member opening stream after stream of valid frames for 3 s leaves no state behind', async t => {
    await onStage(t, { member: true }, async s => {
      const frames = concat([encode.hello(7), encode.bind(1, 'svc'), encode.channel(1, new Uint8Array(100)), encode.message(new Uint8Array(100)), encode.ping()])
      const until = Date.now() + 3000
      let streams = 0
      for (; streams < 5000 && Date.now() < until; streams++) {
        const stream = await s.attacker.open(s.victim.addr, WIRE_1_1)
        await stream.write(frames)
      }
      s.findings.note(`${streams} streams of valid frames`)
      await s.checkHeap('after the streams', true)
      const st = await s.stats()
      s.findings.check(st?.net.invalidFrames === 0, `no stream broke the format: invalidFrames ${String(st?.net.invalidFrames)}`)
    })
  })

  it('40 non-members connecting and sending a few valid messages leave no state behind once gone', async t => {
    await onStage(t, { member: false }, async s => {
      const peers: HostilePeer[] = []
      try {
        const frames = concat([encode.message(new Uint8Array(100)), encode.bind(1, 'svc'), encode.channel(1, new Uint8Array(1000))])
        for (let i = 0; i < 40; i++) {
          const p = await HostilePeer.start()
          peers.push(p)
          const stream = await p.open(s.victim.addr, WIRE_1_1)
          await stream.write(frames)
        }
        await s.checkHeap('with 40 non-members connected')
        const st = await s.stats()
        s.findings.note(`tentative: ${JSON.stringify(st?.net.tentative)}`)
        s.findings.check((st?.net.tentative.receivers ?? Infinity) <= 8, `at most maxTentativeReceivers (8) held: ${String(st?.net.tentative.receivers)}`)
      } finally {
        await Promise.all(peers.map(async p => { await p.stop() }))
      }
      await s.checkHeap('after they left', true)
      s.findings.check(s.victim.blocked.length === 0, `valid traffic blocks nobody: ${JSON.stringify(s.victim.blocked)}`)
    })
  })
})
