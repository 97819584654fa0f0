import type { Logger } from '../../actions/index.js'
import type { Args, Output } from '../io.js'

/** A string flag's value, or undefined when it was not given. */
export function stringFlag(args: Args, name: string): string | undefined {
  const v = args.values[name]
  return typeof v === 'string' ? v : undefined
}

/** Whether a boolean flag was given. */
export function boolFlag(args: Args, name: string): boolean {
  return args.values[name] === true
}

type Level = 'debug' | 'info' | 'warn' | 'error'
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/**
 * A logger writing one JSON line per entry to `out` (the command's stderr), at or above
 * `level`; errors with their stacks when `level` is debug.
 */
export function streamLogger(out: Output, level: Level | 'silent'): Logger {
  const min = level === 'silent' ? Infinity : rank[level]
  const at = (lvl: Level) => (fields: Record<string, unknown>, message: string) => {
    if (rank[lvl] < min) return
    const entry: Record<string, unknown> = { level: lvl, time: Date.now(), msg: message }
    for (const [k, v] of Object.entries(fields)) entry[k] = v instanceof Error ? describeError(v, min <= rank.debug) : v
    out.write(`${JSON.stringify(entry)}\n`)
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function describeError(err: Error, stack: boolean, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message }
  if ('code' in err) out.code = (err as { code: unknown }).code
  if (stack) out.stack = err.stack
  if (err.cause instanceof Error && depth < 8) out.cause = describeError(err.cause, stack, depth + 1)
  return out
}

/**
 * The logger for a one-shot command (act, list, routes). Its one line on stderr is the outcome;
 * the service's log, which would repeat a failure as a JSON entry, shows only with `--verbose`,
 * at debug level and with stacks.
 */
export function cliLogger(args: Args, stderr: Output): Logger {
  return streamLogger(stderr, boolFlag(args, 'verbose') ? 'debug' : 'silent')
}
