import { expect } from 'chai'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

function sources(dir: string): string[] {
  const out: string[] = []
  let names: string[]
  try {
    names = readdirSync(join(root, dir))
  } catch {
    return out
  }
  for (const name of names) {
    const path = join(dir, name)
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path))
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!)
}

describe('architecture: the direction of imports', () => {
  it('keeps the kernel free of plugins, transports and the CLI', () => {
    for (const file of sources('actions')) {
      for (const spec of imports(file)) {
        expect(spec, `${file} imports ${spec}`).not.to.match(/(^|\/)(plugins|transports|bin)\//)
      }
    }
  })

  it('lets plugins, transports and the CLI reach the kernel only through actions/index', () => {
    for (const file of [...sources('plugins'), ...sources('transports'), ...sources('bin'), ...sources('examples')]) {
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) continue
        const target = relative(root, join(root, file, '..', spec))
        if (target.startsWith('actions')) expect(target, `${file} imports ${spec}`).to.equal(join('actions', 'index.js'))
      }
    }
  })

  it('keeps the kernel dependencies to a short list', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    const kernelImports = new Set(sources('actions').flatMap(imports).filter((s) => !s.startsWith('.') && !s.startsWith('node:')))
    for (const spec of kernelImports) expect(pkg.dependencies, `kernel imports ${spec}`).to.have.property(spec)
    expect([...kernelImports]).to.deep.equal(['@standard-schema/spec'])
  })

  it('reads process.env, process.argv and process.exit only in bin/', () => {
    for (const file of [...sources('actions'), ...sources('plugins'), ...sources('transports')]) {
      const text = readFileSync(join(root, file), 'utf8')
      expect(text, file).not.to.match(/process\.(argv|exit)\b/)
      if (!file.endsWith('options.ts')) expect(text, file).not.to.match(/process\.env\b/)
    }
  })
})
