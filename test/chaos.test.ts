/**
 * Chaos soak (issue 8, section 4): 5 nodes on the fault-injection network, every node sending to
 * every other on a reliable and on an unreliable channel at a steady rate, while a seeded schedule
 * of cuts, blackholes, partitions and crash+restarts runs; then everything heals and settles.
 *
 * Replay a failing schedule with `CHAOS_SEED=<n>` (printed with every failure). The seed replays
 * the fault schedule, not the exact interleaving (docs/testing.md, "Seeds: what they replay").
 * `CHAOS_TRACE=1` prints each fault to stderr as it happens.
 *
 * What is checked, per ordered pair (sender s, receiver r) and sender incarnation (a crash and
 * restart of s starts a new one, with a new session; messages carry s, its incarnation and a
 * sequence number from 1):
 *
 * - reliable channel, within one receiver incarnation: strictly increasing (no duplicates, in order).
 * - reliable channel, across a restart of r: what the new receiver process gets first may repeat
 *   the old process's last deliveries (delivered, not yet acknowledged: docs/guarantees.md, exactly-once per
 *   pair of process lifetimes), but only as a prefix of its deliveries, and only messages the old
 *   process did deliver; after that prefix, strictly above anything delivered before. Nothing is
 *   lost across the restart either: the union over r's incarnations enters the count below.
 * - reliable channel, a sender incarnation alive at the end (everything healed, unacked and queued
 *   0): messages sent = distinct messages delivered (over r's incarnations) + s's `dropped` for r.
 *   One that crashed: its counters are read just before the crash, and
 *   sent - dropped - queued - unacked <= distinct delivered <= sent - dropped (what was queued or
 *   unacknowledged when the process died may be lost; nothing else).
 * - reliable channel, after a sender restart: the new session's messages start from 1 again and
 *   are checked like any incarnation's (none dropped as duplicates: they all count as delivered).
 * - unreliable channel: per sender incarnation, over all of r's incarnations, strictly increasing
 *   (at most once, FIFO), and never more than was sent.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createTestNetwork, type TestNetwork } from '../src/testing/index.ts'
import type { Channel, ConsensusNet } from '../src/index.ts'
import { FAST_RECONNECT, waitUntil } from './helpers.ts'

const NODES = 5
/** Faults over the run, one every FAULT_GAP ms on average. */
const FAULTS = 32
const FAULT_GAP = [350, 1000] as const
/** Every SEND_EVERY ms each running node sends one message to every other node, on each channel. */
const SEND_EVERY = 30
const PAYLOAD = 48
/** Per member and channel: small, so partitions and crashes overflow it and drops are counted. */
const LANE_SIZE = 32
const DEAD_LINK_TIMEOUT = 1_000
/** Bound on every wait: connecting, restarting, settling. */
const BOUND = 20_000

const REL = 'chaos-reliable'
const UNREL = 'chaos-unreliable'

