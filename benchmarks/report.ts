/**
 * Turns the results of a run into what people read: a table per scenario (contenders side by
 * side, median and min-max over repeats), the targets met or missed, latest.json (machine,
 * versions, every figure), latest.md (the tables) and latest.svg (messages/s and latency
 * percentiles per contender and scenario).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem, platform, arch } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { CONTENDERS } from './contenders/contender.ts'
import type { Figure, Params, Results } from './results.ts'

const ROOT = new URL('../', import.meta.url)

export interface RunInfo { profile: string, scenarios: string[], seconds: number }

function packageVersion (name: string): string {
  try {
    const require = createRequire(new URL('package.json', ROOT))
    const pkgPath = require.resolve(`${name}/package.json`)
    return JSON.parse(readFileSync(pkgPath, 'utf8')).version
  } catch {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, ROOT), 'utf8'))
      return pkg.version
    } catch {
      return 'unknown'
    }
  }
}

export function machine (): Record<string, unknown> {
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: new URL('.', ROOT), encoding: 'utf8' }).trim()
  } catch {}
  const own = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8'))
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    versions: {
      [own.name]: `${own.version} (${commit})`,
      libp2p: packageVersion('libp2p'),
      '@chainsafe/libp2p-noise': packageVersion('@chainsafe/libp2p-noise'),
      '@chainsafe/libp2p-yamux': packageVersion('@chainsafe/libp2p-yamux'),
      '@libp2p/tcp': packageVersion('@libp2p/tcp'),
      '@libp2p/gossipsub': packageVersion('@libp2p/gossipsub')
    }
  }
}

function fmt (v: number, unit: string): string {
  if (!Number.isFinite(v)) return '-'
  if (unit === 'x') return v >= 10 ? `${v.toFixed(1)}x` : `${v.toFixed(2)}x`
  if (unit === '%') return `${v.toFixed(0)}%`
  if (unit === 'ms') return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
  if (unit === 'MiB') return v.toFixed(1)
  const a = Math.abs(v)
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`
  if (a >= 100) return v.toFixed(0)
  return v.toFixed(a >= 10 ? 1 : 2)
}

function cell (f: Figure | undefined): string {
  if (f === undefined) return ''
  const m = fmt(f.median, f.unit)
  return f.values.length > 1 ? `${m} (${fmt(f.min, f.unit)}-${fmt(f.max, f.unit)})` : m
}

function paramText (p: Params): string {
  return Object.entries(p).map(([k, v]) => k === 'size' ? `${v} B` : `${k} ${v}`).join(', ')
}

interface Table { title: string, header: string[], rows: string[][] }

const ORDER = ['link', 'latency', 'broadcast', 'memory', 'scale', 'isolation', 'reqresp', 'priority', 'reliable', 'resolver', 'chaos', 'hostile', 'sim']

function tables (results: Results): Table[] {
  const figures = results.figures()
  const out: Table[] = []
  for (const scenario of ORDER) {
    const fs = figures.filter(f => f.scenario === scenario)
    if (fs.length === 0) continue
    const known = Object.keys(CONTENDERS)
    const contenders = [...new Set(fs.map(f => f.contender))].sort((a, b) => known.indexOf(a) - known.indexOf(b))
    const rowKeys: string[] = []
    const byRow = new Map<string, Map<string, Figure>>()
    for (const f of fs) {
      const rk = `${paramText(f.params)}|${f.metric} (${f.unit})`
      if (!byRow.has(rk)) { byRow.set(rk, new Map()); rowKeys.push(rk) }
      byRow.get(rk)!.set(f.contender, f)
    }
    out.push({
      title: scenario,
      header: ['', 'metric', ...contenders],
      rows: rowKeys.map(rk => {
        const [p, metric] = rk.split('|')
        return [p, metric, ...contenders.map(c => cell(byRow.get(rk)!.get(c)))]
      })
    })
  }
  if (results.targets.length > 0) {
    out.push({
      title: 'targets',
      header: ['target', 'measured', 'needed', ''],
      rows: results.targets.map(t => {
        const unit = t.unit ?? 'x'
        const show = (v: number): string => unit === 'x' ? fmt(v, unit) : `${fmt(v, unit)} ${unit}`
        return [t.name, show(t.value), `${t.kind === 'min' ? '>=' : '<='} ${show(t.threshold)}`, t.met ? 'met' : 'MISSED']
      })
    })
  }
  return out
}

/** Plain-text tables for the terminal. */
export function formatTable (results: Results): string {
  const lines: string[] = []
  for (const t of tables(results)) {
    const all = [t.header, ...t.rows]
    const widths = t.header.map((_, i) => Math.max(...all.map(r => (r[i] ?? '').length)))
    const line = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd()
    lines.push('', `== ${t.title}`, line(t.header), widths.map(w => '-'.repeat(w)).join('  '), ...t.rows.map(line))
  }
  for (const n of results.notes) lines.push(`note: ${n}`)
  for (const e of results.errors) lines.push(`ERROR in ${e.scenario}: ${e.error.split('\n')[0]}`)
  return lines.join('\n')
}

