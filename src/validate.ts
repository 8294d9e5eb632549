/**
 * Argument checks shared by the public API. Each throws at once (a promise-returning call rejects
 * before it starts anything) with the documented class and a message naming the argument:
 * `TypeError` for a value of the wrong type, `RangeError` for one out of range. Options given at
 * construction throw `RangeError` for both, as they always have.
 */

/**
 * The longest delay a timer can wait: Node's `setTimeout` fires after 1 ms for anything larger
 * (or for `Infinity`), so a longer timeout is refused rather than silently cut short.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** An integer >= 1 (options at construction). */
export function positiveInt (name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`)
  return value
}

/** An integer >= 0 (options at construction). */
export function nonNegativeInt (name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${String(value)}`)
  return value
}

/** A delay in ms that a timer can wait: a number from `min` to MAX_TIMER_MS. */
export function timerMs (name: string, value: number, min = 1): number {
  if (typeof value !== 'number' || !(value >= min && value <= MAX_TIMER_MS)) {
    throw new RangeError(`${name} must be a number of ms from ${min} to ${MAX_TIMER_MS}, got ${String(value)}`)
  }
  return value
}

/** Throws a TypeError naming `name` unless `data` is a Uint8Array (a Node Buffer is one). */
export function checkBytes (name: string, data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array, got ${describeType(data)}`)
}

/** Throws a TypeError naming `what` unless `options` is an object (an options bag). */
export function checkOptions (what: string, options: unknown): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${what} options must be an object, got ${describeType(options)}`)
}

/** Throws a TypeError unless `signal` is undefined or an AbortSignal. */
export function checkSignal (signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`signal must be an AbortSignal, got ${describeType(signal)}`)
}

/** Throws a TypeError unless `node` is a node ID (a string). */
export function checkNodeId (name: string, node: unknown): void {
  if (typeof node !== 'string') throw new TypeError(`${name} must be a node ID (a string), got ${describeType(node)}`)
}

/** A short description of a value's type for error messages (never the value itself: it may be huge). */
export function describeType (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  return value.constructor?.name ?? 'object'
}

/**
 * Sets `record[key] = value` as an own, enumerable property, also for the key `__proto__`
 * (which a plain assignment would take as the prototype): stats are keyed by node IDs, and a
 * node ID is any string.
 */
export function setOwn<T> (record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true })
  else record[key] = value
}
