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

type Level = 'error' | 'warn' | 'info' | 'debug' | 'silent'
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

/**
 * A logger writing one JSON line per entry to stderr, at or above `level`. Errors are written
 * with their code and message; stacks only at `debug`.
 */
export function createLogger(level: Level = 'warn'): Logger {
  const min = rank[level]
  const write = (lvl: Exclude<Level, 'silent'>) => (fields: Record<string, unknown>, message: string) => {
    if (rank[lvl] < min) return
    const entry: Record<string, unknown> = { level: lvl, time: Date.now(), msg: message }
    for (const [k, v] of Object.entries(fields)) {
      entry[k] = v instanceof Error ? describe(v, min <= rank.debug) : v
    }
    process.stderr.write(JSON.stringify(entry) + '\n')
  }
  return { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug') }
}

function describe(err: Error, withStack: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message }
  if ('code' in err) out.code = (err as { code: unknown }).code
  if (withStack) out.stack = err.stack
  if (err.cause instanceof Error) out.cause = describe(err.cause, withStack)
  return out
}
