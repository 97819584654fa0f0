import { execFileSync } from 'node:child_process'
import { expect } from 'chai'
import { root } from '../bench/install/kit.js'

describe('package: what npm pack publishes', function () {
  this.timeout(60_000)
  let files: string[]

  before(() => {
    // What `npm pack` would put in the tarball (dist/ is built by `npm run test:e2e`).
    const out = execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
  })

  it('ships the docs the README links to, so its relative links resolve in the package', () => {
    expect(files).to.include.members(['README.md', 'docs/errors.md', 'docs/wire.md', 'docs/transports.md'])
  })

  it('ships the built kernel, transports, plugins and CLI, and neither the examples nor the tests', () => {
    expect(files).to.include.members(['dist/actions/index.js', 'dist/bin/stoa.js', 'package.json'])
    expect(
      files.filter((f) => f.startsWith('dist/examples/') || f.startsWith('test/') || f.startsWith('dist/test/')),
    ).to.deep.equal([])
  })
})
