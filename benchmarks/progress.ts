/**
 * A progress bar on stderr when it is a terminal (one line redrawn in place), plain lines
 * otherwise, so logs of a CI run stay readable.
 */

export class Progress {
  #total: number
  #done = 0
  #label = ''
  readonly #tty: boolean
  readonly #started = Date.now()
  #timer: NodeJS.Timeout | undefined

  constructor (total: number) {
    this.#total = Math.max(1, total)
    this.#tty = process.stderr.isTTY === true
    if (this.#tty) this.#timer = setInterval(() => { this.#draw() }, 500).unref()
  }

  /** Starts the next step. */
  step (label: string): void {
    this.#label = label
    if (this.#tty) this.#draw()
    else process.stderr.write(`[${this.#elapsed()}] ${label}\n`)
  }

  /** Marks the current step done. */
  tick (): void {
    this.#done = Math.min(this.#total, this.#done + 1)
    if (this.#tty) this.#draw()
  }

  /** Prints a line above the bar. */
  log (line: string): void {
    if (this.#tty) process.stderr.write('\r\x1b[2K')
    process.stderr.write(line + '\n')
    if (this.#tty) this.#draw()
  }

  end (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    if (this.#tty) process.stderr.write('\r\x1b[2K')
  }

  #elapsed (): string {
    const s = Math.round((Date.now() - this.#started) / 1000)
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
  }

  #draw (): void {
    const width = 30
    const filled = Math.round(width * this.#done / this.#total)
    const cols = process.stderr.columns ?? 100
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.#done}/${this.#total} ${this.#elapsed()} ${this.#label}`
    process.stderr.write('\r\x1b[2K' + line.slice(0, cols - 1))
  }
}
