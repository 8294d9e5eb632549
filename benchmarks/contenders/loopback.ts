/**
 * libp2p refuses more than 5 inbound connections per second from one host
 * (`inboundConnectionThreshold`) and holds at most 10 pending: on 127.0.0.1 every peer is the same
 * host, so a cluster of 8 would see dials refused with ECONNRESET. The baselines whose libp2p
 * config the harness writes lift both limits; this project is run through its public API as is.
 */
export const LOOPBACK_CONNECTION_MANAGER = {
  inboundConnectionThreshold: 100_000,
  maxIncomingPendingConnections: 1_000
}
