import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

/** Reading the `@example` blocks of the source tree's TSDoc, for test/tsdoc-examples.test.ts. */

const root = fileURLToPath(new URL('../..', import.meta.url))

/** An `@example` block: where it is and its code, the comment's ` * ` taken off each line. */
export interface TsdocExample {
  readonly file: string
  /** The line of the `@example` tag, 1-based. */
  readonly line: number
  readonly code: string
}

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name)
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path))
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

/** The `@example` blocks of one file's doc comments: each runs to the next tag or the comment's end. */
export function examplesIn(file: string, text: string): TsdocExample[] {
  const out: TsdocExample[] = []
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const first = text.slice(0, comment.index).split('\n').length
    let current: { line: number; lines: string[] } | undefined
    const flush = () => {
      if (current !== undefined) out.push({ file, line: current.line, code: current.lines.join('\n').trimEnd() })
      current = undefined
    }
    comment[0].split('\n').forEach((raw, i) => {
      const line = raw
        .replace(/^\s*\/\*\*\s?/, '')
        .replace(/\s*\*\/$/, '')
        .replace(/^\s*\* ?/, '')
      if (/^@example\b/.test(line)) {
        flush()
        current = { line: first + i, lines: [] }
        const rest = line.slice('@example'.length).trim()
        if (rest !== '') current.lines.push(rest)
      } else if (/^@\w+/.test(line)) flush()
      else if (!/^\s*```/.test(line)) current?.lines.push(line)
    })
    flush()
  }
  return out
}

/** The parser's complaints about an example, as `line:column message` (lines of the example). */
export function syntaxErrors(code: string): string[] {
  const { diagnostics = [] } = ts.transpileModule(code, {
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: 'example.ts',
  })
  return diagnostics.map((d) => {
    const at = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined
    const where = at === undefined ? '' : `${at.line + 1}:${at.character + 1} `
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
  })
}

/** The `@example` blocks of every TypeScript file under `dir` (a path from the repository root). */
export function examplesUnder(dir: string): TsdocExample[] {
  return sources(dir).flatMap((file) => examplesIn(file, readFileSync(join(root, file), 'utf8')))
}
