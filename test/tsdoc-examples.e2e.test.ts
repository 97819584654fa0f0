import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import ts from 'typescript'
import type { TsdocExample } from './helpers/tsdoc-examples.js'
import { examplesUnder } from './helpers/tsdoc-examples.js'

/*
 * Type-checks every `@example` of the kernel, the plugins and the transports against the
 * built declarations (dist/, which `npm run test:e2e` builds first), in one program where each
 * example is a module of its own. An example may use, without importing them, the exports of
 * stoa's public entry points and of its own file, and the names of GIVEN: the things an
 * example speaks of without making them (a `stoa` instance, a `pool`, a `jwtSecret`).
 */

const root = fileURLToPath(new URL('..', import.meta.url))
/** Where the examples' modules live: inside the package, so `import ... from 'stoa'` resolves to dist/. */
const dir = join(root, '__tsdoc__')

/** The names examples take as given, declared once as globals (a module's own `const stoa` shadows them). */
const GIVEN = `
declare const stoa: import('stoa').Stoa<any>
declare const gateway: import('stoa').Stoa<any>
declare const ctx: import('stoa').Context
declare const math: import('stoa').Plugin<any>
declare const tally: import('stoa').Plugin<any>
declare const token: string
declare const z: typeof import('zod').z
declare const jwtSecret: string
declare const systemSecret: string
declare const graceMs: number
declare const input: unknown
declare const headers: Record<string, string>
declare const log: import('stoa').Logger
declare const stream: { write(line: string): void }
declare const pool: { query(sql: string): Promise<unknown> }
declare const votes: { insert(msg: import('stoa').Message): Promise<{ id: string }> }
declare const inflight: Set<Promise<unknown>>
declare const waiting: Map<string, { until: number; expire(): void }>
declare const getMove: import('stoa').Action<import('stoa').Message, unknown>
declare const count: import('stoa').Action<import('stoa').Message, unknown>
/** A failed reply. */
declare const reply: { ok: false; error: import('stoa').StoaErrorJSON }
declare const httpOptions: import('stoa').Schema
declare const route: import('stoa/web').ServedRoute
declare const probeRoute: import('stoa/web').ServedRoute
declare const routes: readonly import('stoa/web').ServedRoute[]
declare const handler: import('node:http').RequestListener
declare const createServer: typeof import('node:http').createServer
declare const req: import('node:http').IncomingMessage
declare const res: import('node:http').ServerResponse
declare const server: import('node:http').Server
declare const url: string
declare const path: string
declare const size: number
declare const maxBodyBytes: number
declare const options: { timeoutMs?: number }
declare const before: import('stoa').NodeMiddleware[]
declare const dispatch: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void
declare const failed: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, err: unknown) => void
declare const express: typeof import('express')
declare const app: import('express').Express
declare const h: import('stoa/testing').Harness
declare const fc: typeof import('fast-check')
declare function fetchSomething(): Promise<unknown>
declare function idle(): void
/** A call in flight, linked as actions/inflight.ts links its entries. */
interface Call {
  prev: Call | undefined
  next: Call | undefined
  linked: boolean
}
declare const call: Call
`

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noUncheckedIndexedAccess: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
}

/** The names a declaration file exports, read by the parser alone (no checker: cheap). */
function exportedNames(dts: string): string[] {
  const sf = ts.createSourceFile(dts, readFileSync(dts, 'utf8'), ts.ScriptTarget.ES2022, true)
  const names = new Set<string>()
  for (const st of sf.statements) {
    if (ts.isExportDeclaration(st) && st.exportClause !== undefined && ts.isNamedExports(st.exportClause)) {
      for (const e of st.exportClause.elements) names.add(e.name.text)
    } else if (ts.isExportAssignment(st)) names.add('default')
    else if (ts.canHaveModifiers(st) && ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) names.add(d.name.text)
      } else {
        const name = (st as ts.DeclarationStatement).name
        if (name !== undefined && ts.isIdentifier(name)) names.add(name.text)
      }
      if (ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) names.add('default')
    }
  }
  return [...names]
}

/** Local name -> import line, for every export of the package's public entry points. */
function publicImports(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { types: string }>
  }
  const out = new Map<string, string>()
  for (const [key, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue
    const spec = key === '.' ? 'stoa' : `stoa/${key.slice(2)}`
    for (const name of exportedNames(join(root, target.types))) {
      // A plugin's default export goes by its entry point's name: `import jwt from 'stoa/jwt'`.
      const local = name === 'default' ? spec.slice('stoa/'.length) : name
      if (local !== '' && !out.has(local))
        out.set(local, name === 'default' ? `import ${local} from '${spec}'` : `import { ${name} } from '${spec}'`)
    }
  }
  return out
}

