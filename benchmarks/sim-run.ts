/**
 * One simulation run, in a process of its own (so that its RSS is its own), for the 'sim'
 * scenario: `node benchmarks/sim-run.ts votes|mesh <nodes> <rounds> <seed>` prints one JSON line.
 * - votes: a full mesh on links of 80 ± 10 ms; every node sends a 100 B vote to every other on a
 *   priority-0 channel, and starts its next round once it holds the votes of this one from all.
 * - mesh: the nodes connect to a full mesh, then one all-to-all round of votes.
 * Wall time counts from the first connect() to the last delivery; the nodes are built before.
 */
import { createSimulation } from '../src/testing/index.ts'

const [kind, nodesArg, roundsArg, seedArg] = process.argv.slice(2)
const n = Number(nodesArg)
const rounds = Number(roundsArg)
const seed = Number(seedArg)
if ((kind !== 'votes' && kind !== 'mesh') || !(n >= 2) || !(rounds >= 1)) throw new Error('usage: sim-run.ts votes|mesh <nodes> <rounds> <seed>')

const sim = createSimulation({ seed, nodes: n, link: { latency: 80, jitter: 10 }, init: { deadLinkTimeout: 5_000 } })
const vote = new Uint8Array(100)
let deliveries = 0
const expected = rounds * n * (n - 1)
const channels = sim.nodes.map(name => sim.net(name).channel('votes', { priority: 0 }))
// per node: the round it is in, and how many votes of that round it holds (a vote of the next
// round may come first: counted there)
const round = new Array<number>(n).fill(0)
const held = sim.nodes.map(() => new Map<number, number>())
const sendRound = (i: number): void => {
  vote[0] = round[i] & 0xff
  for (const to of sim.nodes) if (to !== sim.nodes[i]) channels[i].send(to, vote)
}
channels.forEach((channel, i) => {
  channel.onMessage((_from, data) => {
    deliveries++
    const r = data[0]
    const count = (held[i].get(r) ?? 0) + 1
    held[i].set(r, count)
    if (r === (round[i] & 0xff) && count === n - 1) {
      held[i].delete(r)
      if (++round[i] < rounds) sendRound(i)
    }
  })
})

const started = performance.now()
let meshed = 0
for (const name of sim.nodes) {
  const net = sim.net(name)
  void net.connect(sim.membership)
  void net.waitFor(n).then(() => { meshed++ })
}
await sim.run({ until: () => meshed === n, timeout: 60_000 })
const meshAt = performance.now()
const meshVirtual = sim.now
for (let i = 0; i < n; i++) sendRound(i)
await sim.run({ until: () => deliveries === expected, timeout: rounds * 1_000 + 60_000 })
const ended = performance.now()
const result = {
  kind,
  nodes: n,
  rounds,
  seed,
  deliveries,
  wallMs: ended - started,
  meshWallMs: meshAt - started,
  roundsWallMs: ended - meshAt,
  virtualMs: sim.now,
  roundsVirtualMs: sim.now - meshVirtual,
  rssBytes: process.memoryUsage().rss,
  digest: sim.digest()
}
sim.stop()
console.log(JSON.stringify(result))