const METHOD = `How it is measured (benchmarks/, one concept per file):
- Every node runs in its own worker process on 127.0.0.1 (TCP + Noise + Yamux); payloads carry their send time, and one-way latency is read off the machine's shared clock.
- msgs/s is messages delivered over the time from the first send to the last delivery. Link trials of the four contenders are interleaved round by round (order alternating); a ratio is taken within a round. At 1k/s the two latency contenders run at the same time.
- This project paces itself on its own queue (\`stats().members[m].queued\` below 4,096 of its default 16,384) so that nothing is dropped; raw one-write-per-message waits for 'drain' when \`send()\` returns false; pre-packed does all per-message work before the clock starts; gossipsub awaits each \`publish()\` and yields to the event loop every 32.
- The baselines' libp2p nodes lift libp2p's inbound connection rate limit (5/s per host; on loopback every peer is one host); this project runs through \`createConsensusNet\` as a user calls it, except in the 200-peer flood, which uses its \`consensusNet()\` service on a node with the same lifted limit.
- Memory: RSS sampled every 10 ms; "live JS memory" is heap used + external after two full GCs; the control runs the same payload allocation loop with no network.
- Request/response: the requester keeps a fixed number of requests outstanding (each completion issues the next) or offers a fixed rate; a round trip runs from before the request is built until its whole response (which must carry the request's header back) is in hand. This project uses \`channel.request\` with the responder's \`maxConcurrentRequests\` raised to 128 (default 16); the raw baseline opens one stream per request (\`dialProtocol\`, write, close, read until the responder closes), with libp2p's per-connection stream limits (32 in, 64 out) raised to 1,024.
- Priority: the flood tops its queue up every millisecond to just under the 32 MiB bound (the figure "flood queued (min)" is the lowest depth seen at those checks), so it never empties and drops nothing; the 256 B messages run at 100/s after the queue has filled.
- Reliable: one pair of nodes opens two channels of the same priority, one \`{ reliable: true }\`, and sends 256 B as fast as it goes on one at a time (paced on its queue as in link), taking turns round by round with the default channel as a reference; the ratio is reliable / unreliable within a round.
- Resolver: 4 nodes each serve every key (\`produce\` sleeps a few ms, 1 KiB values); 1,000 fetches over 100 keys drawn with a seeded Zipf skew (exponent 1) are spread over the 4 nodes, 8 outstanding per node, with new keys every trial. Columns: \`net.resolver\` with default options, the same with \`hedge: false\`, and a naive \`channel.request\` per fetch to a random other member whose handler produces every request. "One member at 200 ms": that member's \`produce\` sleeps 200 ms (a different member each round); it keeps fetching, and its resolver cache answers what it already holds. Figures are summed over the nodes from \`resolver.stats()\`.
- Chaos: two nodes over TCP where every connection between them goes through a userspace proxy (\`test/fixtures/tcp-proxy.ts\`, one in front of each node); a seeded schedule of cuts (RST), holding blackholes (nothing forwarded or closed, held bytes released on heal) and dropping blackholes (bytes discarded) hits both proxies at once while 256 B messages flow at a steady rate on a reliable and an unreliable channel, with \`deadLinkTimeout\` 1 s. The receiver tracks every sequence number; "lost uncounted" is sent - delivered - the sender's counted \`dropped\`.
- Hostile: a victim with small bounds (64 KiB messages, 1 MiB send buffers, 8 tentative peers of 256 KiB), an honest member asking it 256 B requests at 200/s, and an attacker speaking the README's wire from a raw libp2p node (\`benchmarks/attacker.ts\`), each in its own process. Each round runs a trial with no attack and one under each attack, in rotating order; the attack starts 0.5 s before the honest requests. Ratios are the honest p99 (p50) under an attack over the same round's with no attack; a failed request counts at its 5 s timeout. The victim's RSS growth is its peak during the trial minus its RSS after GC before it, held against the worst-case bound its options give (\`test/hostile/scene.ts\`).
- "event-loop delay" (\`monitorEventLoopDelay\`, 1 ms resolution) and "GC pause" (\`PerformanceObserver\` 'gc' entries) are recorded in each process over a trial: time a message waits for a busy event loop or a GC pause is not spent in the library's queues, and no priority can shorten it.`

/** Contender names as docs/performance.md reads them. */
function legend (): string {
  return Object.entries(CONTENDERS).map(([k, v]) => `- \`${k}\`: ${v}`).join('\n')
}

