import type { ChildProcess } from 'node:child_process'
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** One step of a guide: a file to write, or shell lines to run (with the JSON the last prints). */
export type GuideStep =
  | { readonly kind: 'file'; readonly path: string; readonly text: string }
  | { readonly kind: 'sh'; readonly lines: readonly string[]; expected?: unknown }

/**
 * The steps of a Markdown guide, in order: a `ts` or `json` block whose first line is
 * `// <path>` is a file; a `sh` block is commands, one a line; a `json` block without a path
 * right after a `sh` block is what its last command prints. Other blocks are illustrations.
 *
 * @example
 * const steps = guideSteps(readFileSync('docs/getting-started.md', 'utf8'))
 */
export function guideSteps(markdown: string): GuideStep[] {
  const steps: GuideStep[] = []
  for (const m of markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    const [, lang, body] = m as unknown as [string, string, string]
    const path = /^\/\/ (\S+)\n/.exec(body)
    const last = steps.at(-1)
    if ((lang === 'ts' || lang === 'json') && path !== null) steps.push({ kind: 'file', path: path[1]!, text: body })
    else if (lang === 'sh')
      steps.push({ kind: 'sh', lines: body.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')) })
    else if (lang === 'json' && last?.kind === 'sh' && last.expected === undefined) last.expected = JSON.parse(body)
  }
  return steps
}

/** A long-running command a guide started (`npx stoa serve …`). */
export interface Started {
  readonly line: string
  readonly child: ChildProcess
  stdout: string
  stderr: string
}

/** How {@link runGuide} runs the commands: each line rewritten first, in `dir`, with `env`. */
export interface GuideRun {
  readonly dir: string
  readonly env: NodeJS.ProcessEnv
  readonly rewrite: (line: string) => string
  /** Where the long-running commands it started are kept, for the caller to stop. */
  readonly started: Started[]
}

/**
 * Runs a guide's steps: files are written under `dir`; a command line is run with `sh` and
 * must exit 0 (and print the expected JSON, when the guide shows it); `npx stoa serve` lines
 * are started in the background and awaited until they print `listening on`.
 */
export async function runGuide(steps: readonly GuideStep[], run: GuideRun): Promise<void> {
  for (const step of steps) {
    if (step.kind === 'file') {
      const file = join(run.dir, step.path)
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, step.text)
      continue
    }
    let out = ''
    for (const original of step.lines) {
      const line = run.rewrite(original)
      if (/^npx stoa serve /.test(original)) {
        run.started.push(await background(line, run))
        continue
      }
      const r = spawnSync('sh', ['-c', line], { cwd: run.dir, env: run.env, encoding: 'utf8', timeout: 120_000 })
      if (r.status !== 0)
        throw new Error(`"${original}" exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`)
      out = r.stdout
    }
    if (step.expected !== undefined) {
      let got: unknown
      try {
        got = JSON.parse(out)
      } catch {
        throw new Error(`"${step.lines.at(-1)}" printed no JSON: ${out}`)
      }
      if (JSON.stringify(got) !== JSON.stringify(step.expected))
        throw new Error(
          `"${step.lines.at(-1)}" printed ${JSON.stringify(got)}, the guide shows ${JSON.stringify(step.expected)}`,
        )
    }
  }
}

function background(line: string, run: GuideRun): Promise<Started> {
  // exec, and the installed bin rather than npx: the shell becomes the service, so its pid is
  // the service's and SIGTERM reaches it.
  const command = line.replace(/^npx stoa /, 'node_modules/.bin/stoa ')
  const child = spawn('sh', ['-c', `exec ${command}`], {
    cwd: run.dir,
    env: run.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const started: Started = { line, child, stdout: '', stderr: '' }
  child.stdout!.on('data', (d: Buffer) => (started.stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (started.stderr += d.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`"${line}" did not listen within 30 s:\n${started.stderr}`)),
      30_000,
    )
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`"${line}" exited with ${code}:\n${started.stdout}\n${started.stderr}`))
    }
    child.once('exit', onExit)
    child.stdout!.on('data', () => {
      if (!started.stdout.includes(' listening on ')) return
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve(started)
    })
  })
}
