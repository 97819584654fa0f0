import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import ts from 'typescript'

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

  it("keeps the testing kit (stoa/testing) off the project's own test helpers: users get what we use", () => {
    const files = sources(join('plugins', 'testing'))
    expect(files).to.include(join('plugins', 'testing', 'index.ts'))
    for (const file of files)
      for (const spec of imports(file)) expect(spec, `${file} imports ${spec}`).not.to.match(/(^|\/)test\//)
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
    const kernelImports = new Set(
      sources('actions')
        .flatMap(loads)
        .filter(({ spec, kind }) => !(kind === 'lazy' && OWN_LAZY_LOAD.has(spec)))
        .map(({ spec }) => packageOf(spec))
        .filter((name) => name !== undefined),
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

/** How a file reaches a module: for types only, by a static value import, lazily (`import()`, `require`), or through `loadPeer`. */
type LoadKind = 'type' | 'value' | 'lazy' | 'peer'

interface Load {
  readonly spec: string
  readonly kind: LoadKind
}

/**
 * Every module a source file reaches, read from its syntax tree (comments and `@example`
 * blocks are not code): static imports and re-exports, side-effect imports, `import()` and
 * `require()` with a literal, and `loadPeer('<pkg>', ...)` calls. `typeof import('x')` is a type.
 */
function loads(file: string): Load[] {
  const known = parsed.get(file)
  if (known !== undefined) return known
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.Latest, true)
  const out: Load[] = []
  const literal = (node: ts.Node | undefined): string | undefined =>
    node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause
      const named = clause?.namedBindings
      // `import { type A, type B } from 'x'` is erased as `import type` is.
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)))
      out.push({ spec: literal(node.moduleSpecifier)!, kind: allTypes ? 'type' : 'value' })
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      out.push({ spec: literal(node.moduleSpecifier)!, kind: node.isTypeOnly ? 'type' : 'value' })
    } else if (ts.isCallExpression(node)) {
      const first = literal(node.arguments[0])
      const callee = node.expression
      if (first !== undefined) {
        if (callee.kind === ts.SyntaxKind.ImportKeyword) out.push({ spec: first, kind: 'lazy' })
        else if (ts.isIdentifier(callee) && callee.text === 'require') out.push({ spec: first, kind: 'lazy' })
        else if (ts.isIdentifier(callee) && (callee.text === 'loadPeer' || callee.text === 'requirePeer'))
          out.push({ spec: first, kind: 'peer' })
        // createRequire(import.meta.url)('x')
        else if (
          ts.isCallExpression(callee) &&
          ts.isIdentifier(callee.expression) &&
          callee.expression.text === 'createRequire'
        )
          out.push({ spec: first, kind: 'lazy' })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  parsed.set(file, out)
  return out
}

const parsed = new Map<string, Load[]>()

const builtins = new Set(builtinModules)

/** The package a bare specifier belongs to (`@aws-sdk/client-lambda`, `tsx` for `tsx/esm/api`); undefined for a local file or a Node built-in. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec.split('/')[0]!)) return undefined
  return spec
    .split('/')
    .slice(0, spec.startsWith('@') ? 2 : 1)
    .join('/')
}

/**
 * The repository files an entry point loads when it runs, itself included: every local file
 * reached by value, statically or lazily (`import type` loads nothing); with `atStart`, only
 * those its static imports load, before any of its code runs.
 */
function closure(entry: string, atStart = false): string[] {
  const seen = new Set<string>()
  const walk = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const { spec, kind } of loads(file)) {
      if (!spec.startsWith('.') || kind === 'type' || (atStart && kind === 'lazy')) continue
      walk(relative(root, join(root, file, '..', spec)).replace(/\.js$/, '.ts'))
    }
  }
  walk(entry)
  return [...seen].sort()
}

interface PackageJson {
  dependencies: Record<string, string>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
  exports: Record<string, string | { default: string }>
  bin: Record<string, string>
  devDependencies: Record<string, string>
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson

/** Every entry point an application can load, by name, with its source file: the exports, and the `stoa` command. */
function entryPoints(): [string, string][] {
  const fromDist = (path: string) => path.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')
  const out: [string, string][] = []
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue // ./package.json
    out.push([key === '.' ? 'stoa' : `stoa/${key.slice(2)}`, fromDist(target.default)])
  }
  for (const [name, target] of Object.entries(pkg.bin)) out.push([`${name} (command)`, fromDist(`./${target}`)])
  return out
}

/**
 * Packages a file loads lazily with its own `INVALID_PLUGIN` rather than through `loadPeer`,
 * on purpose: the Seneca bridge requires seneca only for a plugin that needs real Seneca, and
 * its message tells which plugin needs it and which major version to install.
 */
const OWN_LAZY_LOAD = new Set(['seneca'])

