/**
 * Hostile peers, attack (g): random bytes and stream churn. Streams of seeded random bytes, each
 * ended so that it must break the format, are reset by the victim and counted once each in
 * `invalidFrames`; streams the attacker opens and resets at once are not violations and are not
 * counted. The victim stays up, within its bound, and the honest member is served; a member is
 * never blocked. FUZZ_SEED=<n> replays a run (the seed is printed).
 */
import { describe, it } from 'node:test'
import { HostilePeer, type AttackStream } from './hostile-peer.ts'
import { mulberry32 } from '../../src/testing/random.ts'
import { concat, encode, frame, WIRE_1_1 } from './wire.ts'
import { onStage, type Scene } from './scene.ts'

/** A seeded generator of numbers in [0, 1) (the testing network's), so that a failing run can be replayed. */
const seeded = mulberry32

/** Longer than any frame the victim accepts (maxMessageSize 64 KiB, plus 80 bytes of fields). */
const ZEROS = new Uint8Array(64 * 1024 + 128)

/**
 * Random bytes: sometimes plain noise, sometimes frames of random kinds (0x00-0x0D) with random
 * bodies; always ended by zeros longer than any frame the victim accepts, so that whatever frame
 * the noise left open ends inside them, and the next length the victim reads is 0 (N = 0 breaks
 * the format): every stream is a violation, exactly once, wherever the noise left the decoder.
 */
function junk (random: () => number): Uint8Array {
  const parts: Uint8Array[] = []
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))
  for (let i = 0, n = 1 + Math.floor(random() * 20); i < n; i++) {
    if (random() < 0.3) {
      parts.push(bytes(Math.floor(random() * 64)))
    } else {
      const kind = Math.floor(random() * 14) // 0x00-0x0D
      parts.push(frame(kind, bytes(Math.floor(random() * 24))))
    }
  }
  parts.push(ZEROS)
  return concat(parts)
}

async function fuzzStream (s: Scene, peer: HostilePeer, random: () => number): Promise<'reset' | 'open' | 'closed' | 'refused'> {
  let stream: AttackStream
  try {
    stream = await peer.open(s.victim.addr, WIRE_1_1)
  } catch {
    return 'refused'
  }
  await stream.write(junk(random))
  const ended = await stream.endedWithin(3000)
  if (ended === undefined) stream.reset()
  return ended === undefined ? 'open' : ended.how === 'reset' ? 'reset' : 'closed'
}

describe('hostile peers: random bytes and stream churn (g)', () => {
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32))

  it('as a member: 150 streams of random bytes are each reset and counted once, 150 streams reset by the attacker are not counted; never blocked', async t => {
    await onStage(t, { member: true }, async s => {
      const { findings } = s
      findings.note(`FUZZ_SEED=${seed}`)
      const random = seeded(seed)
      const before = (await s.stats())?.net.invalidFrames ?? NaN
      const outcomes: Record<string, number> = {}
      for (let i = 0; i < 150; i++) {
        const o = await fuzzStream(s, s.attacker, random)
        outcomes[o] = (outcomes[o] ?? 0) + 1
      }
      const afterFuzz = (await s.stats())?.net.invalidFrames ?? NaN
      // churn: open, write a frame's first byte or nothing, reset at once
      for (let i = 0; i < 150; i++) {
        const stream = await s.attacker.open(s.victim.addr, WIRE_1_1)
        if (i % 2 === 0) await stream.write(encode.message(new Uint8Array(100)).subarray(0, 50))
        stream.reset()
      }
      const afterChurn = (await s.stats())?.net.invalidFrames ?? NaN
      await s.checkHeap('after the streams', true)
      findings.note(`150 random streams: ${JSON.stringify(outcomes)}, invalidFrames +${afterFuzz - before}; 150 churned streams: invalidFrames +${afterChurn - afterFuzz}`)
      findings.check(outcomes.reset === 150, `each random stream must be reset by the victim: ${JSON.stringify(outcomes)}`)
      findings.check(afterFuzz - before === 150, `each random stream must be counted once in invalidFrames: +${afterFuzz - before} for 150`)
      findings.check(afterChurn === afterFuzz, `streams the attacker resets are not violations: invalidFrames +${afterChurn - afterFuzz} for 150`)
      findings.check(s.victim.blocked.length === 0, `a member must never be blocked automatically: ${JSON.stringify(s.victim.blocked)}`)
    })
  })

  it('as non-members: 30 fresh identities, 2 streams of random bytes each, are each reset and counted once', async t => {
    await onStage(t, { member: false }, async s => {
      const { findings } = s
      findings.note(`FUZZ_SEED=${seed}`)
      const random = seeded(seed + 1)
      const before = (await s.stats())?.net.invalidFrames ?? NaN
      const outcomes: Record<string, number> = {}
      for (let i = 0; i < 30; i++) {
        const peer = await HostilePeer.start()
        try {
          for (let k = 0; k < 2; k++) {
            const o = await fuzzStream(s, peer, random)
            outcomes[o] = (outcomes[o] ?? 0) + 1
          }
        } finally {
          await peer.stop()
        }
      }
      const after = (await s.stats())?.net.invalidFrames ?? NaN
      await s.checkHeap('after the streams', true)
      findings.note(`60 random streams: ${JSON.stringify(outcomes)}, invalidFrames +${after - before}`)
      findings.check(outcomes.reset === 60, `each random stream must be reset by the victim: ${JSON.stringify(outcomes)}`)
      findings.check(after - before === 60, `each random stream must be counted once in invalidFrames: +${after - before} for 60`)
    })
  })
})
