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
  // TSDoc examples show imports too (`loadPeer<typeof import('amqplib')>`): only code counts.
  const text = readFileSync(join(root, file), 'utf8').replace(/\/\*\*[\s\S]*?\*\//g, '')
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

  it('keeps transports and plugins apart', () => {
    for (const [from, other] of [
      ['transports', 'plugins'],
      ['plugins', 'transports'],
    ] as const) {
      for (const file of sources(from)) {
        for (const target of localTargets(file))
          expect(target.startsWith(`${other}/`), `${file} imports ${target}`).to.equal(false)
      }
    }
  })

  it('lets Lambda, health and metrics reach the web pipeline and the HTTP kit through stoa/transport only', () => {
    // What they share with the web plugin is the HTTP section of the extension kit
    // (actions/http/, exported by actions/transport.ts): never the web plugin's door or files.
    const users = [...sources('transports'), ...sources('plugins').filter((f) => !f.startsWith('plugins/web/'))]
    for (const file of users) {
      for (const target of localTargets(file)) {
        expect(target.startsWith('plugins/web/'), `${file} imports ${target}`).to.equal(false)
        if (target.startsWith('actions/http/')) expect.fail(`${file} imports ${target}: use actions/transport.js`)
      }
    }
  })

  it('gives the HTTP kit nothing of the web plugin: it is the kernel side of the door', () => {
    for (const file of sources(join('actions', 'http'))) {
      for (const spec of imports(file)) expect(spec, `${file} imports ${spec}`).not.to.match(/plugins|express/)
    }
  })

  it('keeps express out of every module load: stoa/web loads it through loadPeer when a server needs it', () => {
    for (const file of [...sources('plugins'), ...sources('actions'), ...sources('transports')]) {
      const text = readFileSync(join(root, file), 'utf8')
      expect(text, file).not.to.match(/^import\s+(?!type\b)[^\n]*from\s+'express'/m)
      expect(text, file).not.to.match(/(?<!typeof )import\(\s*'express'\s*\)/)
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
})
