import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { multiaddr } from '@multiformats/multiaddr'
import { Counter, register } from 'prom-client'
import { createConsensusNet, PROTOCOL, type ConsensusNet, type ConsensusNetStats } from '../src/index.ts'
import { FAST_RECONNECT, freePort, Inbox, membershipOf, plainNode, startNodes, stopAll, text, waitUntil, withTimeout } from './helpers.ts'
import type { StreamCloseEvent } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'

/** Prometheus text format -> { 'name{label="value"}': value }, comments skipped. */
function parse (exposition: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

async function scrape (): Promise<Map<string, number>> {
  // a reading is reused until the next turn of the event loop (one per scrape, see src/libp2p/metrics.ts):
  // let that turn pass, or a scrape right after another reads the stats of before
  await new Promise(resolve => setImmediate(resolve))
  return parse(await register.metrics())
}

const key = (name: string, label: string, value: string): string => `${name}{${label}="${value}"}`
const member = (figure: string, node: string): string => key(`consensus_net_member_${figure}`, 'member', node)
const whole = (figure: string): string => key(`consensus_net_${figure}`, 'protocol', PROTOCOL)

/** Every figure of `stats` appears in the scrape with the same value. */
function assertMatches (scraped: Map<string, number>, stats: ConsensusNetStats): void {
  for (const [node, m] of Object.entries(stats.members)) {
    assert.equal(scraped.get(member('connected', node)), m.connected ? 1 : 0, `connected of ${node}`)
    assert.equal(scraped.get(member('queued', node)), m.queued, `queued of ${node}`)
    for (const f of ['sent', 'dropped', 'lost', 'reconnects', 'received'] as const) {
      assert.equal(scraped.get(member(`${f}_total`, node)), m[f], `${f} of ${node}`)
    }
  }
  const t = stats.tentative
  assert.equal(scraped.get(whole('tentative_receivers')), t.receivers)
  assert.equal(scraped.get(whole('tentative_buffered')), t.buffered)
  assert.equal(scraped.get(whole('tentative_dropped_total')), t.dropped)
  assert.equal(scraped.get(whole('tentative_evicted_total')), t.evicted)
  assert.equal(scraped.get(whole('tentative_promoted_total')), t.promoted)
  assert.equal(scraped.get(whole('invalid_frames_total')), stats.invalidFrames)
}

describe('libp2p metrics: a Prometheus scrape of a real registry', () => {
  const nodes: Array<{ stop: () => void | Promise<void> }> = []
  let a: ConsensusNet
  let b: ConsensusNet
  /** a's membership: b, and c, a member that is down (its queue fills and drops) */
  let membership: Record<string, string | string[]>
  let inboxA: Inbox
  after(async () => { await stopAll(nodes) })

  before(async () => {
    // an application metric registered first survives because of preserveExistingMetrics
    new Counter({ name: 'app_votes_total', help: 'the application\'s own metric' }).inc(7)
    a = await createConsensusNet({
      reconnect: FAST_RECONNECT,
      sendBufferSize: 8,
      libp2p: { metrics: prometheusMetrics({ preserveExistingMetrics: true, collectDefaultMetrics: false }) }
    })
    nodes.push(a)
    ;[b] = await startNodes(1)
    nodes.push(b)
    const down = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    membership = { ...membershipOf([a, b]), c: `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${down.toString()}` }
    await a.connect(membership)
    await b.connect(membershipOf([a, b]))
    await Promise.all([a.waitFor(2), b.waitFor(2)])
    inboxA = new Inbox(a)
  })

  it('per-member figures match stats(), and a scrape with nothing new adds nothing', async () => {
    const inboxB = new Inbox(b)
    for (let i = 0; i < 5; i++) a.send('b', text(`a${i}`))
    for (let i = 0; i < 3; i++) b.send('a', text(`b${i}`))
    for (let i = 0; i < 2; i++) a.send('a', text(`self${i}`))
    for (let i = 0; i < 20; i++) a.send('c', text(`c${i}`))
    await inboxB.waitCount(5)
    await inboxA.waitCount(5)

    const first = await scrape()
    assertMatches(first, a.stats())
    assert.equal(first.get(member('sent_total', 'b')), 5)
    assert.equal(first.get(member('received_total', 'b')), 3)
    assert.equal(first.get(member('sent_total', 'a')), 2)
    assert.equal(first.get(member('received_total', 'a')), 2)
    assert.equal(first.get(member('dropped_total', 'c')), 12)
    assert.equal(first.get(member('queued', 'c')), 8)
    assert.equal(first.get(member('connected', 'c')), 0)
    assert.equal(first.get(member('connected', 'b')), 1)
    assert.equal(first.get('app_votes_total'), 7)

    // counters are fed increments: scraping again must not add the totals a second time
    const second = await scrape()
    for (const [k, v] of first) if (k.startsWith('consensus_net_')) assert.equal(second.get(k), v, k)
    a.send('b', text('one more'))
    await inboxB.waitCount(6)
    assert.equal((await scrape()).get(member('sent_total', 'b')), 6)
  })

  it('tentative peers, invalid frames, promotion; a member that left reads 0 in its gauges', async () => {
    const [d] = await startNodes(1)
    nodes.push(d)
    const addrs = membershipOf([a, d], ['a', 'd'])
    await d.connect(addrs)
    await d.waitFor(2) // its stream to a is open: a holds d as a tentative receiver
    for (let i = 0; i < 3; i++) d.send('a', text(`d${i}`))
    await waitUntil(() => a.stats().tentative.buffered === 3, 20_000, 'd\'s messages held')

    const raw: Libp2p = await plainNode()
    nodes.push(raw)
    const stream = await raw.dialProtocol(multiaddr(a.getMultiaddrs()[0]), PROTOCOL)
    const closed = new Promise<StreamCloseEvent>(resolve => { stream.addEventListener('close', resolve, { once: true }) })
    stream.send(Uint8Array.of(3, 9, 1, 2)) // a frame of unknown kind 9
    await withTimeout(closed, 20_000, () => 'bad stream was not reset')

    const held = await scrape()
    assertMatches(held, a.stats())
    assert.equal(held.get(whole('tentative_buffered')), 3)
    assert.equal(held.get(whole('invalid_frames_total')), 1)

    // d becomes a member, c leaves
    const before = inboxA.messages.length
    await a.connect({ a: membership.a, b: membership.b, d: addrs.d })
    await inboxA.waitCount(before + 3)
    await a.waitFor(3) // a's own stream to d is open too: nothing moves while we compare
    const promoted = await scrape()
    assertMatches(promoted, a.stats())
    assert.equal(promoted.get(whole('tentative_promoted_total')), 1)
    assert.equal(promoted.get(member('received_total', 'd')), 3)
    assert.equal(promoted.get(member('queued', 'c')), 0, 'a gauge of a member that left keeps no stale value')
    assert.equal(promoted.get(member('dropped_total', 'c')), 12, 'a counter keeps its total')

    // c comes back: its stats restart from 0, its counters keep growing
    await a.connect({ a: membership.a, b: membership.b, c: membership.c, d: addrs.d })
    for (let i = 0; i < 20; i++) a.send('c', text(`c${i}`))
    assert.equal(a.stats().members.c.dropped, 12)
    assert.equal((await scrape()).get(member('dropped_total', 'c')), 24)
  })

  it('per-channel figures (summed over members) and a request duration histogram per channel', async () => {
    const votesA = a.channel('votes', { priority: 0 })
    const votesB = b.channel('votes', { priority: 0 })
    const blocksA = a.channel('blocks')
    b.channel('blocks').handle(data => data)
    let got = 0
    votesB.onMessage(() => { got++ })
    for (let i = 0; i < 4; i++) votesA.send('b', text(`v${i}`))
    votesA.send('b', text('k1'), { key: 'k' })
    votesA.send('b', text('k2'), { key: 'k' })
    for (let i = 0; i < 3; i++) await blocksA.request('b', text(`q${i}`))
    await waitUntil(() => got >= 5, 20_000, 'votes at b')
    const scraped = await scrape()
    const channel = (figure: string, name: string): number | undefined => scraped.get(key(`consensus_net_${figure}`, 'channel', name))
    const sum = (name: string, field: 'sent' | 'superseded' | 'lost'): number => Object.values(a.channels().find(c => c.name === name)!.stats().members).reduce((n, m) => n + m[field], 0)
    assert.equal(channel('channel_sent_total', 'votes'), sum('votes', 'sent'))
    assert.ok(sum('votes', 'sent') >= 5)
    assert.equal(channel('channel_lost_total', 'votes'), sum('votes', 'lost'))
    assert.equal(channel('requests_succeeded_total', 'blocks'), 3)
    assert.equal(channel('requests_sent_total', 'blocks'), 3)
    assert.equal(scraped.get('consensus_net_request_duration_seconds_count{channel="blocks"}'), 3)
    assert.ok((scraped.get('consensus_net_request_duration_seconds_sum{channel="blocks"}') ?? 0) > 0)
  })

  it('after stop() a scrape still works: gauges read 0, counters keep their totals', async () => {
    const sent = (await scrape()).get(member('sent_total', 'b'))
    await a.stop()
    const stopped = await scrape()
    assert.equal(stopped.get(member('connected', 'b')), 0)
    assert.equal(stopped.get(member('queued', 'c')), 0)
    assert.equal(stopped.get(whole('tentative_receivers')), 0)
    assert.equal(stopped.get(member('sent_total', 'b')), sent)
  })
})