/** The example as a module: imports for the names it uses and does not import itself, then its code. */
function moduleOf(e: TsdocExample, index: number, imports: Map<string, string>): string {
  const sf = ts.createSourceFile(`${index}.ts`, e.code, ts.ScriptTarget.ES2022, true)
  const used = new Set<string>()
  const own = new Set<string>()
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) used.add(n.text)
    if (ts.isImportDeclaration(n) && n.importClause !== undefined) {
      const names = (c: ts.Node): void => {
        if (ts.isIdentifier(c)) own.add(c.text)
        ts.forEachChild(c, names)
      }
      names(n.importClause)
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  const lines: string[] = []
  const dts = join(root, 'dist', e.file.replace(/\.ts$/, '.d.ts'))
  const fromFile = existsSync(dts)
    ? exportedNames(dts).filter((n) => n !== 'default' && used.has(n) && !own.has(n))
    : []
  if (fromFile.length > 0)
    lines.push(`import { ${fromFile.join(', ')} } from '../dist/${e.file.replace(/\.ts$/, '.js')}'`)
  for (const name of used) {
    const line = imports.get(name)
    if (line !== undefined && !own.has(name) && !fromFile.includes(name)) lines.push(line)
  }
  // An example that ends in `return` shows the body of an action or a handler: check it as one.
  const body = sf.statements.some((st) => ts.isReturnStatement(st))
  const code = body ? `export async function example(): Promise<unknown> {\n${e.code}\n}` : e.code
  // The preamble takes as many lines as it has; the example's own lines follow it.
  return `${lines.join('\n')}\nexport {}\n${code}\n`
}

describe('TSDoc @example blocks type-check against the built declarations', function () {
  this.timeout(120_000)

  it('compiles every @example of actions/, plugins/ and transports/', function () {
    if (!existsSync(join(root, 'dist/actions/index.d.ts'))) throw new Error('run `npm run build` first')
    const imports = publicImports()
    const examples = ['actions', 'plugins', 'transports'].flatMap((d) => examplesUnder(d))
    const files = new Map<string, { text: string; example?: TsdocExample; offset: number }>()
    files.set(join(dir, 'given.d.ts'), { text: GIVEN, offset: 0 })
    // The service module of lambdaHandler's example ("import service from './service.js'").
    files.set(join(dir, 'service.ts'), {
      text: "declare const service: import('stoa').Service\nexport default service\n",
      offset: 0,
    })
    examples.forEach((e, i) => {
      const text = moduleOf(e, i, imports)
      const offset = text.indexOf(e.code) === -1 ? 0 : text.slice(0, text.indexOf(e.code)).split('\n').length - 1
      files.set(join(dir, `example-${i}.ts`), { text, example: e, offset })
    })
    const host = ts.createCompilerHost(options)
    const getSourceFile = host.getSourceFile.bind(host)
    const fileExists = host.fileExists.bind(host)
    const readFile = host.readFile.bind(host)
    host.getSourceFile = (name, version, ...rest) => {
      const f = files.get(name)
      return f !== undefined ? ts.createSourceFile(name, f.text, version, true) : getSourceFile(name, version, ...rest)
    }
    host.fileExists = (name) => files.has(name) || fileExists(name)
    const directoryExists = host.directoryExists?.bind(host)
    host.directoryExists = (name) => name === dir || (directoryExists?.(name) ?? true)
    host.readFile = (name) => files.get(name)?.text ?? readFile(name)
    const program = ts.createProgram([...files.keys()], options, host)
    const bad: string[] = []
    for (const [name, f] of files) {
      if (f.example === undefined) continue
      const sf = program.getSourceFile(name)!
      for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
        const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line - f.offset
        // The code starts on the line after its `@example` tag.
        const at = line >= 0 ? f.example.line + 1 + line : f.example.line
        bad.push(`${f.example.file}:${at}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)
      }
    }
    for (const [name, f] of files) {
      if (f.example !== undefined) continue
      const sf = program.getSourceFile(name)!
      for (const d of program.getSemanticDiagnostics(sf))
        bad.push(`${name}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)
    }
    expect(examples.length).to.be.greaterThan(50)
    expect(bad, bad.join('\n')).to.deep.equal([])
  })
})
