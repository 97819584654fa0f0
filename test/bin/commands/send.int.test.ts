import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { AMQP_URL, deleteTopology } from '../../fixtures/amqp-broker.js'
import { waitFor } from '../../helpers/wait.js'
import type { Run } from '../run.js'
import { run } from '../run.js'

const TALLY = 'test/fixtures/cli-tally/service.ts'

/** `stoa serve` in process: its first address, what it printed on stdout so far, and a stop. */
async function serve(argv: string[]): Promise<{ url: string; err(): string; stop(): Promise<Run> }> {
  const stop = new AbortController()
  let out = ''
  let err = ''
  const done = run(['serve', ...argv], {
    stop: stop.signal,
    onStdout: (s) => (out += s),
    onStderr: (s) => (err += s),
  })
  let ended: Run | undefined
  void done.then((r) => (ended = r))
  await waitFor(() => ended !== undefined || out.includes(' listening on '), 'serve to listen', 30_000)
  if (ended !== undefined) throw new Error(`serve ended early with ${ended.code}: ${ended.stderr}`)
  const line = out.split('\n').find((l) => l.includes(' listening on '))!
  return {
    url: line.slice(line.indexOf(' listening on ') + ' listening on '.length),
    err: () => err,
    stop: () => {
      stop.abort('SIGTERM')
      return done
    },
  }
}

/** The 'task seen' and 'event seen' entries of the served service's log. */
function seen(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(' seen"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('bin/commands/act: stoa send and stoa emit --url', () => {
  it('sends a task and emits an event over --http to a served service', async () => {
    const served = await serve([TALLY, '--http', '127.0.0.1:0'])
    let ended: Run | undefined
    try {
      const sent = await run(['send', '--url', served.url, 'tally.vote.record', 'voter=v1', 'choice=a'])
      expect(sent).to.deep.equal({ code: 0, stdout: '{"task":"tally.vote.record","accepted":true}\n', stderr: '' })
      const emitted = await run(['emit', '--url', served.url, 'vote.recorded', 'voter=v2'])
      expect(emitted.code, emitted.stderr).to.equal(0)
    } finally {
      ended = await served.stop()
    }
    const entries = seen(ended.stderr)
    expect(entries.map((e) => [e.msg, e.seen])).to.deep.include.members([
      ['task seen', { voter: 'v1', choice: 'a' }],
      ['event seen', { voter: 'v2' }],
    ])
  })

  describe('over AMQP', () => {
    const prefix = `fh-${randomBytes(4).toString('hex')}`
    after(() => deleteTopology(prefix, ['tally', 'cli']))

    it('sends a task through RabbitMQ with no --service: the task names its queue', async () => {
      const served = await serve([TALLY, '--amqp', `${AMQP_URL}?prefix=${prefix}`])
      // The listening line names the prefix, and stoa send takes that URL as it is.
      expect(served.url).to.equal(`${AMQP_URL}?prefix=${prefix}`)
      let ended: Run | undefined
      try {
        const sent = await run(['send', '--url', served.url, 'tally.vote.record', 'voter=v3', 'choice=b'])
        expect(sent).to.deep.equal({ code: 0, stdout: '{"task":"tally.vote.record","accepted":true}\n', stderr: '' })
        const e = await run(['emit', '--url', served.url, 'vote.recorded', 'voter=v4'])
        expect(e.code, e.stderr).to.equal(0)
        await waitFor(() => seen(served.err()).length === 2, 'the task and the event to arrive', 30_000)
      } finally {
        ended = await served.stop()
      }
      expect(ended.code).to.equal(0)
      expect(seen(ended.stderr).map((e) => [e.msg, e.seen, e.task ?? e.event])).to.deep.include.members([
        ['task seen', { voter: 'v3', choice: 'b' }, 'tally.vote.record'],
        ['event seen', { voter: 'v4' }, 'vote.recorded'],
      ])
    })
  })
})
