import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { Inbox, NAMES, membershipOf, seq, seqOf, startNodes, stopAll, withTimeout } from './helpers.ts'
import type { ConsensusNet } from '../src/index.ts'

const TOTAL = 12
const INITIAL = 8
const PER_TICK = 5 // messages each node sends each member per tick
const TICK_MS = 10

describe('a growing mesh under load', () => {
  let nets: ConsensusNet[] = []
  after(async () => { await stopAll(nets) })

  it(`${INITIAL} connected nodes, ${TOTAL - INITIAL} more join one by one while every pair sends: all connect, every message arrives once, in order`, async () => {
    // held messages of a joiner must not overflow before its promotion: that bound is tested elsewhere
    nets = await startNodes(TOTAL, { tentativeBufferSize: 100_000 })
    const names = NAMES.slice(0, TOTAL)
    const all = membershipOf(nets)
    const membershipUpTo = (k: number): Record<string, string[]> => Object.fromEntries(names.slice(0, k).map(n => [n, all[n]]))
    const inboxes = nets.map(n => new Inbox(n))
    // sent[s][r]: how many s has sent to r, numbered from 0
    const sent = names.map(() => names.map(() => 0))
    const members: string[][] = names.map(() => [])

    const setMembership = async (i: number, k: number): Promise<void> => {
      await nets[i].connect(membershipUpTo(k))
      members[i] = names.slice(0, k).filter(n => n !== names[i])
    }
    await Promise.all(nets.slice(0, INITIAL).map(async (_, i) => setMembership(i, INITIAL)))

    let ticks = 0
    const timer = setInterval(() => {
      ticks++
      members.forEach((to, s) => {
        for (const name of to) {
          const r = names.indexOf(name)
          for (let k = 0; k < PER_TICK; k++) nets[s].send(name, seq(sent[s][r]++, 256))
        }
      })
    }, TICK_MS)
    try {
      await withTimeout(Promise.all(nets.slice(0, INITIAL).map(async n => n.waitFor(INITIAL))), 30_000, () => 'initial mesh did not connect')
      for (let k = INITIAL + 1; k <= TOTAL; k++) {
        // the joiner learns the membership first, then everyone else, all while traffic flows
        await setMembership(k - 1, k)
        await Promise.all(nets.slice(0, k - 1).map(async (_, i) => setMembership(i, k)))
        await withTimeout(Promise.all(nets.slice(0, k).map(async n => n.waitFor(k))), 30_000, () => `mesh of ${k} did not connect`)
      }
      const joinedAt = ticks
      await withTimeout(new Promise<void>(resolve => {
        const check = setInterval(() => {
          if (ticks >= joinedAt + 20) { clearInterval(check); resolve() }
        }, TICK_MS)
      }), 30_000, () => 'traffic stopped')
    } finally {
      clearInterval(timer)
    }

    // everything sent arrives: exactly once, in order, per ordered pair
    await Promise.all(inboxes.map(async (inbox, r) => {
      const expected = sent.reduce((n, row) => n + row[r], 0)
      await inbox.waitCount(expected, 60_000)
    }))
    let total = 0
    inboxes.forEach((inbox, r) => {
      names.forEach((from, s) => {
        if (s === r) return
        const got = inbox.from(from).map(seqOf)
        assert.equal(got.length, sent[s][r], `${from} -> ${names[r]}`)
        assert.ok(got.every((v, i) => v === i), `${from} -> ${names[r]} out of order`)
        total += got.length
      })
    })
    for (const net of nets) {
      const s = net.stats()
      assert.equal(Object.keys(s.members).length, TOTAL)
      for (const m of Object.values(s.members)) assert.equal(m.dropped, 0)
    }
    assert.ok(total > 0)
  })
})
