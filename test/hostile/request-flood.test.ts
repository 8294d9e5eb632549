/**
 * Hostile peers, attacks (c) and (e): requests. A member writes tiny REQUEST frames (5 bytes
 * each) on a channel the victim serves, as fast as the victim's window lets it: the victim reads
 * each inbound stream in bounded slices, so the honest member is answered during the flood;
 * requests past `maxConcurrentRequests` wait in a bounded backlog (`maxQueuedRequests`, 1,024 per
 * member and channel by default) and only past it are answered `busy`; `busy` and `no-handler`
 * errors carry an empty message, so the attacker gets back at most the bytes it sent. A
 * non-member's requests are dropped, and cost the honest member nothing either. A burst of 1,000
 * requests in one write to a handler that answers at once is answered in full, none `busy`.
 * Found while building these, beyond the list: a request reusing an id in flight must not
 * reflect more bytes than it carries either, and requests kept waiting must not pin the receive
 * buffers they arrived in.
 */
import { describe, it } from 'node:test'
import { CODE, encode, WIRE_1_1, concat } from './wire.ts'
import { REQUESTS_PER_WRITE, requests } from './attacks.ts'
import { onStage, VICTIM_CHANNELS, type Scene } from './scene.ts'
import type { AttackStream } from './hostile-peer.ts'

/** 'svc' as a user opens it, with the library's default request bounds. */
const DEFAULT_SVC = [{ name: 'svc', options: {}, serve: 'echo' as const }, ...VICTIM_CHANNELS.slice(1)]

/** Floods `stream` with requests for `ms`: 64 KiB (13,107 requests) per write. */
async function flood (stream: AttackStream, ms: number): Promise<{ requests: number, bytes: number }> {
  const r = await stream.flood(i => requests(i * REQUESTS_PER_WRITE, REQUESTS_PER_WRITE), { ms })
  return { requests: r.bytes / 5, bytes: r.bytes }
}

/** What came back to the attacker: on the victim's stream to it, and on the attack stream's reverse direction. */
function replies (s: Scene, stream: AttackStream): string {
  const inbox = s.attacker.inbox
  const busy = inbox.errors.filter(e => e.code === CODE.busy).length
  const other = inbox.errors.length - busy
  return `answered ${inbox.responses.length}, busy ${busy}, other errors ${other}; ${inbox.bytes} bytes on the victim's stream, ${stream.received} bytes of FLOW on the attack stream's reverse`
}

/**
 * Writes `total` requests made by `make(from, count)` in writes of 1,000, each after the victim
 * reported consuming the one before, so that nothing the victim answers is dropped from its
 * queues; then waits until `expected` replies have come back. Returns the bytes written.
 */
async function paced (s: Scene, stream: AttackStream, total: number, expected: number, make: (from: number, count: number) => Uint8Array): Promise<number> {
  let bytes = 0
  for (let from = 0; from < total; from += 1000) {
    const chunk = make(from, Math.min(1000, total - from))
    if (!await stream.write(chunk)) break
    bytes += chunk.byteLength
    if (!await stream.consumed(5000)) break
  }
  const inbox = s.attacker.inbox
  // a victim that resets the stream instead of answering ends the wait too
  const answered = inbox.wait(() => inbox.responses.length + inbox.errors.length >= expected, 10_000, `${expected} replies`)
    .catch((err: Error) => { s.findings.note(err.message) })
  await Promise.race([answered, stream.ended])
  return bytes
}

/** Error codes and message bytes of what came back, for the notes. */
function errorsOf (s: Scene): string {
  const byCode = new Map<number, { n: number, bytes: number }>()
  for (const e of s.attacker.inbox.errors) {
    const c = byCode.get(e.code) ?? { n: 0, bytes: 0 }
    c.n++
    c.bytes += e.messageBytes
    byCode.set(e.code, c)
  }
  return [...byCode].map(([code, c]) => `code ${code}: ${c.n} (${c.bytes} bytes of message)`).join(', ') || 'no errors'
}

/** The 3 s flood of 5-byte requests on 'svc', as a member or not: what was sent, and the victim's stats after it. */
async function requestFlood (s: Scene): Promise<{ stream: AttackStream, f: { requests: number, bytes: number }, st: Awaited<ReturnType<Scene['stats']>> }> {
  const stream = await s.attacker.open(s.victim.addr, WIRE_1_1)
  await stream.write(encode.bind(1, 'svc'))
  const f = await flood(stream, 3000)
  await s.checkHeap('at the end of the flood')
  await stream.consumed(5000)
  return { stream, f, st: await s.stats() }
}

