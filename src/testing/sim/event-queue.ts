/**
 * The simulation's event queue: a binary min-heap of events ordered by (virtual time, sequence
 * number). The sequence number is given at scheduling, so two events due at the same time run in
 * the order they were scheduled, and a run replays exactly. A cancelled event stays in the heap,
 * marked, and is skipped when it comes out (cancelling costs nothing, and timers are cancelled far
 * more often than they fire).
 */

/** Something whose events run only while it is alive: a node's incarnation (a crash ends it). */
export interface Owner {
  readonly alive: boolean
}

export class ScheduledEvent {
  /** Virtual ms when it runs. */
  readonly at: number
  readonly seq: number
  /** What runs; undefined once cancelled or run. */
  fn: (() => void) | undefined
  readonly owner: Owner | undefined

  constructor (at: number, seq: number, fn: () => void, owner: Owner | undefined) {
    this.at = at
    this.seq = seq
    this.fn = fn
    this.owner = owner
  }

  /** Whether it will still run: not cancelled, and its owner (if any) alive. */
  get live (): boolean {
    return this.fn !== undefined && (this.owner === undefined || this.owner.alive)
  }
}

function before (a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

export class EventQueue {
  readonly #heap: ScheduledEvent[] = []

  get size (): number {
    return this.#heap.length
  }

  push (event: ScheduledEvent): void {
    const heap = this.#heap
    let i = heap.length
    heap.push(event)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(event, heap[parent])) break
      heap[i] = heap[parent]
      i = parent
    }
    heap[i] = event
  }

  /** The earliest event that will still run, or undefined; cancelled and orphaned ones ahead of it are dropped. */
  peek (): ScheduledEvent | undefined {
    const heap = this.#heap
    while (heap.length > 0 && !heap[0].live) this.#removeTop()
    return heap[0]
  }

  /** Removes and returns the earliest event that will still run. */
  pop (): ScheduledEvent | undefined {
    const top = this.peek()
    if (top !== undefined) this.#removeTop()
    return top
  }

  clear (): void {
    this.#heap.length = 0
  }

  #removeTop (): void {
    const heap = this.#heap
    const last = heap.pop()!
    const n = heap.length
    if (n === 0) return
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && before(heap[right], heap[left]) ? right : left
      if (!before(heap[child], last)) break
      heap[i] = heap[child]
      i = child
    }
    heap[i] = last
  }
}
