/** Helpers for the channel tests: one ordered log of what several channels (and nets) emit. */
import { withTimeout } from './helpers.ts'
import type { ChannelMemberStats } from '../src/channels/types.ts'

export interface Entry {
  /** Which listened target emitted it. */
  tag: string
  from: string
  data: Uint8Array
}

/**
 * Records the 'message' events of any number of channels (or nets), each under a tag, in the
 * order they were emitted, so a test can assert the order across channels.
 */
export class Log {
  readonly entries: Entry[] = []
  #waiters: Array<{ until: () => boolean, resolve: () => void }> = []

  /** Records `target`'s 'message' events as `tag`. */
  listen (target: EventTarget, tag: string): this {
    target.addEventListener('message', e => {
      const { from, data } = (e as CustomEvent<{ from: string, data: Uint8Array }>).detail
      this.entries.push({ tag, from, data })
      this.#waiters = this.#waiters.filter(w => {
        if (!w.until()) return true
        w.resolve()
        return false
      })
    })
    return this
  }

  of (tag: string): Entry[] {
    return this.entries.filter(e => e.tag === tag)
  }

  count (tag: string): number {
    let n = 0
    for (const e of this.entries) if (e.tag === tag) n++
    return n
  }

  /** Resolves when `until()` holds; rejects after `ms` with what was received so far. */
  async wait (until: () => boolean, ms = 20_000, what = 'messages'): Promise<void> {
    if (until()) return
    await withTimeout(new Promise<void>(resolve => { this.#waiters.push({ until, resolve }) }), ms,
      () => `timed out waiting for ${what}; have ${this.entries.length}: ${[...new Set(this.entries.map(e => e.tag))].map(t => `${t} ${this.count(t)}`).join(', ')}`)
  }

  async waitFor (tag: string, n: number, ms?: number): Promise<void> {
    await this.wait(() => this.count(tag) >= n, ms, `${n} on ${tag}`)
  }
}

/** The issue-6 counters of a channel's member stats (newer fields, if any, are not this test's business). */
export function counters (s: ChannelMemberStats): Pick<ChannelMemberStats, 'queued' | 'sent' | 'dropped' | 'superseded' | 'expired' | 'received'> {
  return { queued: s.queued, sent: s.sent, dropped: s.dropped, superseded: s.superseded, expired: s.expired, received: s.received }
}
