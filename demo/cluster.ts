/**
 * `npm run demo`: a local cluster on 127.0.0.1 showing the design at work, one process per node.
 *  1. four members (a-d) broadcast to each other;
 *  2. e starts broadcasting before it is a member: a-d hold its messages tentatively;
 *  3. a membership update admits e: its held messages arrive, in order, from its first;
 *  4. c is killed (SIGKILL) and restarted on the same key and port: the others reconnect.
 * It prints a live view per node and exits by itself: 0 if every step happened, 1 if not.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { ConsensusNetStats } from '../src/index.ts'

const NODE = new URL('./node.ts', import.meta.url).pathname
const NAMES = ['a', 'b', 'c', 'd', 'e']
const STEP_TIMEOUT = 20_000
const tty = process.stdout.isTTY === true

interface Report { stats: ConsensusNetStats, seen: Record<string, { count: number, first: number, inOrder: boolean }> }
interface Node { name: string, key: string, port: number, child?: ChildProcess, addrs: string[], report?: Report }

const nodes: Node[] = []
const results: Array<[string, boolean]> = []

async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => { resolve(port) })
    })
  })
}

async function start (node: Node): Promise<void> {
  const child = fork(NODE, [node.name, node.key, String(node.port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  node.child = child
  node.report = undefined
  child.on('message', (m: any) => { if (m.type === 'stats') node.report = m })
  const [ready] = await once(child, 'message') as [{ addrs: string[] }]
  node.addrs = ready.addrs
}

function membership (names: string[]): Record<string, string[]> {
  return Object.fromEntries(nodes.filter(n => names.includes(n.name)).map(n => [n.name, n.addrs]))
}

async function connect (node: Node, names: string[]): Promise<void> {
  const done = new Promise<void>(resolve => {
    const on = (m: any): void => { if (m.type === 'connected') { node.child!.off('message', on); resolve() } }
    node.child!.on('message', on)
  })
  node.child!.send({ type: 'connect', membership: membership(names) })
  await done
}

/** Redraws the live view until `cond` holds (true) or the step times out (false). */
async function step (title: string, cond: () => boolean): Promise<boolean> {
  if (!tty) console.log(`\n== ${title}`)
  const deadline = Date.now() + STEP_TIMEOUT
  let lines = 0
  for (;;) {
    const ok = cond()
    if (tty) {
      if (lines > 0) process.stdout.write(`\x1b[${lines}A\x1b[J`)
      const view = [`== ${title}`, ...table()]
      process.stdout.write(view.join('\n') + '\n')
      lines = view.length
    }
    if (ok || Date.now() > deadline) {
      if (!tty) console.log(table().join('\n'))
      console.log(ok ? '   ✔ done' : '   ✖ did not happen in time')
      results.push([title, ok])
      return ok
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

function table (): string[] {
  const rows = ['node  up  sent     recv     dropped  tentative(held/dropped)  connected to']
  for (const n of nodes) {
    const r = n.report
    const alive = n.child != null && n.child.exitCode == null && n.child.signalCode == null
    if (!alive || r == null) { rows.push(`${n.name.padEnd(4)} ${alive ? 'yes' : 'no '} (starting or down)`); continue }
    const ms = Object.entries(r.stats.members).filter(([name]) => name !== n.name)
    const sum = (f: (m: ConsensusNetStats['members'][string]) => number): number => ms.reduce((x, [, m]) => x + f(m), 0)
    const t = r.stats.tentative
    rows.push([
      n.name.padEnd(4), 'yes',
      String(sum(m => m.sent)).padEnd(8), String(sum(m => m.received)).padEnd(8), String(sum(m => m.dropped)).padEnd(8),
      `${t.buffered}/${t.dropped}`.padEnd(23), ms.filter(([, m]) => m.connected).map(([name]) => name).join(',')
    ].join(' '))
  }
  return rows
}

const everyone = (names: string[], f: (r: Report, n: Node) => boolean): boolean =>
  nodes.filter(n => names.includes(n.name)).every(n => n.report != null && f(n.report, n))
const connectedTo = (r: Report, names: string[], self: string): boolean =>
  names.filter(x => x !== self).every(x => r.stats.members[x]?.connected === true)

async function main (): Promise<void> {
  for (const name of NAMES) {
    const key = Buffer.from(privateKeyToProtobuf(await generateKeyPair('Ed25519'))).toString('hex')
    nodes.push({ name, key, port: await freePort(), addrs: [] })
  }
  await Promise.all(nodes.map(start))
  const [a, b, c, d, e] = nodes
  const abcd = ['a', 'b', 'c', 'd']
  const all = NAMES

  await Promise.all([a, b, c, d].map(async n => connect(n, abcd)))
  for (const n of [a, b, c, d]) n.child!.send({ type: 'broadcast' })
  await step('1. four members broadcast to each other', () =>
    everyone(abcd, (r, n) => connectedTo(r, abcd, n.name) && abcd.every(x => x === n.name || (r.seen[x]?.count ?? 0) >= 25)))

  await connect(e, all)
  e.child!.send({ type: 'broadcast' })
  await step('2. e broadcasts before it is a member: a-d hold its messages', () =>
    everyone(abcd, r => r.stats.tentative.receivers === 1 && r.stats.tentative.buffered >= 10 && r.seen.e == null))

  await Promise.all([a, b, c, d].map(async n => connect(n, all)))
  await step('3. a membership update admits e: its held messages arrive, in order, from the first', () =>
    everyone(abcd, r => r.stats.tentative.promoted === 1 && r.seen.e?.first === 0 && r.seen.e.inOrder && r.seen.e.count >= 25))

  c.child!.kill('SIGKILL')
  await once(c.child!, 'exit')
  const others = ['a', 'b', 'd', 'e']
  await step('4a. c is killed: the others notice', () =>
    everyone(others, r => r.stats.members.c?.connected === false))
  const before = Object.fromEntries(others.map(x => [x, nodes.find(n => n.name === x)!.report!.stats.members.c.reconnects]))
  await start(c)
  await connect(c, all)
  c.child!.send({ type: 'broadcast' })
  await step('4b. c restarts on the same key and port: the others reconnect by themselves', () =>
    everyone(others, (r, n) => r.stats.members.c.connected && r.stats.members.c.reconnects > before[n.name]) &&
    everyone(['c'], r => connectedTo(r, all, 'c') && others.every(x => (r.seen[x]?.count ?? 0) >= 10)))
}

async function shutdown (): Promise<void> {
  await Promise.all(nodes.map(async n => {
    const child = n.child
    if (child == null || child.exitCode != null || child.signalCode != null) return
    const exited = once(child, 'exit')
    child.send({ type: 'stop' })
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }))
}

process.on('SIGINT', () => { for (const n of nodes) n.child?.kill('SIGKILL'); process.exit(130) })
let failed = false
try {
  await main()
} catch (err) {
  console.error(err)
  failed = true
} finally {
  await shutdown()
}
console.log('\nSummary')
for (const [title, ok] of results) console.log(`  ${ok ? '✔' : '✖'} ${title}`)
failed ||= results.length !== 5 || results.some(([, ok]) => !ok)
console.log(failed ? '\nSomething did not happen as shown.' : '\nEverything happened as shown.')
process.exitCode = failed ? 1 : 0
