/**
 * `consensus-net/testing`: a fault-injection network to test a consensus engine on. N real
 * consensus-net nodes (libp2p + Noise + Yamux + the service, unchanged) run in one process over
 * a simulated transport whose links can be delayed, jittered, throttled, cut, blackholed and
 * partitioned, and whose nodes can crash and restart on the same key; randomness comes from a seed.
 *
 *   const tn = await createTestNetwork({ nodes: 5, seed: 42, init: { reconnect: { maxDelay: 200 } } })
 *   await tn.connectAll()
 *   tn.partition(['n0', 'n1'], ['n2', 'n3', 'n4']); ...; tn.healAll()
 *   await tn.stop()
 *
 * A seed fixes the keys (so the peer IDs), each link direction's sequence of jitter draws, and
 * `random()`. What stays non-deterministic: the event loop's timing (when timers fire, how the
 * layers above batch writes into chunks, so which chunk draws which jitter value, and where a
 * fault lands in the byte stream), and the randomness of libp2p and of the module itself
 * (reconnect backoff jitter, Noise's ephemeral keys, which side's dial wins). Replaying a seed
 * replays the schedule of faults and the link's draws, not the exact interleaving.
 *
 * libp2p's own connection monitor still runs (it pings every 10 s and aborts a connection that
 * does not answer): a blackhole longer than that may be ended by libp2p on its side. Turn it off
 * with `libp2p: { connectionMonitor: { enabled: false } }` to observe only the module.
 */
export { createTestNetwork, TestNetwork } from './libp2p/network.ts'
export type { TestNetworkInit } from './libp2p/network.ts'
export type { Link, LinkStats } from './links.ts'
export type { LinkShape, TraceEvent } from './links.ts'
export { deriveSeed, mulberry32 } from './random.ts'
// the deterministic simulation: the core on a simulated network in virtual time (src/testing/sim/)
export { createSimulation, Simulation, SimulationError } from './sim/index.ts'
export type { RunOptions, SimNode, SimNodeComponents, SimNodeFactory, SimulationInit } from './sim/index.ts'
