/**
 * The logging interface stoa writes to: a subset of pino's, so a pino logger can be passed
 * as it is. The first argument carries fields (`trace`, `pattern`, `err`), the second the text.
 */
export interface Logger {
  error(fields: Record<string, unknown>, message: string): void
  warn(fields: Record<string, unknown>, message: string): void
  info(fields: Record<string, unknown>, message: string): void
  debug(fields: Record<string, unknown>, message: string): void
}

/** A logging threshold; `silent` writes nothing. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'silent'
type Level = LogLevel
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/**
 * A logger writing one JSON line per entry to `write` (stderr by default), at or above
 * `level`. Errors are written with their code and message; stacks only at `debug`.
 *
 * @example
 * const log = createLogger('info', (line) => stream.write(line))
 */
export function createLogger(
  level: Level = 'warn',
  write: (line: string) => void = (line) => void process.stderr.write(line),
): Logger {
  const min = rank[level]
  const at = (lvl: Exclude<Level, 'silent'>) => (fields: Record<string, unknown>, message: string) => {
    if (rank[lvl] < min) return
    const entry: Record<string, unknown> = { level: lvl, time: Date.now(), msg: message }
    for (const [k, v] of Object.entries(fields)) {
      entry[k] = v instanceof Error ? describe(v, min <= rank.debug) : v
    }
    write(`${JSON.stringify(entry)}\n`)
  }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

function describe(err: Error, withStack: boolean, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message }
  if ('code' in err) out.code = (err as { code: unknown }).code
  if (withStack) out.stack = err.stack
  // Bounded: a cause chain can loop.
  if (err.cause instanceof Error && depth < 8) out.cause = describe(err.cause, withStack, depth + 1)
  return out
}
