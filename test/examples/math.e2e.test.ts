import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect } from 'chai'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('examples/math: the smaller demo, as `npm run start:math` runs it', function () {
  this.timeout(20000)

  it('runs the services in process and prints what they did', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['dist/examples/math/main.js'], {
      cwd: root,
    })
    expect(stdout).to.include('sum 1 + 2            -> {"answer":3}')
    expect(stdout).to.include('integer sum 1.5+2.25 -> {"answer":3}')
    expect(stdout).to.include('product 3 * 0.5      -> {"answer":1.5}')
    expect(stdout).to.match(/sum 'one' \+ 2 +-> INVALID_MESSAGE: /)
    expect(stdout).to.match(/divide +-> NOT_FOUND: /)
    expect(stdout).to.include('audit heard          -> product.computed [1.5]')
    expect(stderr).to.equal('')
  })
})
