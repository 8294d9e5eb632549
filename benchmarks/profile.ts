/**
 * How long and how large each scenario runs. 'quick' (the default) runs `npm run bench` in about
 * nine minutes on a 2-core machine; 'full' repeats more and sends more. Counts are per contender
 * class: a contender ~20x slower gets fewer messages so that every trial lasts about as long.
 */

export interface LinkSize {
  size: number
  repeats: number
  /** Messages per trial for the coalescing contenders (this project, pre-packed). */
  count: number
  /** Messages per trial for one write per message. */
  perMessageCount: number
}

export interface Profile {
  name: 'quick' | 'full'
  link: { sizes: LinkSize[] }
  latency: {
    loads: Array<{ load: '1k/s' | '50% of own max' | '50% of per-message max', repeats: number }>
    durationMs: number
  }
  broadcast: {
    nodes: number[]
    repeats: number
    /** Messages each node receives per trial, by contender class (each node sends its share). */
    count: number
    gossipsubCount: number
    /** Cluster-wide fixed rate for the latency phase (msgs/s) and its duration. */
    latencyRate: number
    latencyMs: number
  }
  memory: { downMessages: number, flooders: number, floodProcesses: number, floodMs: number }
  scale: { nodes: number, repeats: number, variants: Array<'createConsensusNet' | 'inbound limit lifted'> }
  isolation: { receivers: number, count: number, repeats: number }
  reqresp: {
    repeats: number
    /** Requests outstanding in the throughput trials (closed loop). */
    concurrency: number
    /** Requests per throughput trial: this project, and one stream per request. */
    count: number
    streamPerRequestCount: number
    /** The fixed offered rate of the latency trials (req/s) and their duration. */
    latencyRate: number
    latencyMs: number
  }
  priority: {
    repeats: number
    /** Priority-0 messages per second, and how long they are sent in each trial. */
    voteRate: number
    voteMs: number
    /** Flood message size; the flood keeps the sender's queue just under its 32 MiB bound. */
    floodSize: number
    /** The flood runs alone this long first, so that the queue is full when the votes start. */
    fillMs: number
  }
  resolver: {
    repeats: number
    /** Fetches per trial, spread over the nodes, and the keys they draw from (Zipf, exponent `zipf`). */
    fetches: number
    keys: number
    zipf: number
    nodes: number
    /** Fetches outstanding per node. */
    concurrency: number
    /** How long `produce` takes, and the slowed member's. */
    produceMs: number
    slowMs: number
    valueSize: number
  }
  chaos: {
    /** Faults per trial (cuts and blackholes, drawn from a seed). */
    faults: number
    repeats: number
    /** Messages per second on each of the two channels. */
    rate: number
    /** A blackhole lasts [min, max) ms; between faults the link is healthy [min, max) ms. */
    blackholeMs: [number, number]
    gapMs: [number, number]
    deadLinkTimeout: number
  }
  reliable: { repeats: number, count: number }
  /** Rounds of (no attack + each attack); how long the honest member asks in each trial, and how often. */
  /** `attacks`: only these (`--attacks`); default every one of benchmarks/attacker.ts. */
  hostile: { repeats: number, trialMs: number, rate: number, attacks?: string[] }
  /** Runs of each simulation case (benchmarks/scenarios/sim.ts). */
  sim: { repeats: number }
}

export const QUICK: Profile = {
  name: 'quick',
  link: {
    sizes: [
      { size: 256, repeats: 5, count: 600_000, perMessageCount: 60_000 },
      { size: 32, repeats: 7, count: 3_000_000, perMessageCount: 60_000 },
      { size: 4096, repeats: 5, count: 60_000, perMessageCount: 30_000 },
      { size: 65536, repeats: 5, count: 3_000, perMessageCount: 3_000 }
    ]
  },
  latency: {
    loads: [{ load: '1k/s', repeats: 3 }, { load: '50% of own max', repeats: 1 }, { load: '50% of per-message max', repeats: 1 }],
    durationMs: 4000
  },
  broadcast: { nodes: [4, 8], repeats: 1, count: 300_000, gossipsubCount: 3000, latencyRate: 1000, latencyMs: 3000 },
  memory: { downMessages: 1_000_000, flooders: 200, floodProcesses: 4, floodMs: 4000 },
  scale: { nodes: 32, repeats: 1, variants: ['createConsensusNet'] },
  isolation: { receivers: 4, count: 400_000, repeats: 2 },
  reqresp: { repeats: 3, concurrency: 64, count: 30_000, streamPerRequestCount: 3000, latencyRate: 200, latencyMs: 3000 },
  priority: { repeats: 3, voteRate: 100, voteMs: 4000, floodSize: 4096, fillMs: 1000 },
  resolver: { repeats: 3, fetches: 1000, keys: 100, zipf: 1, nodes: 4, concurrency: 8, produceMs: 2, slowMs: 200, valueSize: 1024 },
  chaos: { faults: 20, repeats: 1, rate: 2500, blackholeMs: [300, 2000], gapMs: [300, 1000], deadLinkTimeout: 1000 },
  reliable: { repeats: 5, count: 300_000 },
  hostile: { repeats: 3, trialMs: 2500, rate: 200 },
  sim: { repeats: 3 }
}

export const FULL: Profile = {
  name: 'full',
  link: {
    sizes: [
      { size: 256, repeats: 7, count: 3_000_000, perMessageCount: 300_000 },
      { size: 32, repeats: 5, count: 5_000_000, perMessageCount: 300_000 },
      { size: 4096, repeats: 5, count: 300_000, perMessageCount: 120_000 },
      { size: 65536, repeats: 5, count: 20_000, perMessageCount: 20_000 }
    ]
  },
  latency: {
    loads: [{ load: '1k/s', repeats: 7 }, { load: '50% of own max', repeats: 3 }, { load: '50% of per-message max', repeats: 3 }],
    durationMs: 10_000
  },
  broadcast: { nodes: [4, 8], repeats: 3, count: 1_000_000, gossipsubCount: 20_000, latencyRate: 1000, latencyMs: 10_000 },
  memory: { downMessages: 5_000_000, flooders: 200, floodProcesses: 4, floodMs: 15_000 },
  scale: { nodes: 32, repeats: 3, variants: ['createConsensusNet', 'inbound limit lifted'] },
  isolation: { receivers: 4, count: 800_000, repeats: 5 },
  reqresp: { repeats: 7, concurrency: 64, count: 100_000, streamPerRequestCount: 10_000, latencyRate: 200, latencyMs: 10_000 },
  priority: { repeats: 5, voteRate: 100, voteMs: 10_000, floodSize: 4096, fillMs: 1000 },
  resolver: { repeats: 7, fetches: 1000, keys: 100, zipf: 1, nodes: 4, concurrency: 8, produceMs: 2, slowMs: 200, valueSize: 1024 },
  chaos: { faults: 40, repeats: 3, rate: 2500, blackholeMs: [300, 3000], gapMs: [300, 1500], deadLinkTimeout: 1000 },
  reliable: { repeats: 7, count: 3_000_000 },
  hostile: { repeats: 5, trialMs: 5000, rate: 200 },
  sim: { repeats: 5 }
}
