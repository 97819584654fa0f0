import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join } from 'node:path'

/*
 * External programs some tests start (prometheus, nginx, chromium). `.ci/run` installs them;
 * a contributor's `npm test` may run without them. A test that needs one asks for it in its
 * `before` hook: when it is missing, the suite is skipped with a printed reason that names
 * the package to install (mocha counts the skipped tests as pending), rather than failing
 * with whatever error spawning a missing file gives (ENOENT, `done() called multiple times`).
 */

/** A program a test needs, where to look for it and what installs it. */
export interface Program {
  /** The command's name, looked up on PATH. */
  readonly command: string
  /** Absolute paths tried after PATH: Debian puts nginx in /usr/sbin, off a user's PATH. */
  readonly paths?: readonly string[]
  /** How to install it, for the message. */
  readonly install: string
}

/** The programs stoa's tests start, as Debian packages them. */
export const PROGRAMS = {
  prometheus: { command: 'prometheus', install: 'apt-get install prometheus' },
  // examples/vote/cluster.ts looks in the same two places.
  nginx: { command: 'nginx', paths: ['/usr/sbin/nginx', '/usr/bin/nginx'], install: 'apt-get install nginx' },
  chromium: { command: 'chromium', install: 'apt-get install chromium' },
} as const satisfies Record<string, Program>

/**
 * The path of an executable `command`: itself when it is a path, else the first match on
 * `searchPath` (PATH by default), then in `paths`. Undefined when none is an executable file.
 */
export function findProgram(
  program: Pick<Program, 'command' | 'paths'>,
  searchPath: string | undefined = process.env.PATH,
): string | undefined {
  const tries = isAbsolute(program.command)
    ? [program.command]
    : [
        ...(searchPath ?? '')
          .split(delimiter)
          .filter((d) => d !== '')
          .map((d) => join(d, program.command)),
      ]
  for (const p of [...tries, ...(program.paths ?? [])]) if (executable(p)) return p
  return undefined
}

/** The sentence printed when a program is missing: what is missing and how to install it. */
export function missingProgram(program: Program): string {
  const where = ['PATH', ...(program.paths ?? [])].join(', ')
  return `${program.command} is not installed (looked in ${where}): install it with \`${program.install}\` (.ci/run does)`
}

/** What {@link requireProgram} needs of a mocha hook's `this`. */
export interface Skippable {
  skip(): never
  readonly test?: { readonly parent?: { fullTitle(): string } }
}

/**
 * In a `before` hook: the path of `program`, or, when it is missing, prints why and skips the
 * suite (its tests are reported pending and counted so). `write` and `searchPath` are for the
 * helper's own test.
 *
 * @example
 * before(function () {
 *   nginx = requireProgram(this, PROGRAMS.nginx)
 * })
 */
export function requireProgram(
  hook: Skippable,
  program: Program,
  options: { searchPath?: string; write?: (line: string) => void } = {},
): string {
  const found = findProgram(program, 'searchPath' in options ? options.searchPath : process.env.PATH)
  if (found !== undefined) return found
  const suite = hook.test?.parent?.fullTitle()
  const write = options.write ?? ((line: string) => process.stdout.write(line))
  write(`  skipped${suite === undefined || suite === '' ? '' : ` "${suite}"`}: ${missingProgram(program)}\n`)
  return hook.skip()
}

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}
