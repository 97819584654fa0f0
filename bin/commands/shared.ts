import { resolve } from 'node:path'
import type { Logger, LogLevel } from '../../actions/index.js'
import { createLogger, StoaError } from '../../actions/index.js'
import type { Args, Io, Output } from '../io.js'

/** A string flag's value, or undefined when it was not given. */
export function stringFlag(args: Args, name: string): string | undefined {
  const v = args.values[name]
  return typeof v === 'string' ? v : undefined
}

/** Whether a boolean flag was given. */
export function boolFlag(args: Args, name: string): boolean {
  return args.values[name] === true
}

/** A logger writing one JSON line per entry to `out`, the command's stderr. */
export function streamLogger(out: Output, level: LogLevel): Logger {
  return createLogger(level, (line) => void out.write(line))
}

/**
 * The logger for a one-shot command (act, list, routes). Its one line on stderr is the outcome;
 * the service's log, which would repeat a failure as a JSON entry, shows only with `--verbose`,
 * at debug level and with stacks.
 */
export function cliLogger(args: Args, stderr: Output): Logger {
  return streamLogger(stderr, boolFlag(args, 'verbose') ? 'debug' : 'silent')
}

/**
 * Where a service's settings come from: the environment, over the `KEY=value` lines of the
 * `--env-file` given (the environment wins, as with Docker's `--env-file` beside `-e`). A file
 * that cannot be read is `INVALID_CONFIG` naming it.
 */
export async function settingsSource(args: Args, io: Io): Promise<Readonly<Record<string, string | undefined>>> {
  const file = stringFlag(args, 'env-file')
  if (file === undefined) return io.env
  let text: string
  try {
    text = await process.getBuiltinModule('node:fs/promises').readFile(resolve(io.cwd, file), 'utf8')
  } catch (err) {
    throw new StoaError(
      'INVALID_CONFIG',
      `--env-file: cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      { file },
    )
  }
  return { ...process.getBuiltinModule('node:util').parseEnv(text), ...io.env }
}
