/**
 * What a scenario is to the CLI: a name, the number of progress steps it takes in a profile, and a
 * run that adds its figures and targets to the shared results.
 */
import type { ContenderName } from './contenders/contender.ts'
import type { Profile } from './profile.ts'
import type { Progress } from './progress.ts'
import type { Results } from './results.ts'

export interface ScenarioContext {
  profile: Profile
  results: Results
  progress: Progress
  /** 256-byte link maximum per contender (msgs/s), set by 'link' and used by 'latency'. */
  linkMax: Map<ContenderName, number>
}

export interface Scenario {
  name: string
  title: string
  steps: (profile: Profile) => number
  run: (ctx: ScenarioContext) => Promise<void>
}
