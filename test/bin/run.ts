import { fileURLToPath } from 'node:url'
import type { Io } from '../../bin/io.js'
import { main } from '../../bin/main.js'

/** The repository's root: fixture paths in tests are relative to it, as a user's would be. */
export const root = fileURLToPath(new URL('../../', import.meta.url))

/** What one in-process run of the CLI printed and returned. */
export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Options of an in-process run. */
export interface RunOptions {
  readonly stdin?: string
  readonly env?: Record<string, string>
  readonly tty?: boolean
  /** Aborted to ask `serve` to stop. */
  readonly stop?: AbortSignal
  /** Called with each chunk written to stdout, as it is written. */
  readonly onStdout?: (text: string) => void
  /** Called with each chunk written to stderr, as it is written. */
  readonly onStderr?: (text: string) => void
}

/**
 * Runs the CLI in process with `argv`, in the repository's root, collecting what it prints.
 *
 * @example
 * const { code, stdout } = await run(['act', 'test/fixtures/cli-math/service.ts', 'role:math,cmd:sum', 'left=1', 'right=2'])
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const io: Io = {
    stdout: {
      isTTY: options.tty ?? false,
      write: (s: string) => {
        stdout += s
        options.onStdout?.(s)
      },
    },
    stderr: {
      write: (s: string) => {
        stderr += s
        options.onStderr?.(s)
      },
    },
    stdin: (async function* () {
      if (options.stdin !== undefined) yield options.stdin
    })(),
    env: options.env ?? {},
    cwd: root,
    stopSignal: () => options.stop ?? new AbortController().signal,
  }
  const code = await main(argv, io)
  return { code, stdout, stderr }
}
