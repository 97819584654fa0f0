import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { waitFor } from '../../helpers/wait.js'
import { exited, start } from '../spawn.js'

/** A Seneca-style service whose answer lives in a module of its own, which the test edits. */
const SERVICE = `import { answer } from './answer.ts'

export default function watched() {
  this.add('role:watched,cmd:get', (_msg, reply) => reply(null, { answer }))
}
`

describe('stoa serve --watch (spawned)', function () {
  this.timeout(60_000)
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'first_watch-'))
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
    writeFileSync(join(dir, 'service.ts'), SERVICE)
    writeFileSync(join(dir, 'answer.ts'), 'export const answer = 1\n')
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('starts the service again when a file it imports changes, and stops on SIGTERM', async () => {
    const child = start(['serve', join(dir, 'service.ts'), '--http', '127.0.0.1:0', '--watch'])
    const done = exited(child, 60_000)
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const urls = () => [...out.matchAll(/watched listening on (\S+)/g)].map((m) => m[1]!)
    const ask = async (url: string) => {
      const res = await fetch(`${url}/act`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"role":"watched","cmd":"get"}',
      })
      return res.json()
    }
    try {
      await waitFor(() => urls().length === 1, 'the first start', 30_000)
      expect(await ask(urls()[0]!)).to.deep.equal({ answer: 1 })
      writeFileSync(join(dir, 'answer.ts'), 'export const answer = 2\n')
      await waitFor(() => urls().length === 2, 'the start after the edit', 30_000)
      expect(await ask(urls()[1]!)).to.deep.equal({ answer: 2 })
    } finally {
      child.kill('SIGTERM')
    }
    const end = await done
    expect(end.code).to.equal(0)
    // The first one was closed gracefully before the second started, and the last on SIGTERM.
    expect(end.stderr.match(/watched closing on SIGTERM/g)).to.have.length(2)
    expect(
      await fetch(`${urls()[1]}/act`).then(
        () => 'answered',
        () => 'gone',
      ),
    ).to.equal('gone')
  })
})
