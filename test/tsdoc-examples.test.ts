import { expect } from 'chai'
import { examplesIn, examplesUnder, syntaxErrors } from './helpers/tsdoc-examples.js'

/*
 * Every export's TSDoc carries an `@example` that compiles (STYLE.md, 7). This reads every
 * `@example` block of the source tree and parses it as a TypeScript module with the compiler's
 * own parser, so an example with a stray bracket or a `...` placeholder fails here rather than
 * in a reader's editor.
 */

const DIRS = ['actions', 'plugins', 'transports', 'bin', 'examples'] as const

describe('TSDoc @example blocks', () => {
  const all = DIRS.flatMap((dir) => examplesUnder(dir))

  it('reads each block to the next tag, without the comment markers', () => {
    const text = [
      '/**',
      ' * Adds.',
      ' *',
      ' * @example',
      " * const x = add('a',",
      ' *   2)',
      ' * @param a the first',
      ' */',
      '/** @example one() */',
    ].join('\n')
    expect(examplesIn('f.ts', text)).to.deep.equal([
      { file: 'f.ts', line: 4, code: "const x = add('a',\n  2)" },
      { file: 'f.ts', line: 9, code: 'one()' },
    ])
  })

  it('tells a block that does not parse, with where', () => {
    expect(syntaxErrors("stoa.on('vote.recorded', async (msg) => { ... })")).to.have.length.greaterThan(0)
    expect(syntaxErrors(".use(jwt, { audience: 'orders' } // the key\n)")[0]).to.match(/^1:1 /)
    expect(syntaxErrors("import { x } from 'stoa'\nawait x.act('role:a')")).to.deep.equal([])
  })

  it('finds the examples of the kernel, the plugins and the transports', () => {
    for (const dir of ['actions', 'plugins', 'transports']) {
      expect(all.filter((e) => e.file.startsWith(`${dir}/`)).length, dir).to.be.greaterThan(5)
    }
  })

  for (const dir of DIRS) {
    it(`parses every @example in ${dir}/ as TypeScript`, () => {
      const bad = all
        .filter((e) => e.file.startsWith(`${dir}/`))
        .flatMap((e) => {
          if (e.code.trim() === '') return [`${e.file}:${e.line}: the example is empty`]
          return syntaxErrors(e.code).map((m) => `${e.file}:${e.line}: ${m}\n    ${e.code.split('\n').join('\n    ')}`)
        })
      expect(bad, bad.join('\n')).to.deep.equal([])
    })
  }
})