export function formatMarkdown (results: Results, info: RunInfo, mach: Record<string, unknown>): string {
  const lines: string[] = []
  const versions = mach.versions as Record<string, string>
  lines.push(`Measured with \`npm run bench${info.profile === 'full' ? ' -- --full' : ''}\` (${info.profile} profile, ${info.seconds.toFixed(0)} s) on ${String(mach.cpu)}, ${String(mach.cores)} cores, ${String(mach.memoryGiB)} GiB, Node ${String(mach.node)}; ` +
    Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ') + '.', '')
  lines.push('Cells: median over repeats (min-max when repeated). Contenders:', legend(), '', METHOD, '')
  for (const t of tables(results)) {
    lines.push(`### ${t.title}`, '', `| ${t.header.join(' | ')} |`, `|${t.header.map(() => '---').join('|')}|`)
    for (const r of t.rows) lines.push(`| ${r.join(' | ')} |`)
    lines.push('')
  }
  for (const n of results.notes) lines.push(`- note: ${n}`)
  for (const e of results.errors) lines.push(`- error in ${e.scenario}: ${e.error.split('\n')[0]}`)
  return lines.join('\n') + '\n'
}

const COLORS: Record<string, string> = {
  'consensus-net': '#1f77b4',
  'unreliable channel': '#1f77b4',
  'reliable channel': '#17becf',
  'default channel (net.send)': '#aec7e8',
  resolver: '#1f77b4',
  'resolver, hedge: false': '#17becf',
  'naive: request per fetch': '#ff7f0e',
  'raw-per-message': '#ff7f0e',
  'raw-packed': '#2ca02c',
  'raw-stream-per-request': '#8c564b',
  gossipsub: '#d62728',
  'gossipsub-nosign': '#9467bd'
}

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

interface Bar { label: string, value: number, color: string, text: string }
interface Group { label: string, bars: Bar[] }

/** One log-scale horizontal bar panel; returns its SVG and height. */
function panel (title: string, unit: string, groups: Group[], y0: number, width: number): { svg: string, height: number } {
  const barH = 14
  const labelW = 150
  const textW = 250
  const plotW = width - labelW - textW
  const values = groups.flatMap(g => g.bars.map(b => b.value)).filter(v => v > 0)
  if (values.length === 0) return { svg: '', height: 0 }
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)))
  const x = (v: number): number => labelW + plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))
  const parts: string[] = [`<text x="10" y="${y0 + 16}" font-size="14" font-weight="bold">${esc(title)}</text>`]
  let y = y0 + 26
  const top = y
  for (const g of groups) {
    parts.push(`<text x="10" y="${y + barH - 3}" font-size="11" font-weight="bold">${esc(g.label)}</text>`)
    y += barH
    for (const b of g.bars) {
      parts.push(`<text x="${labelW - 6}" y="${y + barH - 3}" font-size="10" text-anchor="end">${esc(b.label)}</text>`)
      parts.push(`<rect x="${labelW}" y="${y}" width="${Math.max(1, x(b.value) - labelW).toFixed(1)}" height="${barH - 2}" fill="${b.color}"/>`)
      parts.push(`<text x="${(x(b.value) + 4).toFixed(1)}" y="${y + barH - 3}" font-size="10">${esc(b.text)}</text>`)
      y += barH
    }
    y += 6
  }
  for (let d = lo; d <= hi; d *= 10) {
    const xx = x(d).toFixed(1)
    parts.push(`<line x1="${xx}" y1="${top}" x2="${xx}" y2="${y}" stroke="#ccc" stroke-dasharray="2,2"/>`)
    parts.push(`<text x="${xx}" y="${y + 10}" font-size="9" text-anchor="middle" fill="#666">${esc(fmt(d, unit))}</text>`)
  }
  parts.push(`<text x="${labelW}" y="${y + 22}" font-size="9" fill="#666">${esc(unit)}, log scale</text>`)
  return { svg: parts.join('\n'), height: y + 26 - y0 }
}

