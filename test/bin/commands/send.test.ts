import { expect } from 'chai'
import { run } from '../run.js'

const TALLY = 'test/fixtures/cli-tally/service.ts'

/** The service's log lines on stderr (--verbose), parsed. */
function logged(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('bin/commands/act: stoa send and stoa emit (in process)', () => {
  it('sends a task to the module’s handler, which gets the data as sent and the name in ctx.task', async () => {
    const r = await run(['send', TALLY, 'tally.vote.record', 'voter=v1', 'choice=a', '--verbose'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.equal('{"task":"tally.vote.record","accepted":true}\n')
    const seen = logged(r.stderr).find((e) => e.msg === 'task seen')
    expect(seen).to.deep.include({ seen: { voter: 'v1', choice: 'a' }, task: 'tally.vote.record' })
  })

  it('keeps key=value as text where the handler’s schema wants text: zip=12345 stays "12345"', async () => {
    const r = await run(['send', TALLY, 'tally.vote.record', 'voter=42', 'choice=true', 'zip=12345', '--verbose'])
    expect(r.code, r.stderr).to.equal(0)
    const seen = logged(r.stderr).find((e) => e.msg === 'task seen')
    expect(seen).to.deep.include({ seen: { voter: '42', choice: 'true', zip: '12345' } })
  })

  it('fails as the task handler fails, with its code and exit 1', async () => {
    const r = await run(['send', TALLY, 'tally.vote.record', 'voter=v1', 'choice=fail'])
    expect(r).to.deep.equal({ code: 1, stdout: '', stderr: 'INVALID_MESSAGE: this choice is refused\n' })
  })

  it('refuses a task no handler takes with NOT_FOUND, and a malformed name with INVALID_NAME', async () => {
    const missing = await run(['send', TALLY, 'tally.vote.erase'])
    expect(missing).to.deep.include({ code: 1, stdout: '' })
    expect(missing.stderr).to.match(/^NOT_FOUND: no handler for task "tally\.vote\.erase"\n$/)
    const bad = await run(['send', TALLY, 'Tally'])
    expect(bad.code).to.equal(1)
    expect(bad.stderr).to.match(/^INVALID_NAME: /)
  })

  it('emits an event to the module’s subscribers, which get the data and the name in ctx.event', async () => {
    const r = await run(['emit', TALLY, 'vote.recorded', 'voter=v2', '--verbose'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.equal('{"event":"vote.recorded","accepted":true}\n')
    const seen = logged(r.stderr).find((e) => e.msg === 'event seen')
    expect(seen).to.deep.include({ seen: { voter: 'v2' }, event: 'vote.recorded' })
  })

  it('says what is missing on a short command line, exit 2', async () => {
    const r = await run(['send', TALLY])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/^stoa send: missing <task>, like tally\.vote\.record\n/)
    const e = await run(['emit'])
    expect(e.code).to.equal(2)
    expect(e.stderr).to.match(/^stoa emit: missing <service>/)
  })
})