interface Delivery { rInc: number, seq: number }
/** What one sender incarnation sent to one receiver, and its counters (read before a crash, or at the end). */
interface SentRecord { rel: number, unrel: number, dropped?: number, queued?: number, unacked?: number, crashed: boolean }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('chaos soak', () => {
  it('reliable: sent = delivered + dropped, no duplicates, in order; unreliable: at most once, FIFO; under seeded faults', { timeout: 110_000 }, async t => {
    const seed = process.env.CHAOS_SEED != null && process.env.CHAOS_SEED !== '' ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 32)
    const started = performance.now()
    let tn: TestNetwork | undefined
    let ticker: ReturnType<typeof setInterval> | undefined
    const timers = new Set<ReturnType<typeof setTimeout>>()
    const faultLog: string[] = []
    try {
      tn = await createTestNetwork({
        nodes: NODES,
        seed,
        link: { latency: 2, jitter: 3 },
        init: { reconnect: FAST_RECONNECT, deadLinkTimeout: DEAD_LINK_TIMEOUT }
      })
      await soak(tn, t, timers, faultLog, id => { ticker = id })
      t.diagnostic(`CHAOS_SEED=${seed}: passed in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    } catch (err) {
      const tail = faultLog.slice(-12).join('; ')
      throw new Error(`chaos soak failed with CHAOS_SEED=${seed} (replay: CHAOS_SEED=${seed} npx node --test test/chaos.test.ts): ${(err as Error).message}\nlast faults: ${tail}`, { cause: err })
    } finally {
      clearInterval(ticker)
      for (const timer of timers) clearTimeout(timer)
      await tn?.stop()
    }
  })
})

async function soak (tn: TestNetwork, t: { diagnostic: (msg: string) => void }, timers: Set<ReturnType<typeof setTimeout>>, faultLog: string[], onTicker: (id: ReturnType<typeof setInterval>) => void): Promise<void> {
  const nodes = tn.nodes
  const index = new Map(nodes.map((node, i) => [node, i]))
  const t0 = performance.now()
  const log = (what: string): void => {
    faultLog.push(`${((performance.now() - t0) / 1000).toFixed(2)}s ${what}`)
    if (process.env.CHAOS_TRACE != null) process.stderr.write(faultLog[faultLog.length - 1] + '\n')
  }

  /** Per node: its current incarnation, whether it sends (started and connected), its channels. */
  const inc = new Map(nodes.map(node => [node, 0]))
  const ready = new Map(nodes.map(node => [node, false]))
  const channels = new Map<string, { rel: Channel, unrel: Channel }>()
  const nextSeq = new Map<string, number>() // `${s}|${sInc}|${r}`
  const sent = new Map<string, SentRecord>() // `${s}|${sInc}|${r}`
  const rel = new Map<string, Delivery[]>() // `${s}|${sInc}|${r}`, in delivery order
  const unrel = new Map<string, Delivery[]>()
  const problems: string[] = []
  const problem = (what: string): void => { if (problems.length < 50) problems.push(what) }

  const encode = (s: string, sInc: number, seq: number): Uint8Array => {
    const b = new Uint8Array(PAYLOAD)
    const view = new DataView(b.buffer)
    view.setUint8(0, index.get(s)!)
    view.setUint16(1, sInc)
    view.setUint32(3, seq)
    return b
  }

  /** Opens the channels on `node`'s (new) net and records what it delivers, as incarnation `rInc`. Before connect: nothing is missed. */
  const attach = (node: string, net: ConsensusNet): void => {
    const rInc = inc.get(node)!
    const listen = (channel: Channel, into: Map<string, Delivery[]>): Channel => {
      channel.addEventListener('message', e => {
        const { from, data } = e.detail
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
        const s = nodes[view.getUint8(0)]
        if (data.byteLength !== PAYLOAD || s !== from) return problem(`${channel.name}: ${node} got a message from ${from} claiming ${s}, ${data.byteLength} B`)
        const key = `${s}|${view.getUint16(1)}|${node}`
        let list = into.get(key)
        if (list === undefined) into.set(key, list = [])
        list.push({ rInc, seq: view.getUint32(3) })
      })
      return channel
    }
    channels.set(node, {
      rel: listen(net.channel(REL, { reliable: true, sendBufferSize: LANE_SIZE }), rel),
      unrel: listen(net.channel(UNREL, { sendBufferSize: LANE_SIZE }), unrel)
    })
  }

  const tick = (): void => {
    for (const s of nodes) {
      if (!ready.get(s)!) continue
      const { rel: relCh, unrel: unrelCh } = channels.get(s)!
      const sInc = inc.get(s)!
      for (const r of nodes) {
        if (r === s) continue
        const key = `${s}|${sInc}|${r}`
        const seq = (nextSeq.get(key) ?? 0) + 1
        nextSeq.set(key, seq)
        let record = sent.get(key)
        if (record === undefined) sent.set(key, record = { rel: 0, unrel: 0, crashed: false })
        const data = encode(s, sInc, seq)
        relCh.send(r, data)
        unrelCh.send(r, data)
        record.rel++
        record.unrel++
      }
    }
  }

  /** A sender incarnation's counters for each member, before its process ends them (or at the end). */
  const snapshot = (s: string, crashed: boolean): void => {
    const members = channels.get(s)!.rel.stats().members
    for (const r of nodes) {
      if (r === s) continue
      const record = sent.get(`${s}|${inc.get(s)!}|${r}`)
      if (record === undefined) continue
      const m = members[r]
      Object.assign(record, { dropped: m.dropped, queued: m.queued, unacked: m.unacked, crashed })
    }
  }

  for (const node of nodes) attach(node, tn.net(node))
  await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
  for (const node of nodes) ready.set(node, true)
  const ticker = setInterval(tick, SEND_EVERY)
  onTicker(ticker)

  // the fault schedule, drawn from the seed; faults with a duration heal on their own timer
  const pick = (from: readonly string[]): string => from[Math.floor(tn.random() * from.length)]
  const between = (lo: number, hi: number): number => Math.round(lo + tn.random() * (hi - lo))
  const later = (ms: number, what: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      what()
    }, ms)
    timers.add(timer)
  }
  const restarts = new Set<Promise<void>>()
  const restartErrors: string[] = []
  const crashRestart = async (node: string, downMs: number): Promise<void> => {
    ready.set(node, false)
    snapshot(node, true) // synchronously before the crash: nothing is sent in between
    await tn.crash(node)
    await sleep(downMs)
    const net = await tn.restart(node)
    inc.set(node, inc.get(node)! + 1)
    attach(node, net)
    await net.connect(tn.membership)
    ready.set(node, true)
    log(`${node} restarted (incarnation ${inc.get(node)!})`)
  }

  const counts = { cut: 0, blackhole: 0, partition: 0, crash: 0 }
  for (let i = 0; i < FAULTS; i++) {
    await sleep(between(FAULT_GAP[0], FAULT_GAP[1]))
    const kind = tn.random()
    const a = pick(nodes)
    const b = pick(nodes.filter(n => n !== a))
    if (kind < 0.25) {
      counts.cut++
      log(`cut ${a}-${b}`)
      tn.cut(a, b)
    } else if (kind < 0.5) {
      counts.blackhole++
      const oneWay = tn.random() < 0.3
      const ms = between(300, 2_500)
      log(`blackhole ${a}${oneWay ? '->' : '-'}${b} ${ms} ms`)
      tn.blackhole(a, b, oneWay ? a : undefined)
      later(ms, () => { tn.heal(a, b) })
    } else if (kind < 0.75) {
      counts.partition++
      const side = nodes.filter(() => tn.random() < 0.5)
      const other = nodes.filter(n => !side.includes(n))
      const ms = between(400, 2_000)
      if (side.length === 0 || other.length === 0) {
        log(`partition (empty side): cut ${a}-${b}`)
        tn.cut(a, b)
        continue
      }
      log(`partition [${side.join(',')}] | [${other.join(',')}] ${ms} ms`)
      tn.partition(side, other)
      later(ms, () => { for (const x of side) for (const y of other) tn.heal(x, y) })
    } else {
      const up = nodes.filter(n => ready.get(n)! && tn.isUp(n))
      const downMs = between(200, 1_500)
      if (up.length < NODES - 1) { // at most two nodes down at once
        log(`cut ${a}-${b} (instead of a crash: two nodes are down)`)
        tn.cut(a, b)
        continue
      }
      counts.crash++
      const node = pick(up)
      log(`crash ${node} for ${downMs} ms`)
      const p: Promise<void> = crashRestart(node, downMs)
        .catch(err => { restartErrors.push(`${node}: ${(err as Error).message}`) })
        .finally(() => { restarts.delete(p) })
      restarts.add(p)
    }
  }

  // heal everything, bring every node back, stop sending, let the reliable channel settle
  await sleep(FAULT_GAP[1])
  for (const timer of timers) clearTimeout(timer)
  timers.clear()
  tn.healAll()
  log('heal all')
  await Promise.all([...restarts])
  if (restartErrors.length > 0) throw new Error(`crash/restart failed: ${restartErrors.join('; ')}`)
  await tn.connectAll({ signal: AbortSignal.timeout(BOUND) })
  clearInterval(ticker)
  const relOf = (s: string): Channel => channels.get(s)!.rel
  const unsettled = (): string[] => nodes.flatMap(s => Object.entries(relOf(s).stats().members)
    .filter(([r, m]) => r !== s && (m.queued > 0 || m.unacked > 0))
    .map(([r, m]) => `${s}->${r} queued ${m.queued} unacked ${m.unacked}`))
  await waitUntil(() => unsettled().length === 0, BOUND, 'the reliable channel to settle')
    .catch(err => { throw new Error(`${(err as Error).message}: ${unsettled().join(', ')}`) })
  for (const s of nodes) snapshot(s, false)

  // checks
  let relDelivered = 0
  let relDropped = 0
  let redelivered = 0
  let unrelDelivered = 0
  let unrelSent = 0
  let lostAtCrash = 0
  for (const [key, record] of sent) {
    const [s, sIncText, r] = key.split('|')
    const what = `${s}#${sIncText} -> ${r}`
    const deliveries = rel.get(key) ?? []
    // reliable, per receiver incarnation: strictly increasing; across them: only a prefix repeats, and only what was delivered
    const seen = new Set<number>()
    let max = 0
    let rInc = -1
    let prev = 0
    let inPrefix = false
    for (const { rInc: ri, seq } of deliveries) {
      if (seq < 1 || seq > record.rel) problem(`reliable ${what}: seq ${seq} never sent (sent ${record.rel})`)
      if (ri !== rInc) {
        if (ri < rInc) problem(`reliable ${what}: delivered by receiver incarnation ${ri} after ${rInc}`)
        rInc = ri
        prev = 0
        inPrefix = true
      }
      if (seq <= prev) problem(`reliable ${what}: receiver #${ri} got ${seq} after ${prev} (${seq === prev ? 'duplicate' : 'reordered'})`)
      prev = seq
      if (seq <= max) {
        if (!inPrefix) problem(`reliable ${what}: receiver #${ri} got ${seq}, at or below ${max} delivered before, after new messages`)
        else if (!seen.has(seq)) problem(`reliable ${what}: receiver #${ri} got ${seq}, below ${max} delivered before by an earlier incarnation that skipped it`)
        else redelivered++
      } else {
        inPrefix = false
        max = seq
      }
      seen.add(seq)
    }
    const distinct = seen.size
    const dropped = record.dropped ?? 0
    relDelivered += distinct
    relDropped += dropped
    if (!record.crashed) {
      if (distinct + dropped !== record.rel) {
        const missing: number[] = []
        for (let q = 1; q <= record.rel && missing.length < 12; q++) if (!seen.has(q)) missing.push(q)
        problem(`reliable ${what}: sent ${record.rel} != delivered ${distinct} + dropped ${dropped} (never delivered: ${missing.join(',')}${missing.length === 12 ? ',...' : ''})`)
      }
    } else {
      const mayLose = (record.queued ?? 0) + (record.unacked ?? 0)
      if (distinct > record.rel - dropped || distinct < record.rel - dropped - mayLose) {
        problem(`reliable ${what} (sender crashed): sent ${record.rel}, dropped ${dropped}, queued ${record.queued} + unacked ${record.unacked} at the crash, but delivered ${distinct}`)
      }
      lostAtCrash += record.rel - dropped - distinct
    }

    // unreliable: at most once, FIFO, over every receiver incarnation
    let last = 0
    for (const { rInc: ri, seq } of unrel.get(key) ?? []) {
      if (seq <= last) problem(`unreliable ${what}: receiver #${ri} got ${seq} after ${last} (${seq === last ? 'duplicate' : 'reordered'})`)
      if (seq > record.unrel) problem(`unreliable ${what}: seq ${seq} never sent`)
      last = seq
      unrelDelivered++
    }
    unrelSent += record.unrel
  }
  for (const key of [...rel.keys(), ...unrel.keys()]) if (!sent.has(key)) problem(`${key}: delivered, never sent`)

  let retransmitted = 0
  let suppressed = 0
  for (const s of nodes) {
    for (const [r, m] of Object.entries(relOf(s).stats().members)) {
      if (r === s) continue
      retransmitted += m.retransmitted
      suppressed += m.duplicatesSuppressed
    }
  }
  t.diagnostic(`faults: ${JSON.stringify(counts)}; reliable: ${relDelivered} delivered, ${relDropped} dropped (counted), ${redelivered} redelivered to a restarted receiver, ` +
    `${lostAtCrash} lost with a crashed sender, ${retransmitted} retransmitted and ${suppressed} duplicates suppressed (final incarnations); ` +
    `unreliable: ${unrelDelivered} of ${unrelSent} delivered`)
  assert.deepEqual(problems, [], `${problems.length} violations`)
  assert.ok(relDelivered > 0 && unrelDelivered > 0, 'nothing was delivered')
}
