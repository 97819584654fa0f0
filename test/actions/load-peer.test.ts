import { expect } from 'chai'
import { loadPeer, StoaError } from '../../actions/transport.js'

describe('loadPeer', () => {
  it('imports an installed package', async () => {
    const mod = await loadPeer<typeof import('zod')>('zod', 'stoa')
    expect(mod.z.string).to.be.a('function')
  })

  it('refuses a missing package with INVALID_PLUGIN naming it and how to install it', async () => {
    const err = await loadPeer('stoa-no-such-package', 'stoa/example').catch((e: unknown) => e)
    expect(err).to.be.instanceOf(StoaError)
    const e = err as StoaError
    expect(e.code).to.equal('INVALID_PLUGIN')
    expect(e.message).to.contain('stoa/example').and.contain('npm install stoa-no-such-package')
    expect(e.details).to.deep.equal({ package: 'stoa-no-such-package', entry: 'stoa/example' })
  })

  it('names the package, not the subpath, when a subpath of a missing package is asked for', async () => {
    for (const [specifier, pkg] of [
      ['stoa-no-such-package/esm/api', 'stoa-no-such-package'],
      ['@stoa-no-such-scope/pkg/sub', '@stoa-no-such-scope/pkg'],
    ]) {
      const err = await loadPeer(specifier!, 'the stoa command').catch((e: unknown) => e)
      expect(err, specifier).to.be.instanceOf(StoaError)
      expect((err as StoaError).message)
        .to.contain(`npm install ${pkg}`)
        .and.not.contain(specifier!)
      expect((err as StoaError).details).to.deep.equal({ package: pkg, entry: 'the stoa command' })
    }
  })
})
