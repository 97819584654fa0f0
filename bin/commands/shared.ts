import type { Logger, LogLevel } from '../../actions/index.js'
import { createLogger } from '../../actions/index.js'
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
