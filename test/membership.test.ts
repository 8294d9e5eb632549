import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidMembershipError } from '../src/index.ts'
import { diffMembership, parseMembership as parseWith, EMPTY_MEMBERSHIP, type Membership } from '../src/peers/membership.ts'
import { parseLibp2pAddress } from '../src/libp2p/transport.ts'

const parseMembership = (m: Membership, self: string): ReturnType<typeof parseWith> => parseWith(m, self, parseLibp2pAddress)

const peers = await Promise.all([1, 2, 3, 4].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
const [p1, p2, p3, p4] = peers
const addr = (peer: string, port = 4001): string => `/ip4/127.0.0.1/tcp/${port}/p2p/${peer}`

function invalid (fn: () => unknown, node: string | undefined, pattern: RegExp): void {
  assert.throws(fn, (err: any) => {
    assert.equal(err.name, 'InvalidMembershipError')
    assert.ok(err instanceof InvalidMembershipError)
    assert.equal(err.node, node)
    assert.match(err.message, pattern)
    return true
  })
}

describe('parseMembership', () => {
  it('accepts a record or a map of strings, Multiaddrs, or lists of them, and finds itself by peer ID', () => {
    const fromRecord = parseMembership({ a: addr(p1), b: [addr(p2), multiaddr(addr(p2, 4002))] }, p2)
    const fromMap = parseMembership(new Map<string, string | string[]>([['a', addr(p1)], ['b', [addr(p2), addr(p2, 4002)]]]), p2)
    for (const m of [fromRecord, fromMap]) {
      assert.equal(m.self, 'b')
      assert.equal(m.members.get('b')!.addrs.length, 2)
      assert.equal(m.nodeByPeer.get(p1), 'a')
      assert.equal(m.members.get('a')!.peer, p1)
    }
    assert.equal(parseMembership({ a: addr(p1) }, p3).self, undefined)
  })

  it('names the entry: unparsable address', () => {
    invalid(() => parseMembership({ a: addr(p1), b: '/ip4/nope' }, p1), 'b', /does not parse/)
  })
  it('names the entry: address without /p2p/', () => {
    invalid(() => parseMembership({ a: '/ip4/127.0.0.1/tcp/1' }, p1), 'a', /no \/p2p\//)
  })
  it('names the entry: no address', () => {
    invalid(() => parseMembership({ a: [] }, p1), 'a', /no address/)
  })
  it('names the entry: two peer IDs in one entry', () => {
    invalid(() => parseMembership({ a: [addr(p1), addr(p2)] }, p1), 'a', /two peer IDs/)
  })
  it('names the entry: two node IDs share a peer ID', () => {
    invalid(() => parseMembership({ a: addr(p1), b: addr(p1, 5000) }, p3), 'b', /already node "a"/)
  })
  it('names the entry: not an address at all', () => {
    invalid(() => parseMembership({ a: 42 as any }, p1), 'a', /neither a string nor a Multiaddr/)
  })
  it('rejects an empty node ID and a non-object', () => {
    invalid(() => parseMembership({ '': addr(p1) }, p1), '', /non-empty/)
    invalid(() => parseMembership(null as any, p1), undefined, /Map or an object/)
  })
})

describe('diffMembership', () => {
  it('tells removed, added and moved apart; a new peer ID under the same node ID is removed + added', () => {
    const prev = parseMembership({ a: addr(p1), b: addr(p2), c: addr(p3) }, p1)
    const next = parseMembership({ a: addr(p1), b: addr(p2, 5000), c: addr(p4) }, p1)
    assert.deepEqual(diffMembership(prev, next), { removed: ['c'], added: ['c'], moved: ['b'] })
    assert.deepEqual(diffMembership(EMPTY_MEMBERSHIP, prev), { removed: [], added: ['a', 'b', 'c'], moved: [] })
    assert.deepEqual(diffMembership(prev, prev), { removed: [], added: [], moved: [] })
  })
})