describe('hostile peers: request floods (c) and a burst (e)', () => {
  it('as a member: 5-byte requests as fast as the window allows for 3 s; the victim stays up within its bound and the honest member is served', async t => {
    await onStage(t, { member: true, channels: DEFAULT_SVC }, async s => {
      const { findings, attacker } = s
      const { stream, f, st } = await requestFlood(s)
      findings.note(`flood: ${f.requests} requests, ${f.bytes} bytes; ${replies(s, stream)}; victim's svc: ${JSON.stringify(st?.channels.svc.requests)}`)
      findings.check(attacker.inbox.bytes <= f.bytes + 64, `the attacker must get back at most the bytes it sent: ${attacker.inbox.bytes} bytes of answers for ${f.bytes} sent`)
      findings.check(stream.received <= 0.05 * f.bytes + 1024, `flow-control reports must stay small: ${stream.received} bytes of FLOW for ${f.bytes} consumed`)
      stream.reset()
    })
  })

  it('as a non-member: 5-byte requests as fast as the window allows for 3 s are dropped, and the honest member is served', async t => {
    await onStage(t, { member: false, channels: DEFAULT_SVC }, async s => {
      const { findings } = s
      const { stream, f, st } = await requestFlood(s)
      findings.note(`flood: ${f.requests} requests, ${f.bytes} bytes; ${stream.received} bytes of FLOW back; tentative ${JSON.stringify(st?.net.tentative)}; svc served ${String(st?.channels.svc.requests.served)}`)
      findings.check(stream.received <= 0.05 * f.bytes + 1024, `a non-member gets nothing back but flow-control reports: ${stream.received} bytes for ${f.bytes} sent`)
      // read at the non-members' rate (256 KiB/s here): what the victim reported consumed, at least, is dropped and counted
      const dropped = st?.net.tentative.dropped ?? 0
      const readRequests = Math.floor((stream.flow - encode.bind(1, 'svc').byteLength) / 5)
      findings.check(dropped >= readRequests && dropped <= f.requests, `a non-member's requests are dropped, counted: tentative dropped ${dropped}, for ${readRequests} reported read of ${f.requests}`)
      stream.reset()
    })
  })

  it('as a member: 1,000 requests in one write to a handler that answers at once are all answered, none busy', async t => {
    await onStage(t, { member: true, channels: DEFAULT_SVC }, async s => {
      const { findings, attacker } = s
      const stream = await attacker.open(s.victim.addr, WIRE_1_1)
      const payload = new Uint8Array(8).fill(0x62)
      await stream.write(concat([encode.bind(1, 'svc'), ...Array.from({ length: 1000 }, (_, i) => encode.request(1, i + 1, payload))]))
      await attacker.inbox.wait(() => attacker.inbox.responses.length + attacker.inbox.errors.length >= 1000, 10_000, '1,000 replies')
        .catch((err: Error) => { findings.note(err.message) })
      const busy = attacker.inbox.errors.filter(e => e.code === CODE.busy).length
      findings.note(`burst of 1,000: ${replies(s, stream)}`)
      findings.check(attacker.inbox.responses.length === 1000, `all 1,000 must be answered: ${attacker.inbox.responses.length} were`)
      findings.check(busy === 0, `none may be busy (maxQueuedRequests 1,024 by default): ${busy} were`)
      findings.check(new Set(attacker.inbox.responses).size === attacker.inbox.responses.length, 'each request is answered once')
      stream.reset()
    })
  })

  it('as a member: busy (past the backlog) and no-handler refusals carry an empty message: no more bytes come back than were sent', async t => {
    const channels = [...DEFAULT_SVC, { name: 'hang', options: { maxQueuedRequests: 16 }, serve: 'hang' as const }]
    await onStage(t, { member: true, channels }, async s => {
      const { findings, attacker } = s
      const stream = await attacker.open(s.victim.addr, WIRE_1_1)
      // channel 1: 'hang', whose handler never answers: 16 served and 16 queued at most, then busy.
      // channel 2: a name the victim never opened: no-handler
      await stream.write(concat([encode.bind(1, 'hang'), encode.bind(2, 'never-opened')]))
      const busyBytes = await paced(s, stream, 10_000, 10_000 - 32, requests)
      const busy = attacker.inbox.errors.length
      findings.check(busy >= 10_000 - 32, `past 16 served and 16 waiting, every request is refused busy: ${busy} refusals for 10,000`)
      findings.note(`10,000 requests to a handler that never answers (${busyBytes} bytes): ${errorsOf(s)}; ${attacker.inbox.bytes} bytes back`)
      findings.check(attacker.inbox.bytes <= busyBytes + 64, `busy refusals must not reflect more than the requests carry: ${attacker.inbox.bytes} bytes back for ${busyBytes} sent (${(attacker.inbox.bytes / busyBytes).toFixed(1)}x)`)
      const before = attacker.inbox.bytes
      // ids after the 32 of the first part that may still be in flight
      const toNothing = (from: number, count: number): Uint8Array => requests(32 + from, count, 2)
      const noHandlerBytes = await paced(s, stream, 10_000, busy + 10_000, toNothing)
      const back = attacker.inbox.bytes - before
      findings.check(attacker.inbox.errors.length - busy === 10_000, `every request to a channel never opened is refused: ${attacker.inbox.errors.length - busy} of 10,000`)
      findings.note(`10,000 requests to a channel never opened (${noHandlerBytes} bytes): ${errorsOf(s)}; ${back} bytes back`)
      findings.check(back <= noHandlerBytes + 16, `no-handler refusals must not reflect more than the requests carry: ${back} bytes back for ${noHandlerBytes} sent (${(back / noHandlerBytes).toFixed(1)}x)`)
      const withMessage = attacker.inbox.errors.filter(e => (e.code === CODE.busy || e.code === CODE['no-handler']) && e.messageBytes > 0)
      findings.check(withMessage.length === 0, `busy and no-handler errors must carry an empty message: ${withMessage.length} of ${attacker.inbox.errors.length} carried one`)
      stream.reset()
    })
  })

  it('as a member: requests reusing an id in flight are refused without reflecting more bytes than they carry', async t => {
    // not in the list: found while building (c). A request whose id is in flight is
    // answered ERROR remote-error 'request id already in use': 30 bytes back for 5
    const channels = [...DEFAULT_SVC, { name: 'hang', options: { maxQueuedRequests: 16 }, serve: 'hang' as const }]
    await onStage(t, { member: true, channels }, async s => {
      const { findings, attacker } = s
      const stream = await attacker.open(s.victim.addr, WIRE_1_1)
      // request 200 on 'hang' stays in flight; then 10,000 more requests with id 200
      await stream.write(concat([encode.bind(1, 'hang'), requests(200 - 128, 1)]))
      const same = (_from: number, count: number): Uint8Array => concat(Array.from({ length: count }, () => requests(200 - 128, 1)))
      const sent = await paced(s, stream, 10_000, 10_000, same)
      findings.note(`10,000 requests reusing id 200 (${sent} bytes): ${errorsOf(s)}; ${attacker.inbox.bytes} bytes back`)
      findings.check(attacker.inbox.errors.length === 10_000, `each reuse is refused: ${attacker.inbox.errors.length} refusals for 10,000`)
      findings.check(attacker.inbox.bytes <= sent + 64, `refusals of a reused id must not reflect more than the requests carry: ${attacker.inbox.bytes} bytes back for ${sent} sent (${(attacker.inbox.bytes / sent).toFixed(1)}x)`)
      stream.reset()
    })
  })

  it('as a member: requests waiting for a handler hold their own bytes, not the receive buffers they arrived in', async t => {
    // 5-byte requests each in its own ~60 KB stretch of 4 KB messages, to a handler that never
    // answers: each request the victim keeps waiting (up to maxConcurrentRequests + maxQueuedRequests)
    // must not pin the decrypted chunk it came in (up to 64 KiB), which the bound, derived from a
    // 4 KiB maxMessageSize, does not allow for
    const channels = [...DEFAULT_SVC, { name: 'hang', options: {}, serve: 'hang' as const }, { name: 'hang2', options: {}, serve: 'hang' as const }]
    await onStage(t, { member: true, channels, init: { maxMessageSize: 4096 } }, async s => {
      const { findings, attacker } = s
      const stream = await attacker.open(s.victim.addr, WIRE_1_1)
      await stream.write(concat([encode.bind(1, 'hang'), encode.bind(2, 'hang2')]))
      const filler = concat(Array.from({ length: 15 }, () => encode.message(new Uint8Array(4000))))
      // 1,040 on each channel: 16 served and 1,024 queued at most
      // at the pace FLOW allows: a writer ignoring it would have its stream reset long before 2,080
      const f = await stream.flood(i => concat([requests(i, 1, 1 + i % 2), filler]), { writes: 2080, ms: 8000, window: 1024 * 1024 })
      await stream.consumed(5000)
      const st = await s.stats()
      findings.note(`${f.writes} requests among ${(f.bytes / 2 ** 20).toFixed(1)} MiB of messages; victim's hang channels: ${JSON.stringify(st?.channels.hang.requests)}, ${JSON.stringify(st?.channels.hang2.requests)}; handler calls ${String(st?.handled.hang)}, ${String(st?.handled.hang2)}`)
      findings.check(f.writes === 2080 && stream.open, `all 2,080 requests must be written on a stream that stays open: ${f.writes} written, stream ${stream.open ? 'open' : 'ended'}`)
      findings.check(st?.handled.hang === 16 && st?.handled.hang2 === 16, `16 requests served on each channel, the rest waiting: ${String(st?.handled.hang)}, ${String(st?.handled.hang2)}`)
      await s.checkHeap('with the requests waiting')
      stream.reset()
    })
  })
})