describe('architecture: third-party packages', () => {
  const optional = Object.keys(pkg.peerDependencies).filter((p) => pkg.peerDependenciesMeta[p]?.optional === true)

  it('keeps the root entry point and all it loads free of third-party packages but the schema spec', () => {
    const files = closure('actions/index.ts')
    expect(files).to.include('actions/kernel.ts')
    const found: string[] = []
    for (const file of files) {
      for (const { spec, kind } of loads(file)) {
        const name = packageOf(spec)
        if (name === undefined || name === '@standard-schema/spec') continue
        if (kind === 'lazy' && OWN_LAZY_LOAD.has(name)) continue
        found.push(`${file} -> ${spec} (${kind})`)
      }
    }
    expect(found).to.deep.equal([])
  })

  it('lets every entry point import by value only the dependencies, and load an optional peer only through loadPeer', () => {
    const entries = entryPoints()
    expect(entries.map(([name]) => name)).to.include.members(['stoa', 'stoa/memory', 'stoa/amqp', 'stoa (command)'])
    const failures = new Set<string>()
    for (const [, entry] of entries) {
      for (const file of closure(entry)) {
        for (const { spec, kind } of loads(file)) {
          const name = packageOf(spec)
          if (name === undefined || kind === 'type') continue
          if (kind === 'value' && name in pkg.dependencies) continue
          if (kind === 'peer' && optional.includes(name)) continue
          if (kind === 'lazy' && OWN_LAZY_LOAD.has(name)) continue
          failures.add(`${file} -> ${name}`)
        }
      }
    }
    expect(
      [...failures],
      'import these through loadPeer (import type for their types), or make them dependencies',
    ).to.deep.equal([])
  })

  it('declares every package loadPeer loads as an optional peer, and loads every optional peer somewhere', () => {
    const peers = new Set<string>(OWN_LAZY_LOAD)
    for (const file of [...sources('actions'), ...sources('plugins'), ...sources('transports'), ...sources('bin')])
      for (const { spec, kind } of loads(file)) if (kind === 'peer') peers.add(packageOf(spec)!)
    expect([...peers].sort()).to.deep.equal([...optional].sort())
    for (const name of optional) expect(pkg.devDependencies, `${name}, for our own tests`).to.have.property(name)
  })

  it('starts a Lambda handler with web routes without loading zod: the usual options are checked without it', () => {
    // Half of a cold start's files were zod's. The web plugin and lambdaHandler check their
    // usual options themselves and load their zod schemas only for the others (deferredSchema).
    const files = new Set([...closure('transports/lambda/index.ts', true), ...closure('plugins/web/index.ts', true)])
    expect(files).to.include('transports/lambda/handler.ts')
    const found = [...files].filter((file) => loads(file).some(({ spec, kind }) => spec === 'zod' && kind === 'value'))
    expect(found).to.deep.equal([])
  })

  it('starts `stoa act` of an in-process action without the Seneca engines, the transport kit, node:crypto or node:fs', () => {
    // A cold `stoa act` spent most of its time over `node -e 0` loading modules: these load on
    // first need (a Seneca plugin, a --url, a failure to print, a message id).
    const files = new Set([...closure('bin/stoa.ts', true), ...closure('bin/commands/act.ts', true)])
    expect(files).to.include.members(['actions/kernel.ts', 'actions/seneca/index.ts', 'bin/load.ts'])
    // (Sagas are imported: a required sibling cannot be found from the kernel's TypeScript source
    // under `stoa serve`, which registers tsx for ES modules only.)
    const deferred = [
      'actions/seneca/bridge.ts',
      'actions/seneca/delegate.ts',
      'actions/seneca/scan.ts',
      'actions/transport.ts',
      'bin/remote.ts',
    ]
    expect(
      [...files].filter((f) => deferred.includes(f) || f.startsWith('actions/http/')),
      'loaded at start',
    ).to.deep.equal([])
    // node:crypto loads a score of internal modules; node:fs, imported, builds a facade of a
    // hundred exports: both more than any kernel file. Fetched where used (getBuiltinModule).
    const heavy = new Set(['node:crypto', 'crypto', 'node:fs', 'fs'])
    const importers = [...files].filter((file) =>
      loads(file).some(({ spec, kind }) => heavy.has(spec) && kind === 'value'),
    )
    expect(importers, 'import node:crypto or node:fs').to.deep.equal([])
  })

  it('needs each dependency for an entry point that imports it', () => {
    // By value (zod, whose schemas every transport's and plugin's options are), or for the
    // types the published declarations name (the schema spec): either way an application
    // installing stoa alone must get it.
    const used = new Set<string>()
    for (const [, entry] of entryPoints())
      for (const file of closure(entry)) for (const { spec } of loads(file)) used.add(packageOf(spec) ?? '')
    for (const name of Object.keys(pkg.dependencies)) expect(used.has(name), `${name} is imported`).to.equal(true)
  })
})
