/**
 * A simulated stream's end is final: a stream aborted by a listener of the remote's FIN ('end',
 * 'remoteCloseWrite') stays aborted and closes once; it does not go on to close gracefully. (The
 * Receiver aborts on 'end' a stream whose writer ended it inside a frame.)
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { accepted, bytes, open, probes, watch } from './helpers.ts'

describe('a simulated stream aborted as it ends', () => {
  for (const event of ['end', 'remoteCloseWrite'] as const) {
    it(`an abort from a '${event}' listener is the stream's one end: status aborted, one close`, async () => {
      const sim = probes({ nodes: 2, seed: 1, link: { latency: 10 } })
      const stream = await open(sim, 'n0', 'n1')
      const remote = accepted(sim, 'n1')
      const log = watch(remote, sim.clock.now)
      remote.addEventListener(event, () => { remote.abort(new Error('ended inside a frame')) })
      stream.send(bytes(3))
      void stream.close()
      await sim.run({ for: 100 })
      assert.equal(remote.status, 'aborted')
      assert.deepEqual(log.filter(e => / close/.test(e)).length, 1, log.join(', '))
      assert.equal(stream.status, 'reset', 'the writer sees the reset')
    })
  }
})
