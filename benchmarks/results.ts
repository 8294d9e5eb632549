/**
 * Every figure a run measures, keyed by scenario, contender, metric and parameters, with one value
 * per repeat; and the targets of the issue, judged from those figures.
 */
import { summarize, type Summary } from './stats.ts'

export type Params = Record<string, string | number>

export interface Figure extends Summary {
  scenario: string
  contender: string
  metric: string
  unit: string
  params: Params
}

export interface Target {
  name: string
  /** The measured ratio (or value) and what it must reach. */
  value: number
  threshold: number
  /** 'min': value >= threshold; 'max': value <= threshold. */
  kind: 'min' | 'max'
  met: boolean
  detail: string
  /** Unit of value and threshold: 'x' (a ratio, the default) or 'ms'. */
  unit?: string
}

function keyOf (scenario: string, contender: string, metric: string, params: Params): string {
  const p = Object.keys(params).sort().map(k => `${k}=${params[k]}`).join(',')
  return `${scenario}|${contender}|${metric}|${p}`
}

export class Results {
  readonly #figures = new Map<string, Omit<Figure, keyof Summary> & { values: number[] }>()
  readonly targets: Target[] = []
  readonly notes: string[] = []
  readonly errors: Array<{ scenario: string, error: string }> = []

  add (scenario: string, contender: string, metric: string, unit: string, params: Params, value: number): void {
    if (!Number.isFinite(value)) return
    const key = keyOf(scenario, contender, metric, params)
    let f = this.#figures.get(key)
    if (f === undefined) {
      f = { scenario, contender, metric, unit, params, values: [] }
      this.#figures.set(key, f)
    }
    f.values.push(value)
  }

  /** The median of a figure, or undefined if it was not measured. */
  median (scenario: string, contender: string, metric: string, params: Params): number | undefined {
    const f = this.#figures.get(keyOf(scenario, contender, metric, params))
    return f === undefined ? undefined : summarize(f.values).median
  }

  figures (): Figure[] {
    return [...this.#figures.values()].map(f => ({ ...f, ...summarize(f.values) }))
  }

  target (name: string, value: number | undefined, kind: 'min' | 'max', threshold: number, detail: string, unit = 'x'): void {
    if (value === undefined || !Number.isFinite(value)) return
    const met = kind === 'min' ? value >= threshold : value <= threshold
    this.targets.push({ name, value, threshold, kind, met, detail, ...(unit === 'x' ? {} : { unit }) })
  }
}
