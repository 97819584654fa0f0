import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { run } from '../run.js'

const SERVICE = 'test/fixtures/postgres/migrate-service.ts'

describe('stoa migrate', function () {
  this.timeout(60_000)
  let dir: string
  let steps: string
  const saved = { data: process.env.ST_DATA_DIR, steps: process.env.ST_MIGRATIONS }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'st-migrate-'))
    steps = mkdtempSync(join(dir, 'migrations-'))
    writeFileSync(join(steps, '001_votes.sql'), 'CREATE TABLE votes (voter text PRIMARY KEY);')
    writeFileSync(join(steps, '002_choice.sql'), 'ALTER TABLE votes ADD COLUMN choice text;')
    process.env.ST_DATA_DIR = join(dir, 'data')
    process.env.ST_MIGRATIONS = steps
  })
  after(() => {
    process.env.ST_DATA_DIR = saved.data
    process.env.ST_MIGRATIONS = saved.steps
    if (saved.data === undefined) delete process.env.ST_DATA_DIR
    if (saved.steps === undefined) delete process.env.ST_MIGRATIONS
    rmSync(dir, { recursive: true, force: true })
  })

  it('status shows the pending steps without applying them; up applies them; status then shows them applied', async () => {
    const before = await run(['migrate', SERVICE, 'status'])
    expect(before.code, before.stderr).to.equal(0)
    const pending = JSON.parse(before.stdout)
    expect(pending).to.include({ current: 0, known: 2 })
    expect(pending.pending.map((p: { name: string }) => p.name)).to.deep.equal(['votes', 'choice'])
    const up = await run(['migrate', SERVICE, 'up'])
    expect(up.code, up.stderr).to.equal(0)
    expect(JSON.parse(up.stdout)).to.deep.equal({ applied: [1, 2] })
    const again = await run(['migrate', SERVICE, 'up'])
    expect(JSON.parse(again.stdout)).to.deep.equal({ applied: [] })
    const after = JSON.parse((await run(['migrate', SERVICE, 'status'])).stdout)
    expect(after).to.include({ current: 2, known: 2 })
    expect(after.pending).to.deep.equal([])
  })

  it('status exits 1 naming an edited step; up refuses with SCHEMA_MISMATCH', async () => {
    writeFileSync(join(steps, '002_choice.sql'), 'ALTER TABLE votes ADD COLUMN choice text NOT NULL;')
    const status = await run(['migrate', SERVICE, 'status'])
    expect(status.code).to.equal(1)
    expect(status.stderr).to.match(/SCHEMA_MISMATCH: migration 2 \(choice\) was edited/)
    const up = await run(['migrate', SERVICE, 'up'])
    expect(up.code).to.equal(1)
    expect(up.stderr).to.match(/^SCHEMA_MISMATCH: /)
  })

  it('wants a step: status or up', async () => {
    const r = await run(['migrate', SERVICE, 'down'])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.match(/status or up/)
  })
})
