/**
 * A FIFO of messages bounded in count and in bytes that never refuses a push: to make room it
 * drops the oldest messages and tells the caller how many (and, through `onDrop`, which), so
 * every drop can be counted. Storage grows by doubling up to the count bound, so an idle member
 * costs a few slots.
 */
export class RingBuffer<T extends { readonly byteLength: number } = Uint8Array> {
  readonly maxLength: number
  readonly maxBytes: number
  #slots: Array<T | undefined>
  #mask: number
  #head = 0
  #length = 0
  #bytes = 0

  constructor (maxLength: number, maxBytes: number) {
    if (!Number.isInteger(maxLength) || maxLength < 1) throw new RangeError(`maxLength must be a positive integer, got ${maxLength}`)
    if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be >= 0, got ${maxBytes}`)
    this.maxLength = maxLength
    this.maxBytes = maxBytes
    this.#slots = new Array(8)
    this.#mask = 7
  }

  get length (): number { return this.#length }
  get bytes (): number { return this.#bytes }

  /**
   * Appends `item`, first dropping the oldest items while the count or byte bound would be
   * exceeded, each handed to `onDrop`. An item larger than `maxBytes` on its own is kept,
   * alone. Returns how many items were dropped.
   */
  push (item: T, onDrop?: (dropped: T) => void): number {
    let dropped = 0
    while (this.#length > 0 && (this.#length >= this.maxLength || this.#bytes + item.byteLength > this.maxBytes)) {
      const old = this.shift()!
      onDrop?.(old)
      dropped++
    }
    if (this.#length === this.#slots.length) this.#grow()
    this.#slots[(this.#head + this.#length) & this.#mask] = item
    this.#length++
    this.#bytes += item.byteLength
    return dropped
  }

  /** The `i`-th oldest item (0 = the next `shift()`), without removing it. */
  peek (i = 0): T | undefined {
    return i < this.#length ? this.#slots[(this.#head + i) & this.#mask] : undefined
  }

  shift (): T | undefined {
    if (this.#length === 0) return undefined
    const item = this.#slots[this.#head]
    this.#slots[this.#head] = undefined
    this.#head = (this.#head + 1) & this.#mask
    this.#length--
    this.#bytes -= item!.byteLength
    return item
  }

  /** An item still in the ring changed its size by `delta` bytes (the bound is checked at the next push). */
  resized (delta: number): void {
    this.#bytes += delta
  }

  /** Removes everything; returns how many items were discarded. */
  clear (): number {
    const n = this.#length
    if (n === 0) return 0
    this.#slots = new Array(8)
    this.#mask = 7
    this.#head = 0
    this.#length = 0
    this.#bytes = 0
    return n
  }

  #grow (): void {
    const old = this.#slots
    const slots: Array<T | undefined> = new Array(old.length * 2)
    for (let i = 0; i < this.#length; i++) slots[i] = old[(this.#head + i) & this.#mask]
    this.#slots = slots
    this.#mask = slots.length - 1
    this.#head = 0
  }
}
