/**
 * `npm run example:proxy`: a caching proxy in front of a slow backend, built on a Resolver.
 *
 * One node, "proxy", fronts a backend that takes 50 ms per key (its `produce`). Ten clients
 * fetch overlapping keys at random (a seeded Zipf-like skew), in rounds of several at once with
 * a pause between rounds, all in this process on 127.0.0.1. The resolver answers identical
 * requests in flight once (on the client and on the proxy) and caches what it fetched, so the
 * backend is called far less often than clients fetch. It prints the backend calls saved and
 * the latency clients saw, then stops every node and exits.
 */
import { createConsensusNet, type ConsensusNet, type Resolver } from '../src/index.ts'
// seeded, so every run asks for the same keys
import { mulberry32 as prng } from '../src/testing/index.ts'

const CLIENTS = 10
const KEYS = 40
const ROUNDS = 8
/** Fetches each client has in flight at once in a round. */
const BURST = 5
/** A client pauses up to this long between rounds. */
const THINK_MS = 100
const BACKEND_MS = 50
/** Short enough that some keys expire during the run and go back to the backend. */
const TTL = 400
const SEED = 7

/** Key i with probability proportional to 1 / (i + 1): a few hot keys, a long tail. */
function zipf (random: () => number): () => string {
  const weights = Array.from({ length: KEYS }, (_, i) => 1 / (i + 1))
  const total = weights.reduce((a, b) => a + b, 0)
  return () => {
    let x = random() * total
    for (let i = 0; i < KEYS; i++) {
      x -= weights[i]
      if (x <= 0) return `block/${i}`
    }
    return `block/${KEYS - 1}`
  }
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const encoder = new TextEncoder()

async function main (): Promise<void> {
  const names = ['proxy', ...Array.from({ length: CLIENTS }, (_, i) => `client${i}`)]
  const nets: ConsensusNet[] = []
  try {
    nets.push(...await Promise.all(names.map(async () => createConsensusNet())))
    const membership = Object.fromEntries(nets.map((net, i) => [names[i], net.getMultiaddrs().map(String)]))
    await Promise.all(nets.map(async net => net.connect(membership)))
    await Promise.all(nets.map(async net => net.waitFor(names.length, { signal: AbortSignal.timeout(10_000) })))

    let backendCalls = 0
    const resolvers: Resolver[] = nets.map((net, i) => net.resolver('blocks', {
      // only the proxy has a backend; a client answers "I don't have it"
      produce: i > 0
        ? () => undefined
        : async key => {
          backendCalls++
          await sleep(BACKEND_MS)
          return encoder.encode(`value of ${String(key)}`)
        },
      cache: { ttl: TTL }
    }))
    const [proxy, ...clients] = resolvers

    const latencies: number[] = []
    const random = prng(SEED)
    const key = zipf(random)
    const plans = clients.map(() => Array.from({ length: ROUNDS }, () => ({ keys: Array.from({ length: BURST }, key), think: random() * THINK_MS })))
    const started = Date.now()
    await Promise.all(clients.map(async (client, c) => {
      for (const { keys, think } of plans[c]) {
        await sleep(think)
        await Promise.all(keys.map(async key => {
          const t = performance.now()
          await client.fetch(key, { from: ['proxy'], signal: AbortSignal.timeout(10_000) })
          latencies.push(performance.now() - t)
        }))
      }
    }))
    const elapsed = Date.now() - started

    const sum = (f: (s: ReturnType<Resolver['stats']>) => number): number => clients.reduce((n, r) => n + f(r.stats()), 0)
    const fetches = sum(s => s.fetches)
    const clientHits = sum(s => s.hits)
    const clientDeduped = sum(s => s.deduped)
    const requests = sum(s => s.networkRequests)
    const p = proxy.stats()
    const proxyCached = requests - p.producerCalls - p.producerJoined
    const sorted = latencies.sort((a, b) => a - b)
    const ms = (x: number): string => `${x.toFixed(1)} ms`

    console.log(`${CLIENTS} clients, ${fetches} fetches of ${KEYS} keys (Zipf skew, seed ${SEED}), backend ${BACKEND_MS} ms per key, cache ttl ${TTL} ms, in ${elapsed} ms`)
    console.log(`backend calls:  ${backendCalls} instead of ${fetches} (one per fetch): ${fetches - backendCalls} saved`)
    console.log(`  de-duplication: ${clientDeduped + p.producerJoined} (${clientDeduped} fetches joined one in flight on their client, ${p.producerJoined} requests joined a backend call in progress at the proxy)`)
    console.log(`  cache:          ${clientHits + proxyCached} (${clientHits} client cache hits, ${proxyCached} requests the proxy answered from its cache)`)
    console.log(`requests to the proxy: ${requests}`)
    console.log(`client latency: p50 ${ms(percentile(sorted, 0.5))}, p99 ${ms(percentile(sorted, 0.99))}, max ${ms(sorted[sorted.length - 1])} (the backend alone: ${BACKEND_MS} ms)`)
    if (backendCalls !== p.producerCalls || latencies.length !== fetches) throw new Error('the counts do not add up')
  } finally {
    await Promise.all(nets.map(async net => net.stop()))
  }
}

await main()
