import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

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

/** The repository files a source file imports, as paths from the root (`actions/index.js`). */
function localTargets(file: string): string[] {
  return imports(file)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(root, join(root, file, '..', spec)))
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

  it('lets plugins, transports, the CLI and examples reach the kernel only through its two entry points', () => {
    const entries = [join('actions', 'index.js'), join('actions', 'transport.js')]
    for (const file of [...sources('plugins'), ...sources('transports'), ...sources('bin'), ...sources('examples')]) {
      for (const target of localTargets(file)) {
        if (target.startsWith('actions')) expect(entries, `${file} imports ${target}`).to.include(target)
      }
    }
  })

  it("lets examples use the application entry point only, not the transport authors' one", () => {
    for (const file of sources('examples')) {
      for (const target of localTargets(file)) {
        if (target.startsWith('actions'))
          expect(target, `${file} imports ${target}`).to.equal(join('actions', 'index.js'))
      }
    }
  })

  it('reaches a plugin or a transport from outside its folder only through its index', () => {
    for (const file of [
      ...sources('actions'),
      ...sources('plugins'),
      ...sources('transports'),
      ...sources('bin'),
      ...sources('examples'),
    ]) {
      for (const target of localTargets(file)) {
        const m = /^(plugins|transports)\/([^/]+)\//.exec(target)
        if (m === null || file.startsWith(`${m[1]}/${m[2]}/`)) continue
        expect(target, `${file} imports ${target}`).to.equal(`${m[1]}/${m[2]}/index.js`)
      }
    }
  })

  it('keeps transports and plugins apart, but for the public entries named here', () => {
    // The Lambda transport serves API Gateway events through the web plugin's route table.
    const allowed = new Set(['transports/lambda -> plugins/web/index.js'])
    for (const [from, other] of [
      ['transports', 'plugins'],
      ['plugins', 'transports'],
    ] as const) {
      for (const file of sources(from)) {
        const folder = file.split('/').slice(0, 2).join('/')
        for (const target of localTargets(file)) {
          if (target.startsWith(`${other}/`))
            expect(allowed.has(`${folder} -> ${target}`), `${file} imports ${target}`).to.equal(true)
        }
      }
    }
  })

  it('has no import cycle in the kernel', () => {
    const graph = new Map<string, string[]>()
    for (const file of sources('actions'))
      graph.set(
        file.replace(/\.ts$/, '.js'),
        localTargets(file).filter((t) => t.startsWith('actions/')),
      )
    const done = new Set<string>()
    const visit = (node: string, path: string[]): void => {
      const at = path.indexOf(node)
      expect(at, `import cycle: ${[...path.slice(at), node].join(' -> ')}`).to.equal(-1)
      if (done.has(node)) return
      for (const next of graph.get(node) ?? []) visit(next, [...path, node])
      done.add(node)
    }
    for (const node of graph.keys()) visit(node, [])
  })

  it('keeps the kernel dependencies to a short list', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    const kernelImports = new Set(
      sources('actions')
        .flatMap(imports)
        .filter((s) => !s.startsWith('.') && !s.startsWith('node:')),
    )
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

  it('reaches the Seneca layer from outside actions/seneca/ only through its index', () => {
    for (const file of [...sources('actions'), ...sources('plugins'), ...sources('transports'), ...sources('bin')]) {
      if (file.startsWith('actions/seneca/')) continue
      for (const target of localTargets(file)) {
        if (target.startsWith('actions/seneca/'))
          expect(target, `${file} imports ${target}`).to.equal('actions/seneca/index.js')
      }
    }
    expect(sources(join('actions', 'seneca')), 'the Seneca layer has its own folder').to.include(
      join('actions', 'seneca', 'index.ts'),
    )
    expect(
      sources('actions').filter((f) => /^actions\/seneca[^/]*\.ts$/.test(f)),
      'no Seneca file left beside the kernel',
    ).to.deep.equal([])
  })

  it('keeps the Seneca layer off the kernel class: it sees an instance through its public API', () => {
    for (const file of sources(join('actions', 'seneca'))) {
      for (const target of localTargets(file))
        expect(target, `${file} imports ${target}`).not.to.equal('actions/kernel.js')
    }
  })
})
