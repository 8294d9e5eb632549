/**
 * `node benchmarks/cpu-profile.ts <file.cpuprofile> [top]`: where a worker's time went, from a
 * profile written by `npm run bench -- <scenario> --cpu-prof`. Prints self time by function and
 * by package (or by file of this project), and total time (self + callees) of the functions of
 * this project and of the benchmark, highest first. Idle time is left out of the percentages.
 */
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

function where (url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const m = /\/(src|benchmarks)\/(.*)$/.exec(url)
  if (m !== null) return `${m[1]}/${m[2]}`
  return url === '' ? '(native)' : url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : url
}

const file = process.argv[2]
const top = Number(process.argv[3] ?? 25)
if (file === undefined) {
  console.error('usage: node benchmarks/cpu-profile.ts <file.cpuprofile> [top]')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map(n => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const label = (n: Node): string => `${n.callFrame.functionName === '' ? '(anonymous)' : n.callFrame.functionName} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
const self = new Map<number, number>()
const inclusive = new Map<string, number>()
let total = 0
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0
  const n = byId.get(id)
  if (n === undefined || n.callFrame.functionName === '(idle)') return
  self.set(id, (self.get(id) ?? 0) + dt)
  total += dt
  const seen = new Set<string>()
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const node = byId.get(at)!
    if (!/^(src|benchmarks)\//.test(where(node.callFrame.url))) continue
    const l = label(node)
    if (seen.has(l)) continue
    seen.add(l)
    inclusive.set(l, (inclusive.get(l) ?? 0) + dt)
  }
})
const byFn = new Map<string, number>()
const byPkg = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id)!
  const fn = label(n)
  byFn.set(fn, (byFn.get(fn) ?? 0) + t)
  const pkg = where(n.callFrame.url)
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + t)
}
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title} (busy ${(total / 1e6).toFixed(2)} s)`)
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(t / total * 100).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(0).padStart(7)} ms  ${k}`)
  }
}
print('self time by function', byFn)
print('self time by package / file', byPkg)
print('total time (with callees) of src/ and benchmarks/ functions', inclusive)
