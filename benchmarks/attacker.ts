/**
 * The attacker of the 'hostile' scenario, in its own worker process: one hostile member identity
 * (a raw libp2p node, test/hostile/hostile-peer.ts, that the victim counts as a member and that
 * reads the victim's stream to it honestly), and fresh identities for the non-member flood. Each
 * attack runs for a given time with the bytes of test/hostile/attacks.ts and reports what it
 * wrote and got back. Nothing here imports the library: the attacker speaks the wire of docs/wire.md.
 */
import { HostilePeer, type AttackStream } from '../test/hostile/hostile-peer.ts'
import { bindings, MESSAGES, reliableNames, NAMES_PER_STREAM, requests, REQUESTS_PER_WRITE } from '../test/hostile/attacks.ts'
import { concat, encode, WIRE_1_1 } from '../test/hostile/wire.ts'

/** The attacks, as the scenario names them. */
export const ATTACKS = {
  'bind flood': '(a) a member binds ever new channel numbers and names, stream after stream',
  'reliable names': '(b) a member binds names never opened and sends a RELIABLE message on each, 256 per stream',
  'request flood': '(c) a member writes 5-byte requests to the served channel as fast as the window allows',
  'credit flood': '(d) a member asks 16 streamed answers at a time, each with a CREDIT of 2^40, reading everything; asks again every 50 ms',
  'non-member flood': '(f) 16 fresh identities at a time write valid 4 KiB messages, coming back when evicted',
  'member message flood': 'a member writes valid 4 KiB messages on the default channel and a channel as fast as the window allows'
} as const

export type AttackName = keyof typeof ATTACKS

export interface AttackResult {
  /** Bytes written by the attacker, and bytes it got back (answers on the victim's stream, reverse-direction reports). */
  sent: number
  received: number
  streams: number
  /** Streams that ended under the attacker (reset or closed by the victim). */
  ended: number
  identities: number
}

let member: HostilePeer | undefined

/** Starts the member identity (once); its address goes into the victim's membership. */
export async function startMember (): Promise<{ addr: string }> {
  member ??= await HostilePeer.start()
  await member.accept('honest').catch(() => {}) // already accepting
  return { addr: member.addr }
}

export async function stopAttacker (): Promise<void> {
  await member?.stop()
  member = undefined
}

/** Runs `attack` against `target` for `ms`; every loop is bounded by that deadline and a count. */
export async function runAttack (attack: AttackName, target: string, ms: number): Promise<AttackResult> {
  if (member === undefined) throw new Error('startMember first')
  const until = Date.now() + ms
  const r: AttackResult = { sent: 0, received: 0, streams: 0, ended: 0, identities: 1 }
  const peers = [member]
  const before = { sent: member.sent, received: member.received + member.inbox.bytes }
  const open: AttackStream[] = []
  const stream = async (peer: HostilePeer): Promise<AttackStream | undefined> => {
    try {
      const s = await peer.open(target, WIRE_1_1)
      r.streams++
      open.push(s)
      void s.ended.then(e => { if (e.how !== 'aborted') r.ended++ })
      return s
    } catch {
      return undefined
    }
  }
  const left = (): number => until - Date.now()
  switch (attack) {
    case 'bind flood': {
      let next = 1
      for (let k = 0; k < 100_000 && left() > 0; k++) {
        const s = await stream(member)
        if (s === undefined) break
        await s.flood(() => {
          const b = bindings(next, 960)
          next += 960
          return b
        }, { ms: left() })
      }
      break
    }
    case 'reliable names': {
      const session = 0x5eed
      for (let k = 0; k < 100_000 && left() > 0; k++) {
        const s = await stream(member)
        if (s === undefined) break
        await s.write(reliableNames(session, (Date.now() % 1e9) * 1000 + k * NAMES_PER_STREAM))
        if (k % 16 === 15) await s.consumed(Math.max(1, left()))
      }
      break
    }
    case 'request flood': {
      for (let k = 0; k < 1000 && left() > 0; k++) {
        const s = await stream(member)
        if (s === undefined) break
        await s.write(encode.bind(1, 'svc'))
        await s.flood(i => requests(i * REQUESTS_PER_WRITE, REQUESTS_PER_WRITE), { ms: left() })
      }
      break
    }
    case 'credit flood': {
      const s = await stream(member)
      if (s === undefined) break
      await s.write(encode.bind(1, 'parts'))
      let id = 1
      let asked: number[] = []
      for (let k = 0; k < 10_000 && left() > 0 && s.open; k++) {
        const ask = Array.from({ length: 16 }, () => id++)
        await s.write(concat([...asked.map(i => encode.cancel(i)), ...ask.flatMap(i => [encode.request(1, i), encode.credit(i, 2 ** 40)])]))
        asked = ask
        await new Promise(resolve => setTimeout(resolve, Math.min(50, Math.max(1, left()))))
      }
      break
    }
    case 'non-member flood': {
      const lane = async (): Promise<void> => {
        for (let k = 0; k < 1000 && left() > 0; k++) {
          const peer = await HostilePeer.start()
          peers.push(peer)
          r.identities++
          // evicted streams come back, up to 8 times per identity, then a fresh identity
          for (let j = 0; j < 8 && left() > 0; j++) {
            const s = await stream(peer)
            if (s === undefined) break
            await s.write(encode.bind(1, 'svc'))
            await s.flood(() => MESSAGES, { ms: left() })
          }
        }
      }
      await Promise.all(Array.from({ length: 16 }, lane))
      break
    }
    case 'member message flood': {
      for (let k = 0; k < 1000 && left() > 0; k++) {
        const s = await stream(member)
        if (s === undefined) break
        await s.write(encode.bind(1, 'svc'))
        await s.flood(() => MESSAGES, { ms: left() })
      }
      break
    }
  }
  for (const s of open) if (s.open) s.reset()
  for (const p of peers) {
    r.sent += p.sent
    r.received += p.received + p.inbox.bytes
  }
  r.sent -= before.sent
  r.received -= before.received
  await Promise.all(peers.filter(p => p !== member).map(async p => { await p.stop() }))
  return r
}