export function formatSvg (results: Results, info: RunInfo): string {
  const known = Object.keys(CONTENDERS)
  const figures = results.figures().sort((a, b) => known.indexOf(a.contender) - known.indexOf(b.contender))
  const width = 860
  const pick = (scenario: string, metric: string): Figure[] => figures.filter(f => f.scenario === scenario && f.metric === metric)
  const groupBy = (fs: Figure[], label: (f: Figure) => string, text: (f: Figure) => string = f => fmt(f.median, f.unit)): Group[] => {
    const groups = new Map<string, Group>()
    for (const f of fs) {
      const l = label(f)
      if (!groups.has(l)) groups.set(l, { label: l, bars: [] })
      groups.get(l)!.bars.push({ label: f.contender, value: f.median, color: COLORS[f.contender] ?? '#777', text: text(f) })
    }
    return [...groups.values()]
  }
  const throughput: Group[] = [
    ...groupBy(pick('link', 'msgs/s'), f => `link, one sender to one receiver, ${f.params.size} B`),
    ...groupBy(pick('broadcast', 'msgs/s'), f => `broadcast, N = ${f.params.nodes}, all nodes sending 256 B`),
    ...groupBy(pick('isolation', 'msgs/s'), f => `isolation, to 3 healthy members, ${f.params.run}`),
    ...groupBy(pick('reqresp', 'req/s').filter(f => !String(f.params.load).endsWith('/s')), f => `request/response, 256 B, ${f.params.load} (requests/s)`),
    ...groupBy(pick('reliable', 'msgs/s'), () => 'reliable vs unreliable channel, one sender to one receiver, 256 B'),
    ...groupBy(pick('chaos', 'msgs/s during faults'), () => 'chaos: delivered while the link is cut and blackholed')
  ]
  const latencyGroups: Group[] = []
  const latencyLabel = (scenario: string, f: Figure): string => {
    switch (scenario) {
      case 'latency': return `latency, 1 sender, 256 B at ${f.params.load}`
      case 'broadcast': return `broadcast, N = ${f.params.nodes}, ${f.params.rate}/s cluster-wide`
      case 'reqresp': return `request/response round trip, 256 B, ${f.params.load}`
      default: return 'priority-0, 256 B at 100/s, under a 32 MiB flood'
    }
  }
  for (const scenario of ['latency', 'broadcast', 'reqresp', 'priority']) {
    const p99 = pick(scenario, 'p99')
    for (const f of p99) {
      const same = (m: string): Figure | undefined => figures.find(g => g.scenario === scenario && g.metric === m && g.contender === f.contender && paramText(g.params) === paramText(f.params))
      const label = latencyLabel(scenario, f)
      let g = latencyGroups.find(x => x.label === label)
      if (g === undefined) { g = { label, bars: [] }; latencyGroups.push(g) }
      const p50 = same('p50')
      const max = same('max')
      g.bars.push({
        label: scenario === 'priority' ? String(f.params.case).split(' (')[0] : f.contender,
        value: f.median,
        color: COLORS[f.contender] ?? '#777',
        text: `p99 ${fmt(f.median, 'ms')} ms (p50 ${p50 === undefined ? '-' : fmt(p50.median, 'ms')}, max ${max === undefined ? '-' : fmt(max.median, 'ms')})`
      })
    }
  }
  for (const f of pick('resolver', 'fetch p99')) {
    const label = `resolver fetch, 1,000 over 100 Zipf keys, ${f.params.case}`
    let g = latencyGroups.find(x => x.label === label)
    if (g === undefined) { g = { label, bars: [] }; latencyGroups.push(g) }
    const p50 = figures.find(x => x.scenario === 'resolver' && x.metric === 'fetch p50' && x.contender === f.contender && x.params.case === f.params.case)
    g.bars.push({ label: f.contender, value: f.median, color: COLORS[f.contender] ?? '#777', text: `p99 ${fmt(f.median, 'ms')} ms (p50 ${p50 === undefined ? '-' : fmt(p50.median, 'ms')})` })
  }
  const a = panel('Delivered messages/s; requests/s for request/response (higher is better)', 'msg/s', throughput, 30, width)
  const b = panel('Latency p99, ms: one-way; round trip for request/response (lower is better)', 'ms', latencyGroups, 30 + a.height + 10, width)
  const height = 30 + a.height + 10 + b.height + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="18" font-size="12" fill="#444">consensus-net benchmarks, ${esc(info.profile)} profile (npm run bench${info.profile === 'full' ? ' -- --full' : ''})</text>`,
    a.svg,
    b.svg,
    '</svg>'
  ].join('\n') + '\n'
}

export async function writeReports (dir: string, base: string, results: Results, info: RunInfo): Promise<{ files: string[] }> {
  mkdirSync(dir, { recursive: true })
  const mach = machine()
  const json = {
    generatedAt: new Date().toISOString(),
    run: info,
    machine: mach,
    contenders: CONTENDERS,
    figures: results.figures(),
    targets: results.targets,
    notes: results.notes,
    errors: results.errors
  }
  const files = [join(dir, `${base}.json`), join(dir, `${base}.md`), join(dir, `${base}.svg`)]
  writeFileSync(files[0], JSON.stringify(json, null, 2) + '\n')
  writeFileSync(files[1], formatMarkdown(results, info, mach))
  writeFileSync(files[2], formatSvg(results, info))
  return { files }
}
