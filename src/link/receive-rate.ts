/**
 * A receive rate: bytes per second, in bursts of up to `burst`, as a token bucket that may go
 * into debt (a chunk is charged after it was processed, whole). A Receiver charged by one waits,
 * its stream paused (so the peer's window is not replenished), until the debt is paid: what a
 * peer sends beyond the rate waits in its own queues, not in this process. Several streams may
 * share one (the non-members, together).
 */
export class ReceiveRate {
  readonly bytesPerSecond: number
  readonly burst: number
  #tokens: number
  #at = -Infinity

  constructor (bytesPerSecond: number, burst = bytesPerSecond) {
    this.bytesPerSecond = bytesPerSecond
    this.burst = burst
    this.#tokens = burst
  }

  /**
   * Charges `bytes` at `now` (ms); returns how many ms until the debt, if any, is paid (0: none).
   * The debt is at most one burst: streams that share the bucket wait at most a second's worth of
   * it (with the default burst), however much they were charged.
   */
  take (bytes: number, now: number): number {
    this.#tokens = Math.min(this.burst, this.#tokens + (now - this.#at) * this.bytesPerSecond / 1000)
    this.#at = now
    this.#tokens = Math.max(-this.burst, this.#tokens - bytes)
    return this.#tokens >= 0 ? 0 : -this.#tokens * 1000 / this.bytesPerSecond
  }
}
